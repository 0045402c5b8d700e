"""Hamiltonian pieces against the values of docs/physics.md sections 2-3."""

import numpy as np
import pytest

from sksr.core.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.core.grid import PAPER_GRID, Grid
from sksr.core.hamiltonian import (
    exponential_interaction,
    external_potential,
    kinetic_lower_band,
    kinetic_matrix,
    kinetic_stencil,
    nuclear_repulsion,
    one_electron_energies,
)
from sksr.core.systems import System


def test_kinetic_stencil_values_at_paper_spacing():
    diagonal, first, second = kinetic_stencil(PAPER_GRID)
    assert diagonal == pytest.approx(195.3125, abs=1e-10)
    assert first == pytest.approx(-104.16666666666667, abs=1e-10)
    assert second == pytest.approx(6.510416666666667, abs=1e-10)


def test_kinetic_matrix_is_fourth_order_accurate():
    """-(1/2) f'' of a Gaussian, away from the walls: error shrinks ~16x when h halves."""
    errors = []
    for grid in (Grid(129, 0.1), Grid(257, 0.05)):
        x = grid.coordinates
        f = np.exp(-(x**2))
        exact = -0.5 * (4 * x**2 - 2) * f
        errors.append(np.max(np.abs(kinetic_matrix(grid) @ f - exact)[10:-10]))
    assert 14 < errors[0] / errors[1] < 18


def test_band_storage_matches_dense_matrix():
    grid = Grid(17, 0.3)
    band = kinetic_lower_band(grid)
    dense = kinetic_matrix(grid)
    for d in range(3):
        assert np.allclose(np.diag(dense, -d), band[d, : grid.num_points - d])


@pytest.mark.parametrize(
    "charge, expected",
    [(1, -0.6699723368), (2, -1.4827789551), (3, -2.3346607593), (4, -3.2088629707)],
)
def test_one_electron_energies_five_point(charge, expected):
    system = System("ion", (charge,), (0.0,), 1, 1)
    assert one_electron_energies(system, PAPER_GRID)[0] == pytest.approx(expected, abs=1e-9)


def test_external_potential_and_nuclear_repulsion():
    system = System("HeH+", (2, 1), (-1.04, 1.12), 2, 0)
    v = external_potential(system, PAPER_GRID)
    i = PAPER_GRID.index_of(-1.04)
    expected = -2 * EXPONENTIAL_AMPLITUDE - EXPONENTIAL_AMPLITUDE * np.exp(-EXPONENTIAL_KAPPA * 2.16)
    assert v[i] == pytest.approx(expected, rel=1e-12)
    assert nuclear_repulsion(system) == pytest.approx(2 * exponential_interaction(2.16), rel=1e-12)
    assert nuclear_repulsion(System("He", (2,), (0.0,), 2, 0)) == 0.0
