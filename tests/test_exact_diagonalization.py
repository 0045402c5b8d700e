"""Exact diagonalization of the lattice Hamiltonian: internal consistency and the paper's He value."""

import numpy as np
import pytest

from sksr.core.grid import PAPER_GRID, Grid
from sksr.core.hamiltonian import interaction_matrix, one_electron_energies
from sksr.core.systems import System
from sksr.references.exact_diagonalization import (
    LatticeHamiltonian,
    fock_space_ground_state,
    lattice_hamiltonian,
    one_electron_ground_state,
    system_fock_space_ground_state,
    two_electron_ground_state,
)

SMALL = Grid(num_points=17, spacing=0.5)


def test_pair_interaction_is_the_exponential_interaction_on_the_grid():
    ham = lattice_hamiltonian(System("He", [2], [0.0], 2, 0), SMALL)
    np.testing.assert_allclose(ham.pair_interaction(), interaction_matrix(SMALL), rtol=1e-13, atol=0)


def test_one_electron_ground_state_matches_one_electron_energies():
    system = System("He+", [2], [0.0], 1, 1)
    result = one_electron_ground_state(system, SMALL)
    assert result.energy == pytest.approx(one_electron_energies(system, SMALL)[0], abs=1e-12)
    assert SMALL.integrate(result.density) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(result.spin_density, result.density)


@pytest.mark.parametrize(
    "system",
    [
        System("He", [2], [0.0], 2, 0),
        System("He_triplet", [2], [0.0], 2, 2),
        System("HeH+", [2, 1], [-1.0, 1.5], 2, 0),
    ],
    ids=lambda s: s.name,
)
def test_two_electron_solver_agrees_with_fock_space(system):
    first = two_electron_ground_state(system, SMALL)
    fock = system_fock_space_ground_state(system, SMALL)
    assert first.energy == pytest.approx(fock.energy, abs=1e-11)
    np.testing.assert_allclose(first.density_up, fock.density_up, atol=1e-9)
    np.testing.assert_allclose(first.density_down, fock.density_down, atol=1e-9)
    assert SMALL.integrate(first.density) == pytest.approx(2.0, abs=1e-12)


def test_fock_space_beyond_63_sites_and_both_lanczos_starts_agree():
    """65 sites: occupation bitmasks no longer fit in int64 (the basis switches to Python integers);
    the Fock-space ED, the pair-space ED from two different start vectors, and their residuals agree."""
    grid = Grid(num_points=65, spacing=0.32)
    system = System("HeH+", [2, 1], [-1.28, 1.6], 2, 0)
    fock = system_fock_space_ground_state(system, grid)
    orbitals = two_electron_ground_state(system, grid)
    scrambled = two_electron_ground_state(system, grid, start="random", seed=3)
    assert fock.energy == pytest.approx(orbitals.energy, abs=1e-10)
    assert scrambled.energy == pytest.approx(orbitals.energy, abs=1e-10)
    assert orbitals.residual < 1e-8 and scrambled.residual < 1e-8
    np.testing.assert_allclose(fock.density, orbitals.density, atol=1e-7)


def test_triplet_lies_above_singlet():
    singlet = two_electron_ground_state(System("He", [2], [0.0], 2, 0), SMALL)
    triplet = two_electron_ground_state(System("He", [2], [0.0], 2, 0), SMALL, spin="triplet")
    assert triplet.energy > singlet.energy + 0.1


def test_fock_space_without_hopping_is_classical_electrostatics():
    """No hopping: the ground state is the best classical placement; check it by brute force."""
    g = 5
    rng = np.random.default_rng(0)
    onsite = rng.uniform(-2.0, 0.0, size=g)
    ham = LatticeHamiltonian(hopping=np.diag(onsite), amplitude=0.7, decay=0.6)
    result = fock_space_ground_state(ham, n_up=2, n_down=1, spacing=1.0)
    best = np.inf
    v = ham.pair_interaction()
    for up in [(i, j) for i in range(g) for j in range(i + 1, g)]:
        for down in range(g):
            n_up = np.zeros(g)
            n_up[list(up)] = 1
            n_dn = np.zeros(g)
            n_dn[down] = 1
            total = n_up + n_dn
            energy = onsite @ total + 0.7 * n_up @ n_dn + total @ np.triu(v, 1) @ total
            best = min(best, energy)
    assert result.energy == pytest.approx(best, abs=1e-12)


def test_fock_space_refuses_huge_spaces():
    ham = lattice_hamiltonian(System("Be", [4], [0.0], 4, 0), Grid(129, 0.25))
    with pytest.raises(ValueError, match="exceeds MAX_FOCK_DIMENSION"):
        fock_space_ground_state(ham, 3, 3, 0.25)


def test_wrong_electron_number_is_rejected():
    with pytest.raises(ValueError, match="needs N = 2"):
        two_electron_ground_state(System("Li", [3], [0.0], 3, 1), SMALL)


@pytest.mark.slow
def test_paper_grid_helium_matches_published_value():
    """docs/physics.md: the two-electron ED reproduces the published He to 4e-9 Ha."""
    result = two_electron_ground_state(System("He", [2], [0.0], 2, 0), PAPER_GRID)
    assert result.energy == pytest.approx(-2.2377818497, abs=4e-9)
    assert PAPER_GRID.integrate(result.density) == pytest.approx(2.0, abs=1e-10)
