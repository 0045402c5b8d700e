"""Dissociation curves of the original KSR study (Li et al. 2021; docs/physics.md section 11).

The study puts every nucleus on a grid point. A geometry is a chain of nuclei with whole numbers of grid
steps between neighbours; with ``M`` steps from the first nucleus to the last:

- even ``M``: the chain is centred, from ``-M h / 2`` to ``+M h / 2`` (mirror symmetric about x = 0);
- odd ``M``: it runs from ``-(M - 1) h / 2`` to ``+(M + 1) h / 2`` (centre half a step right of x = 0).

For H2 (``M = m = R / h``) the training geometries (R = 1.28, 3.84 bohr on h = 0.08) have even ``m``; the
validation and test separations (R = 0.40, 0.56, ..., 6.00) have odd ``m``.

Curves (the coordinate ``R`` of each, in bohr):

- ``H2`` (N = 2), ``H2+`` (N = 1): the bond length R;
- ``H4`` (N = 4): an equally spaced chain of four protons, neighbour distance R;
- ``H2-H2`` (N = 4): two H2 of fixed bond 1.52 bohr, end to end, R is the gap between the inner protons.

System names carry the coordinate with two decimals, ``"H2-R1.28"``, ``"H2-H2-R0.16"``, and contain no
spaces or slashes, so they serve as file names in the workflow.
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


def chain_positions(steps: list[int], spacing: float) -> tuple[float, ...]:
    """Positions (bohr) of nuclei ``steps[i]`` grid steps apart, placed by the rule of the module docstring.

    ``steps`` has one entry per neighbour pair (length = number of nuclei - 1), each >= 1.
    """
    if not steps or min(steps) < 1:
        raise ValueError(f"a chain needs one or more positive neighbour distances in grid steps, got {steps}")
    first = -(sum(steps) // 2)  # -M/2 for even M, -(M - 1)/2 for odd M
    offsets = np.concatenate([[0], np.cumsum(steps)]) + first
    return tuple(float(k) * spacing for k in offsets)


def diatomic_positions(separation: float, spacing: float) -> tuple[float, float]:
    """Positions (bohr) of two nuclei ``R`` apart on the grid, by the rule of the module docstring."""
    return chain_positions([grid_steps(separation, spacing)], spacing)


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


H2_H2_BOND = 1.52
"""Bond length (bohr) of each H2 of the H2-H2 curve (docs/physics.md section 11)."""


def hydrogen_chain(molecule: str, separation: float, spacing: float) -> System:
    """One geometry of the four-proton curves: ``"H4"`` (spacing R) or ``"H2-H2"`` (gap R), singlet N = 4."""
    m = grid_steps(separation, spacing)
    if molecule == "H4":
        steps = [m, m, m]
    elif molecule == "H2-H2":
        bond = grid_steps(H2_H2_BOND, spacing)
        steps = [bond, m, bond]
    else:
        raise ValueError(f"unknown four-proton curve {molecule!r}; known: H4, H2-H2")
    return System(
        name=curve_name(molecule, separation),
        nuclear_charges=(1, 1, 1, 1),
        nuclear_positions=chain_positions(steps, spacing),
        n_electrons=4,
        n_unpaired=0,
    )


CURVE_ELECTRONS = {"H2": 2, "H2+": 1, "H4": 4, "H2-H2": 4}
"""Molecules a curve can be made of (config ``curves``), with their electron counts."""


def curve_system(molecule: str, separation: float, spacing: float) -> System:
    """The system of ``molecule``'s curve at coordinate ``R`` (bohr) on a grid of spacing ``h``."""
    if molecule not in CURVE_ELECTRONS:
        raise ValueError(f"unknown curve molecule {molecule!r}; known: {sorted(CURVE_ELECTRONS)}")
    if CURVE_ELECTRONS[molecule] <= 2:
        return hydrogen_molecule(separation, spacing, CURVE_ELECTRONS[molecule])
    return hydrogen_chain(molecule, separation, spacing)


def curve_geometries(
    molecule: str, first: float, last: float, step: float, spacing: float
) -> list[tuple[float, System]]:
    """``[(R, system), ...]`` of one dissociation curve, R = first .. last (bohr) in steps of ``step``."""
    return [(float(r), curve_system(molecule, float(r), spacing)) for r in separations(first, last, step)]


def curve_members(curves: dict, spacing: float) -> dict[str, list[tuple[float, str]]]:
    """``{molecule: [(R, system name), ...]}`` of config ``curves`` (``{molecule: {first, last, step}}``)."""
    return {
        molecule: [
            (r, system.name)
            for r, system in curve_geometries(molecule, spec["first"], spec["last"], spec["step"], spacing)
        ]
        for molecule, spec in curves.items()
    }
