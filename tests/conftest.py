"""Shared fixtures. Importing sksr switches JAX to float64 before any array is created."""

import os

import pytest

import sksr  # noqa: F401  (float64 on)
from sksr.grid import Grid
from sksr.systems import System


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
