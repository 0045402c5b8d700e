"""Atoms, ions and molecules of the 1D model.

A system is nuclear charges ``Z_a`` at positions ``X_a`` (bohr) with ``N`` electrons, ``N_unp`` of them
unpaired. Unpaired electrons are spin up: ``N_dn = (N - N_unp) // 2``, ``N_up = N_dn + N_unp``.
Systems with ``N_unp = 0`` are treated spin-restricted, all others spin-unrestricted.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Sequence

import numpy as np

from sksr.core.grid import Grid

PROTON = "p"
"""Name of a bare proton in atomization fragments (no electrons, energy 0 by definition)."""


def _as_count(value, field: str, name: str) -> int:
    """Validate a non-negative integer count (rejects bools, floats with fractions, negatives)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"system {name!r}: {field} must be an integer, got {value!r}")
    if not float(value).is_integer():
        raise ValueError(f"system {name!r}: {field} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"system {name!r}: {field} must be non-negative, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class System:
    """One atom, ion or molecule.

    Attributes:
      name: label used in file names and tables (e.g. ``"He"``, ``"LiH"``).
      nuclear_charges: Z_a, tuple of positive numbers, shape (n_nuclei,).
      nuclear_positions: X_a in bohr, tuple, shape (n_nuclei,).
      n_electrons: N, total number of electrons (>= 1).
      n_unpaired: N_unp = N_up - N_dn (>= 0, same parity as N).
    """

    name: str
    nuclear_charges: tuple
    nuclear_positions: tuple
    n_electrons: int
    n_unpaired: int

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"system name must be a non-empty string, got {self.name!r}")
        name = self.name
        if any(c in name for c in "/\\ \t\n"):
            raise ValueError(f"system name {name!r} must not contain slashes or whitespace")
        charges = tuple(self.nuclear_charges) if _is_sequence(self.nuclear_charges) else None
        positions = tuple(self.nuclear_positions) if _is_sequence(self.nuclear_positions) else None
        if charges is None:
            raise ValueError(f"system {name!r}: nuclear_charges must be a list, got {self.nuclear_charges!r}")
        if positions is None:
            raise ValueError(
                f"system {name!r}: nuclear_positions must be a list, got {self.nuclear_positions!r}"
            )
        if len(charges) == 0:
            raise ValueError(f"system {name!r}: empty system, nuclear_charges has no nucleus")
        if len(charges) != len(positions):
            raise ValueError(
                f"system {name!r}: nuclear_charges has {len(charges)} entries but nuclear_positions "
                f"has {len(positions)}"
            )
        for z in charges:
            if isinstance(z, bool) or not isinstance(z, numbers.Real) or not np.isfinite(z) or z <= 0:
                raise ValueError(f"system {name!r}: nuclear_charges must be positive numbers, got {z!r}")
        for x in positions:
            if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x):
                raise ValueError(f"system {name!r}: nuclear_positions must be finite numbers, got {x!r}")
        if len(set(float(x) for x in positions)) != len(positions):
            raise ValueError(f"system {name!r}: two nuclei share a position in nuclear_positions")
        n_electrons = _as_count(self.n_electrons, "n_electrons", name)
        n_unpaired = _as_count(self.n_unpaired, "n_unpaired", name)
        if n_electrons == 0:
            raise ValueError(
                f"system {name!r}: empty system, n_electrons is 0 (a bare nucleus has energy 0 by definition)"
            )
        if n_unpaired > n_electrons:
            raise ValueError(
                f"system {name!r}: n_unpaired = {n_unpaired} exceeds n_electrons = {n_electrons}"
            )
        if (n_electrons - n_unpaired) % 2:
            raise ValueError(
                f"system {name!r}: n_unpaired = {n_unpaired} has the wrong parity for "
                f"n_electrons = {n_electrons} (N - N_unp must be even)"
            )
        object.__setattr__(self, "nuclear_charges", tuple(float(z) for z in charges))
        object.__setattr__(self, "nuclear_positions", tuple(float(x) for x in positions))
        object.__setattr__(self, "n_electrons", n_electrons)
        object.__setattr__(self, "n_unpaired", n_unpaired)

    @property
    def n_down(self) -> int:
        """N_dn, number of spin-down electrons."""
        return (self.n_electrons - self.n_unpaired) // 2

    @property
    def n_up(self) -> int:
        """N_up = N_dn + N_unp, number of spin-up electrons."""
        return self.n_down + self.n_unpaired

    @property
    def is_restricted(self) -> bool:
        """True when the system is treated spin-restricted (N_unp = 0)."""
        return self.n_unpaired == 0

    @property
    def spin_z(self) -> float:
        """S_z = N_unp / 2."""
        return self.n_unpaired / 2

    def check_on_grid(self, grid: Grid) -> None:
        """Raise ValueError unless every nucleus sits on a grid point and the grid holds the electrons."""
        for a, x in enumerate(self.nuclear_positions):
            grid.index_of(x, what=f"system {self.name!r}: nuclear_positions[{a}]")
        if self.n_up > grid.num_points:
            raise ValueError(
                f"system {self.name!r}: grid too small for the electrons: {self.n_up} spin-up electrons "
                f"need {self.n_up} orbitals but grid.num_points = {grid.num_points}"
            )

    def nuclear_indices(self, grid: Grid) -> np.ndarray:
        """Grid indices of the nuclei, shape (n_nuclei,)."""
        self.check_on_grid(grid)
        return np.array(
            [grid.index_of(x, what=f"system {self.name!r}: nucleus") for x in self.nuclear_positions]
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "nuclear_charges": list(self.nuclear_charges),
            "nuclear_positions": list(self.nuclear_positions),
            "n_electrons": self.n_electrons,
            "n_unpaired": self.n_unpaired,
        }

    @classmethod
    def from_dict(cls, data: dict, name: str | None = None) -> "System":
        """Build from a config mapping; ``name`` overrides/provides the name (config keys by name)."""
        data = dict(data)
        if name is not None:
            data.setdefault("name", name)
        label = data.get("name", "<unnamed>")
        allowed = {"name", "nuclear_charges", "nuclear_positions", "n_electrons", "n_unpaired"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"system {label!r}: unknown keys {sorted(unknown)}")
        missing = allowed - set(data)
        if missing:
            raise ValueError(f"system {label!r}: missing keys {sorted(missing)}")
        return cls(**data)


def _is_sequence(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) or isinstance(value, np.ndarray)


def check_systems_on_grid(systems: Sequence[System], grid: Grid) -> None:
    """Validate a collection of systems against a grid; names must be unique."""
    names = [s.name for s in systems]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"system names must be unique, repeated: {duplicates}")
    for system in systems:
        system.check_on_grid(grid)
