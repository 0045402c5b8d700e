"""Predictions files: what a functional predicts for a set of systems, and the marker of a failed seed.

The Kohn-Sham run that makes predictions is ``sksr.evaluation.prediction.predict``; this module only reads
and writes its files (NumPy; no JAX Kohn-Sham, no TeNPy).

Predictions file (``results/predictions/<method>.npz``, one per method), written by ``save_predictions``:

- ``names`` (B,) system names; ``n_electrons`` (B,);
- ``energies`` (B, K) electronic energy of every KS iteration, Ha (no E_NN);
- ``densities`` (B, 2, G) final (mixed) spin densities [up, down], 1/bohr;
- ``spacing`` () grid spacing h, bohr; ``method`` () label.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.io.atomic import atomic_savez, read_npz
from sksr.references.files import reference_energy_and_density


def failed_predictions(systems: Sequence[System], grid: Grid, num_iterations: int, reason: str = "") -> dict:
    """A predictions file for a seed that failed (in training, or diverged in evaluation): NaN energies
    and densities, ``failed`` and ``failure_reason``."""
    shape = (len(systems), 2, grid.num_points)
    return {
        "names": np.array([s.name for s in systems]),
        "n_electrons": np.array([s.n_electrons for s in systems]),
        "energies": np.full((len(systems), num_iterations), np.nan),
        "densities": np.full(shape, np.nan),
        "spacing": np.float64(grid.spacing),
        "failed": np.array(True),
        "failure_reason": np.array(reason),
    }


def diverged_systems(predictions: Mapping) -> list[str]:
    """Names of the systems whose final energy is not finite (a diverged SCF)."""
    final = np.asarray(predictions["energies"])[:, -1]
    return [str(n) for n, e in zip(predictions["names"], final) if not np.isfinite(e)]


def failure_reason(path: str | os.PathLike) -> str:
    """The reason stored in a failed-seed marker ('' when absent)."""
    arrays = read_predictions(path)
    return str(arrays["failure_reason"]) if "failure_reason" in arrays else ""


def is_usable(arrays: Mapping) -> bool:
    """False for the arrays of a failed-seed marker written by ``failed_predictions``."""
    return not ("failed" in arrays and bool(arrays["failed"]))


def prediction_ok(path: str | os.PathLike) -> bool:
    """False for a failed-seed marker written by ``failed_predictions``."""
    return is_usable(read_predictions(path))


def save_predictions(path: str | os.PathLike, predictions: Mapping, method: str) -> None:
    """Write a predictions file atomically; refuses non-finite energies (a diverged SCF) unless the
    predictions are a failed-seed marker."""
    if not bool(predictions.get("failed", False)):
        bad = diverged_systems(predictions)
        if bad:
            raise FloatingPointError(f"{method}: non-finite final energies for {bad}")
    atomic_savez(path, {"method": np.array(method), **predictions})


def read_predictions(path: str | os.PathLike) -> dict:
    """Every array of a predictions file (see the module docstring); a corrupt file is named."""
    return read_npz(path)


def final_values(arrays: Mapping) -> dict:
    """``{name: (final energy, total density (G,))}`` plus ``"_spacing"`` from a predictions file's arrays."""
    result = {
        str(n): (float(e[-1]), np.asarray(d).sum(axis=0))
        for n, e, d in zip(arrays["names"], arrays["energies"], arrays["densities"])
    }
    result["_spacing"] = float(arrays["spacing"])
    return result


def load_predictions(path: str | os.PathLike) -> dict:
    """``final_values`` of a predictions file."""
    return final_values(read_predictions(path))


def load_reference_arrays(path: str | os.PathLike) -> tuple[float, np.ndarray]:
    """(electronic energy in Ha, total density (G,)) of a reference npz (``sksr.references.files``)."""
    return reference_energy_and_density(path)
