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
from sksr.ks.scf import prepare_batch, run_scf


def predict(
    systems: Sequence[System], grid: Grid, xc, num_iterations: int, reflection_symmetry: bool = False
) -> dict:
    """Run K Kohn-Sham iterations for ``systems`` with functional ``xc`` (one batched call).

    ``reflection_symmetry`` imposes each system's mirror symmetry about its centre (config
    ``scf.reflection_symmetry``; ``sksr.ks.scf.run_scf``). Returns the arrays of a predictions file
    (layout in ``sksr.evaluation.prediction_files``).
    """
    batch = prepare_batch(list(systems), grid)
    trajectory = run_scf(batch, xc, num_iterations, reflection_symmetry=reflection_symmetry)
    return {
        "names": np.array([s.name for s in systems]),
        "n_electrons": np.array([s.n_electrons for s in systems]),
        "energies": np.asarray(trajectory.total_energy, dtype=np.float64),
        "densities": np.asarray(trajectory.density[:, -1], dtype=np.float64),
        "spacing": np.float64(grid.spacing),
    }


def checkpoint_stems(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``[(evaluation, stem), ...]`` of a seed's checkpoints (``<run>/checkpoints/eval_NNNNNN``), in order."""
    checkpoints = []
    for path in sorted((Path(run_dir) / "checkpoints").glob("eval_*.npz")):
        checkpoints.append((int(path.stem.removeprefix("eval_")), path.with_suffix("")))
    return checkpoints


def checkpoint_energies(
    run_dir: str | os.PathLike,
    systems: Sequence[System],
    grid: Grid,
    num_iterations: int,
    reflection_symmetry: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Final KS energies of every checkpoint of one seed: (evaluations (C,), energies (C, B) in Ha).

    The grey curves of the KSR study's dissociation figure: how the prediction moves during training.
    The parameters are pytree leaves, so the C runs share one compiled program.
    """
    evaluations, energies = [], []
    for evaluation, stem in checkpoint_stems(run_dir):
        spec, params, _ = load_params(stem)
        xc = build_xc(spec, params, grid)
        energies.append(predict(systems, grid, xc, num_iterations, reflection_symmetry)["energies"][:, -1])
        evaluations.append(evaluation)
    if not evaluations:
        raise FileNotFoundError(f"no checkpoints in {Path(run_dir) / 'checkpoints'}")
    return np.array(evaluations), np.array(energies)
