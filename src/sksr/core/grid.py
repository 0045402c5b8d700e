"""Uniform real-space grid with hard walls.

Points ``x_i = (i - (G - 1)/2) h`` for ``i = 0..G-1``; the centre point is ``x = 0``. Integrals are plain
sums, ``integral f dx = h * sum_i f_i``. Wavefunctions vanish just outside the grid.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def _is_power_of_two(value: int) -> bool:
    return value > 0 and (value & (value - 1)) == 0


@dataclasses.dataclass(frozen=True)
class Grid:
    """A uniform 1D grid.

    Attributes:
      num_points: G, number of grid points; ``G - 1`` must be a power of two (the multi-scale global
        network halves the grid) and ``G >= 5`` (the 5-point stencil).
      spacing: h, distance between neighbouring points in bohr.
    """

    num_points: int
    spacing: float

    def __post_init__(self):
        if isinstance(self.num_points, bool) or not isinstance(self.num_points, (int, np.integer)):
            raise ValueError(f"grid.num_points must be an integer, got {self.num_points!r}")
        if self.num_points < 5:
            raise ValueError(
                f"grid.num_points must be at least 5 for the 5-point kinetic stencil, got {self.num_points}"
            )
        if not _is_power_of_two(int(self.num_points) - 1):
            raise ValueError(
                f"grid.num_points - 1 must be a power of two (e.g. 65, 129, 513), got {self.num_points}"
            )
        if not isinstance(self.spacing, (int, float, np.floating)) or not np.isfinite(self.spacing):
            raise ValueError(f"grid.spacing must be a finite number, got {self.spacing!r}")
        if self.spacing <= 0:
            raise ValueError(f"grid.spacing must be positive (bohr), got {self.spacing}")
        object.__setattr__(self, "num_points", int(self.num_points))
        object.__setattr__(self, "spacing", float(self.spacing))

    @property
    def coordinates(self) -> np.ndarray:
        """Grid points x_i, shape (G,), bohr."""
        centre = (self.num_points - 1) // 2
        return (np.arange(self.num_points) - centre) * self.spacing

    @property
    def half_extent(self) -> float:
        """Largest |x| on the grid, bohr."""
        return (self.num_points - 1) // 2 * self.spacing

    def index_of(self, position: float, what: str = "position") -> int:
        """Index of the grid point at ``position`` (bohr); refuses points off or outside the grid."""
        position = float(position)
        if abs(position) > self.half_extent + 1e-9 * self.spacing:
            raise ValueError(
                f"{what} = {position} bohr lies outside the grid [-{self.half_extent}, {self.half_extent}]"
            )
        offset = position / self.spacing + (self.num_points - 1) // 2
        index = int(round(offset))
        if abs(offset - index) > 1e-6:
            raise ValueError(
                f"{what} = {position} bohr is not on a grid point (spacing {self.spacing}); "
                f"nearest points are {self.coordinates[int(np.floor(offset))]:.6g} and "
                f"{self.coordinates[min(int(np.floor(offset)) + 1, self.num_points - 1)]:.6g}"
            )
        return index

    def integrate(self, values: np.ndarray, axis: int = -1):
        """``h * sum_i f_i`` along ``axis``."""
        return self.spacing * np.sum(values, axis=axis)

    def to_dict(self) -> dict:
        return {"num_points": self.num_points, "spacing": self.spacing}

    @classmethod
    def from_dict(cls, data: dict) -> "Grid":
        unknown = set(data) - {"num_points", "spacing"}
        if unknown:
            raise ValueError(f"grid: unknown keys {sorted(unknown)} (expected num_points, spacing)")
        missing = {"num_points", "spacing"} - set(data)
        if missing:
            raise ValueError(f"grid: missing keys {sorted(missing)}")
        return cls(num_points=data["num_points"], spacing=data["spacing"])


PAPER_GRID = Grid(num_points=513, spacing=0.08)
