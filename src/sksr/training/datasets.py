"""Kohn-Sham datasets: the exact references of one split, bundled for training and validation.

A dataset file (``results/datasets/<split>.npz``) holds, for B systems in the split's order:

- ``names`` (B,); ``systems`` () JSON list of ``System.to_dict()``; ``grid`` () JSON of ``Grid.to_dict()``;
- ``energies`` (B,) exact electronic energies, Ha (no E_NN);
- ``densities`` (B, G) exact total densities, 1/bohr; ``n_electrons`` (B,).

``Dataset.references()`` gives ``sksr.training.loss.References`` for the loss.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple, Sequence

import numpy as np

from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.io.atomic import CorruptFileError, atomic_savez, read_npz
from sksr.references.files import reference_energy_and_density


class Dataset(NamedTuple):
    """Systems of a split with their exact energies (B,) and total densities (B, G)."""

    systems: tuple
    grid: Grid
    energies: np.ndarray
    densities: np.ndarray

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.systems]

    @property
    def n_electrons(self) -> np.ndarray:
        return np.array([s.n_electrons for s in self.systems], dtype=np.float64)

    def references(self):
        """``sksr.training.loss.References`` (validated: shapes and h sum n = N)."""
        from sksr.training.loss import make_references

        return make_references(self.energies, self.densities, self.n_electrons, self.grid)


def build_dataset(systems: Sequence[System], grid: Grid, reference_paths: Sequence[str]) -> Dataset:
    """Load the reference of every system (``reference_paths`` in the same order) into a Dataset."""
    if len(systems) != len(reference_paths):
        raise ValueError(f"{len(systems)} systems but {len(reference_paths)} reference files")
    energies, densities = [], []
    for system, path in zip(systems, reference_paths):
        if os.path.splitext(os.path.basename(path))[0] != system.name:
            raise ValueError(f"reference file {path} does not belong to system {system.name!r}")
        energy, density = reference_energy_and_density(path)
        if density.shape != (grid.num_points,):
            raise ValueError(
                f"reference {path}: density has shape {density.shape}, grid has {grid.num_points} points"
            )
        energies.append(energy)
        densities.append(density)
    return Dataset(tuple(systems), grid, np.array(energies), np.array(densities))


def save_dataset(dataset: Dataset, path: str | os.PathLike) -> None:
    """Write a dataset file atomically."""
    atomic_savez(
        path,
        {
            "names": np.array(dataset.names),
            "systems": np.array(json.dumps([s.to_dict() for s in dataset.systems])),
            "grid": np.array(json.dumps(dataset.grid.to_dict())),
            "energies": dataset.energies,
            "densities": dataset.densities,
            "n_electrons": dataset.n_electrons,
        },
    )


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset file written by ``save_dataset``; any corruption raises CorruptFileError naming it."""
    data = read_npz(path)
    try:
        systems = tuple(System.from_dict(d) for d in json.loads(str(data["systems"])))
        grid = Grid.from_dict(json.loads(str(data["grid"])))
        energies = np.asarray(data["energies"], dtype=np.float64)
        densities = np.asarray(data["densities"], dtype=np.float64)
        if energies.shape != (len(systems),) or densities.shape != (len(systems), grid.num_points):
            raise ValueError(
                f"energies {energies.shape} and densities {densities.shape} do not fit {len(systems)} systems "
                f"on {grid.num_points} points"
            )
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(path, f"{type(error).__name__}: {error}") from error
    return Dataset(systems, grid, energies, densities)
