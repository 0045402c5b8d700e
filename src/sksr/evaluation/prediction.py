"""Kohn-Sham predictions of a functional for a set of systems (the arrays of a predictions file).

The file layout is documented in ``sksr.evaluation.prediction_files``, which reads and writes it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.ks.scf import prepare_batch, run_scf


def predict(systems: Sequence[System], grid: Grid, xc, num_iterations: int) -> dict:
    """Run K Kohn-Sham iterations for ``systems`` with functional ``xc`` (one batched call).

    Returns the arrays of a predictions file (layout in ``sksr.evaluation.prediction_files``).
    """
    trajectory = run_scf(prepare_batch(list(systems), grid), xc, num_iterations)
    return {
        "names": np.array([s.name for s in systems]),
        "n_electrons": np.array([s.n_electrons for s in systems]),
        "energies": np.asarray(trajectory.total_energy, dtype=np.float64),
        "densities": np.asarray(trajectory.density[:, -1], dtype=np.float64),
        "spacing": np.float64(grid.spacing),
    }
