"""Kohn-Sham predictions of a functional for a set of systems (the arrays of a predictions file).

The file layout is documented in ``sksr.evaluation.prediction_files``, which reads and writes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.functionals.neural import build_xc, load_params
from sksr.io.atomic import read_json
from sksr.ks.scf import prepare_batch, run_scf
from sksr.training.selection import RUN_RECORD, checkpoint_stem


def _scf_runner(systems: Sequence[System], grid: Grid, num_iterations: int, reflection_symmetry: bool):
    """``xc -> SCFTrajectory`` of K iterations for ``systems``, their Kohn-Sham batch built once."""
    batch = prepare_batch(list(systems), grid)
    return lambda xc: run_scf(batch, xc, num_iterations, reflection_symmetry=reflection_symmetry)


def predict(
    systems: Sequence[System], grid: Grid, xc, num_iterations: int, reflection_symmetry: bool = False
) -> dict:
    """Run K Kohn-Sham iterations for ``systems`` with functional ``xc`` (one batched call).

    ``reflection_symmetry`` imposes each system's mirror symmetry about its centre (config
    ``scf.reflection_symmetry``; ``sksr.ks.scf.run_scf``). Returns the arrays of a predictions file
    (layout in ``sksr.evaluation.prediction_files``).
    """
    trajectory = _scf_runner(systems, grid, num_iterations, reflection_symmetry)(xc)
    return {
        "names": np.array([s.name for s in systems]),
        "n_electrons": np.array([s.n_electrons for s in systems]),
        "energies": np.asarray(trajectory.total_energy, dtype=np.float64),
        "densities": np.asarray(trajectory.density[:, -1], dtype=np.float64),
        "spacing": np.float64(grid.spacing),
    }


def checkpoint_energies(
    run_dir: str | os.PathLike,
    systems: Sequence[System],
    grid: Grid,
    num_iterations: int,
    reflection_symmetry: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Final KS energies of every checkpoint of one seed: (evaluations (C,), energies (C, B) in Ha).

    The grey curves of the KSR study's dissociation figure: how the prediction moves during training.
    The checkpoints are those the seed's run record lists; the batch is built once, and the parameters
    are pytree leaves, so the C runs share one compiled program.
    """
    evaluations = read_json(Path(run_dir) / RUN_RECORD)["checkpoints"]
    if not evaluations:
        raise FileNotFoundError(f"the run record in {run_dir} lists no checkpoints")
    run = _scf_runner(systems, grid, num_iterations, reflection_symmetry)
    energies = []
    for evaluation in evaluations:
        spec, params, _ = load_params(checkpoint_stem(Path(run_dir), evaluation))
        energies.append(np.asarray(run(build_xc(spec, params, grid)).total_energy[:, -1], dtype=np.float64))
    return np.array(evaluations), np.array(energies)
