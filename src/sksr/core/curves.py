"""Dissociation curves of the original KSR study (Li et al. 2021; docs/physics.md section 11).

The study places both nuclei of a diatomic on grid points. With ``m = R / h`` grid steps between them:

- even ``m``: the nuclei sit at ``-R/2`` and ``+R/2`` (the molecule is centred, mirror symmetric);
- odd ``m``: they sit at ``-(m - 1) h / 2`` and ``+(m + 1) h / 2`` (centre half a step right of x = 0).

Training geometries (R = 1.28, 3.84 bohr on h = 0.08) have even ``m``; the 32 test separations
``R = 0.40 + 0.16 j`` have odd ``m``, so they are never mirror symmetric on the grid.

System names carry the separation with two decimals, ``"H2-R1.28"``, and contain no spaces or slashes, so
they serve as file names in the workflow.
"""

from __future__ import annotations

import numpy as np

from sksr.core.systems import System

ON_GRID_TOLERANCE = 1e-9  # bohr: how far R may lie from a whole number of grid steps


def grid_steps(separation: float, spacing: float) -> int:
    """``m = R / h`` as an integer (ValueError naming R if R is not a whole number of steps, or m < 1)."""
    steps = int(round(separation / spacing))
    if steps < 1 or abs(steps * spacing - separation) > ON_GRID_TOLERANCE:
        raise ValueError(f"separation R = {separation!r} bohr is not a positive whole number of grid steps h = {spacing}")
    return steps


def diatomic_positions(separation: float, spacing: float) -> tuple[float, float]:
    """Positions (bohr) of two nuclei ``R`` apart on the grid, by the rule of the module docstring."""
    m = grid_steps(separation, spacing)
    if m % 2 == 0:
        return (-m // 2 * spacing, m // 2 * spacing)
    return (-(m - 1) // 2 * spacing, (m + 1) // 2 * spacing)


def is_centred(system: System) -> bool:
    """True when the nuclei are mirror symmetric about x = 0 (charges and positions)."""
    pairs = sorted(zip(system.nuclear_positions, system.nuclear_charges))
    mirrored = sorted((-x, z) for x, z in pairs)
    return all(abs(a[0] - b[0]) < ON_GRID_TOLERANCE and a[1] == b[1] for a, b in zip(pairs, mirrored))


def curve_name(molecule: str, separation: float) -> str:
    """``"H2-R1.28"``: the system name of one geometry of a curve."""
    return f"{molecule}-R{separation:.2f}"


def hydrogen_molecule(separation: float, spacing: float, n_electrons: int = 2) -> System:
    """H2 (N = 2, singlet) or H2+ (``n_electrons=1``) with the nuclei ``R`` apart on the grid."""
    if n_electrons not in (1, 2):
        raise ValueError(f"a hydrogen molecule has 1 (H2+) or 2 (H2) electrons, got {n_electrons}")
    molecule = "H2" if n_electrons == 2 else "H2+"
    return System(
        name=curve_name(molecule, separation),
        nuclear_charges=(1, 1),
        nuclear_positions=diatomic_positions(separation, spacing),
        n_electrons=n_electrons,
        n_unpaired=n_electrons % 2,
    )


def separations(start: float, stop: float, step: float) -> np.ndarray:
    """``start, start + step, ..., stop`` (inclusive), rounded to 1e-10 bohr, shape (n,)."""
    count = int(round((stop - start) / step)) + 1
    if count < 1 or abs(start + (count - 1) * step - stop) > ON_GRID_TOLERANCE:
        raise ValueError(f"stop {stop} is not start {start} plus a whole number of steps {step}")
    return np.round(start + step * np.arange(count), 10)


CURVE_ELECTRONS = {"H2": 2, "H2+": 1}
"""Molecules a curve can be made of (config ``curves``), with their electron counts."""


def curve_geometries(molecule: str, first: float, last: float, step: float, spacing: float) -> list[System]:
    """The systems of one dissociation curve, R = first .. last (bohr) in steps of ``step``, shortest first."""
    if molecule not in CURVE_ELECTRONS:
        raise ValueError(f"unknown curve molecule {molecule!r}; known: {sorted(CURVE_ELECTRONS)}")
    return [
        hydrogen_molecule(float(r), spacing, CURVE_ELECTRONS[molecule]) for r in separations(first, last, step)
    ]


def curve_members(curves: dict, spacing: float) -> dict[str, list[tuple[float, str]]]:
    """``{molecule: [(R, system name), ...]}`` of config ``curves`` (``{molecule: {first, last, step}}``)."""
    members = {}
    for molecule, spec in curves.items():
        systems = curve_geometries(molecule, spec["first"], spec["last"], spec["step"], spacing)
        members[molecule] = [(float(np.ptp(s.nuclear_positions)), s.name) for s in systems]
    return members
