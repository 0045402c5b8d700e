"""Kohn-Sham predictions of a functional for a set of systems (the arrays of a predictions file).

The file layout is documented in ``sksr.evaluation``, which reads and writes it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sksr.grid import Grid
from sksr.scf import prepare_batch, run_scf
from sksr.systems import System


def predict(systems: Sequence[System], grid: Grid, xc, num_iterations: int) -> dict:
    """Run K Kohn-Sham iterations for ``systems`` with functional ``xc`` (one batched call).

    Returns the arrays of a predictions file (layout in ``sksr.evaluation``).
    """
    trajectory = run_scf(prepare_batch(list(systems), grid), xc, num_iterations)
    return {
        "names": np.array([s.name for s in systems]),
        "n_electrons": np.array([s.n_electrons for s in systems]),
        "energies": np.asarray(trajectory.total_energy, dtype=np.float64),
        "densities": np.asarray(trajectory.density[:, -1], dtype=np.float64),
        "spacing": np.float64(grid.spacing),
    }
