"""Grid and system definitions: derived quantities and every refusal of invalid input."""

import numpy as np
import pytest

from sksr.core.grid import PAPER_GRID, Grid
from sksr.core.systems import System, check_systems_on_grid


def test_paper_grid_coordinates():
    x = PAPER_GRID.coordinates
    assert x.shape == (513,)
    assert x[256] == 0.0
    assert x[0] == pytest.approx(-20.48) and x[-1] == pytest.approx(20.48)
    assert np.allclose(np.diff(x), 0.08)


def test_grid_index_of_and_integrate():
    grid = Grid(17, 0.5)
    assert grid.index_of(0.0) == 8 and grid.index_of(-4.0) == 0 and grid.index_of(1.5) == 11
    assert grid.integrate(np.ones(17)) == pytest.approx(8.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_points=100, spacing=0.1), "power of two"),
        (dict(num_points=3, spacing=0.1), "at least 5"),
        (dict(num_points=65.0, spacing=0.1), "integer"),
        (dict(num_points=65, spacing=0.0), "positive"),
        (dict(num_points=65, spacing=float("nan")), "finite"),
    ],
)
def test_invalid_grid_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Grid(**kwargs)


def test_grid_from_dict_names_unknown_key():
    with pytest.raises(ValueError, match="spacin"):
        Grid.from_dict({"num_points": 65, "spacin": 0.1})


def test_spin_counts():
    li = System("Li", (3,), (0.0,), 3, 1)
    assert (li.n_up, li.n_down, li.is_restricted, li.spin_z) == (2, 1, False, 0.5)
    be = System("Be", (4,), (0.0,), 4, 0)
    assert (be.n_up, be.n_down, be.is_restricted) == (2, 2, True)
    h3 = System("H3", (1, 1, 1), (-2.08, 0.0, 2.08), 3, 3)
    assert (h3.n_up, h3.n_down) == (3, 0)


def _system(**overrides):
    fields = dict(
        name="X", nuclear_charges=(1,), nuclear_positions=(0.0,), n_electrons=2, n_unpaired=0
    )
    fields.update(overrides)
    return System(**fields)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(n_electrons=-2), "n_electrons must be non-negative"),
        (dict(n_electrons=2.5), "n_electrons must be an integer"),
        (dict(n_electrons=True), "n_electrons must be an integer"),
        (dict(n_unpaired=-2), "n_unpaired must be non-negative"),
        (dict(n_unpaired=0.5), "n_unpaired must be an integer"),
        (dict(n_unpaired=1), "wrong parity"),
        (dict(n_electrons=1, n_unpaired=3), "exceeds n_electrons"),
        (dict(nuclear_charges=(), nuclear_positions=()), "empty system"),
        (dict(n_electrons=0, n_unpaired=0), "empty system"),
        (dict(nuclear_charges=(1, 1)), "nuclear_positions has 1"),
        (dict(nuclear_charges=(-1,)), "nuclear_charges must be positive"),
        (dict(nuclear_positions=(float("inf"),)), "finite"),
        (dict(nuclear_charges=(1, 1), nuclear_positions=(0.0, 0.0)), "share a position"),
        (dict(name=""), "name"),
        (dict(name="a/b"), "slashes"),
    ],
)
def test_invalid_system_is_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        _system(**overrides)


def test_nucleus_off_grid_is_refused():
    system = _system(nuclear_positions=(0.05,))
    with pytest.raises(ValueError, match=r"nuclear_positions\[0\] = 0.05 bohr is not on a grid point"):
        system.check_on_grid(PAPER_GRID)


def test_nucleus_outside_grid_is_refused():
    system = _system(nuclear_charges=(1, 1), nuclear_positions=(0.0, 21.0))
    with pytest.raises(ValueError, match=r"nuclear_positions\[1\] = 21.0 bohr lies outside the grid"):
        system.check_on_grid(PAPER_GRID)


def test_grid_too_small_for_electrons_is_refused():
    system = _system(n_electrons=8, n_unpaired=6)  # 7 spin-up orbitals on 5 points
    with pytest.raises(ValueError, match="grid too small for the electrons"):
        system.check_on_grid(Grid(5, 0.5))


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        check_systems_on_grid([_system(), _system()], PAPER_GRID)


def test_from_dict_round_trip_and_unknown_key():
    system = System("H2", (1, 1), (-0.72, 0.8), 2, 0)
    assert System.from_dict(system.to_dict()) == system
    with pytest.raises(ValueError, match="unknown keys.*n_elec"):
        System.from_dict({**system.to_dict(), "n_elec": 2})
