"""Shared fixtures. Importing sksr switches JAX to float64 before any array is created."""

import os

import pytest

import sksr  # noqa: F401  (float64 on)
from sksr.core.grid import Grid
from sksr.core.systems import System


def pytest_collection_modifyitems(config, items):
    """Skip tests marked slow unless SKSR_SLOW=1 (they run minutes on the paper grid)."""
    if os.environ.get("SKSR_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow paper-grid test; set SKSR_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def atom(name, charge, n_electrons, n_unpaired, position=0.0):
    """A single-nucleus system."""
    return System(name, (charge,), (position,), n_electrons, n_unpaired)


@pytest.fixture
def small_grid():
    """65 points, h = 0.25: extent +-8 bohr, enough for light atoms; fast."""
    return Grid(65, 0.25)


TINY_GRID = Grid(num_points=33, spacing=0.6)
"""33 points, h = 0.6: the training tests' grid (seconds per run)."""


def lsda_stand_in_data(systems, grid=TINY_GRID):
    """(KS batch, References) with LSDA-made stand-in targets: self-consistent LSDA energies shifted by
    5 mHa and LSDA densities. The right shapes for optimizer tests; not many-body references."""
    import numpy as np

    from sksr.functionals import lsda
    from sksr.ks import scf
    from sksr.training.loss import make_references

    batch = scf.prepare_batch(systems, grid)
    trajectory = scf.run_scf(batch, lsda.lsda(), 10)
    refs = make_references(
        np.asarray(trajectory.total_energy[:, -1]) - 0.005,
        np.asarray(trajectory.density[:, -1].sum(1)),
        [s.n_electrons for s in systems],
        grid,
    )
    return batch, refs
