"""Kohn-Sham SCF: exact limits, published LSDA energies, an independent reference implementation,
and gradients with respect to functional parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sksr.core.grid import PAPER_GRID, Grid
from sksr.core.hamiltonian import external_potential, interaction_matrix, kinetic_matrix
from sksr.core.systems import System
from sksr.functionals.exact import exact_one_electron
from sksr.functionals.lsda import lsda, lsda_eps_xc, scaled_lsda
from sksr.ks.scf import _run_scf, kohn_sham, prepare_batch, run_scf

from conftest import atom


def test_one_electron_exact_functional_reproduces_eigenvalues():
    """E_xc = -E_H makes the KS potential v_ext: every iteration gives the exact 5-point eigenvalue."""
    ions = [atom("H", 1, 1, 1), atom("He+", 2, 1, 1), atom("Li2+", 3, 1, 1), atom("Be3+", 4, 1, 1)]
    trajectory = kohn_sham(ions, PAPER_GRID, exact_one_electron(PAPER_GRID), num_iterations=5)
    expected = np.array([-0.6699723368, -1.4827789551, -2.3346607593, -3.2088629707])
    assert np.allclose(trajectory.total_energy, expected[:, None], atol=1e-8)


def test_lsda_he_and_li_match_published_values():
    """Self-consistent LSDA, 30 iterations (docs/physics.md section 6): He -2.19634, Li -4.18252."""
    systems = [atom("He", 2, 2, 0), atom("Li", 3, 3, 1)]
    trajectory = kohn_sham(systems, PAPER_GRID, lsda(), num_iterations=30)
    assert float(trajectory.final_energy[0]) == pytest.approx(-2.19634, abs=2e-5)
    assert float(trajectory.final_energy[1]) == pytest.approx(-4.18252, abs=2e-5)
    electrons = PAPER_GRID.spacing * trajectory.density.sum(axis=(2, 3))
    assert np.allclose(electrons, [[2.0], [3.0]], atol=1e-10)
    up, dn = PAPER_GRID.spacing * trajectory.density[1, -1].sum(axis=-1)
    assert (float(up), float(dn)) == pytest.approx((2.0, 1.0), abs=1e-10)


def _reference_scf(system, grid, num_iterations, mixing=0.5, decay=0.9):
    """Plain NumPy SCF with dense eigh and explicit RKS/UKS branches (independent of sksr.ks.scf)."""
    h = grid.spacing
    hamiltonian = kinetic_matrix(grid) + np.diag(external_potential(system, grid))
    kernel = h * interaction_matrix(grid)
    v_ext = external_potential(system, grid)

    def xc_energy(n_spin):
        n_up, n_dn = n_spin
        return h * jnp.sum((n_up + n_dn) * lsda_eps_xc(n_up, n_dn))

    def occupy(potentials):
        densities, band = [], 0.0
        counts = [system.n_up, system.n_down]
        for spin in range(2):
            values, vectors = np.linalg.eigh(kinetic_matrix(grid) + np.diag(potentials[spin]))
            count = counts[spin]
            densities.append(np.sum(vectors[:, :count] ** 2, axis=1) / h)
            band += np.sum(values[:count])
        return np.array(densities), band

    _, vectors = np.linalg.eigh(hamiltonian)
    n_in = np.array(
        [np.sum(vectors[:, :c] ** 2, axis=1) / h for c in (system.n_up, system.n_down)]
    )
    energies, densities = [], []
    for k in range(num_iterations):
        v_h = kernel @ n_in.sum(0)
        v_xc = np.asarray(jax.grad(xc_energy)(jnp.asarray(n_in))) / h
        potentials = v_ext + v_h + v_xc
        n_out, band = occupy(potentials)
        kinetic = band - h * np.sum(n_out * potentials)
        total = n_out.sum(0)
        energy = (
            kinetic
            + 0.5 * h * total @ kernel @ total
            + float(xc_energy(jnp.asarray(n_out)))
            + h * total @ v_ext
        )
        alpha = mixing * decay**k
        n_in = (1 - alpha) * n_in + alpha * n_out
        energies.append(energy)
        densities.append(n_in.copy())
    return np.array(energies), np.array(densities)


def test_mixed_batch_matches_independent_reference(small_grid):
    """A batch of restricted, unrestricted and fully polarized systems, molecule included."""
    systems = [
        atom("He", 2, 2, 0),
        atom("Li", 3, 3, 1),
        atom("H", 1, 1, 1),
        System("H2", (1, 1), (-0.75, 0.75), 2, 0),
        System("H3", (1, 1, 1), (-2.0, 0.0, 2.0), 3, 1),
    ]
    trajectory = kohn_sham(systems, small_grid, lsda(), num_iterations=6)
    for b, system in enumerate(systems):
        energies, densities = _reference_scf(system, small_grid, 6)
        assert np.allclose(trajectory.total_energy[b], energies, atol=1e-10), system.name
        assert np.allclose(trajectory.density[b], densities, atol=1e-9), system.name


def test_batched_equals_single_system_runs(small_grid):
    systems = [atom("Be", 4, 4, 0), atom("Be+", 4, 3, 1)]
    batched = kohn_sham(systems, small_grid, lsda(), num_iterations=4)
    for b, system in enumerate(systems):
        single = kohn_sham([system], small_grid, lsda(), num_iterations=4)
        assert np.allclose(batched.total_energy[b], single.total_energy[0], atol=1e-12)


@pytest.mark.parametrize("solver", ["banded", "device"])
def test_banded_and_device_solvers_give_the_dense_trajectory(small_grid, solver):
    systems = [atom("Li", 3, 3, 1), atom("He", 2, 2, 0)]
    fast = kohn_sham(systems, small_grid, lsda(), num_iterations=5, solver=solver)
    dense = kohn_sham(systems, small_grid, lsda(), num_iterations=5, solver="dense")
    assert np.allclose(fast.total_energy, dense.total_energy, atol=1e-11)
    assert np.allclose(fast.density, dense.density, atol=1e-9)


def test_unrolled_and_looped_iterations_agree(small_grid):
    batch = prepare_batch([atom("Li", 3, 3, 1), atom("He", 2, 2, 0)], small_grid)
    unrolled = run_scf(batch, lsda(), 6)
    looped = run_scf(batch, lsda(), 6, unroll=1)
    assert np.allclose(unrolled.total_energy, looped.total_energy, rtol=0, atol=1e-12)
    assert np.allclose(unrolled.density, looped.density, rtol=0, atol=1e-12)


def test_restricted_systems_evaluate_the_functional_once():
    """batch_xc_energy(_and_potential) == the explicitly symmetrized per-system functions."""
    from sksr.ks.scf import batch_xc_energy_and_potential, xc_energy_and_potential

    grid = Grid(65, 0.3)
    x = grid.coordinates
    up = np.stack([np.exp(-0.5 * x**2), np.exp(-0.3 * (x - 1) ** 2), np.exp(-0.4 * x**2)])
    dn = np.stack([np.exp(-0.5 * x**2), 0.5 * np.exp(-0.6 * (x + 1) ** 2), np.zeros_like(x)])
    density = jnp.asarray(np.stack([up, dn], axis=1))  # (3, 2, G): restricted, UKS, fully polarized
    restricted = (True, False, False)
    energies, potential = batch_xc_energy_and_potential(lsda(), density, grid.spacing, restricted)
    for b in range(3):
        energy, reference = xc_energy_and_potential(lsda(), density[b], grid.spacing)
        assert np.allclose(energies[b], energy, rtol=0, atol=1e-14)
        if restricted[b]:  # only the spin average enters the restricted channel
            assert np.allclose(potential[b].mean(0), reference.mean(0), rtol=0, atol=1e-12)
        else:
            assert np.allclose(potential[b], reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", ["banded", "dense", "device"])
def test_energy_gradient_wrt_functional_parameters_matches_finite_differences(solver):
    """d E_final / d (exchange scale, correlation scale) through K iterations, RKS and UKS."""
    grid = Grid(129, 0.125)
    batch = prepare_batch([atom("He", 2, 2, 0), atom("Li", 3, 3, 1)], grid)

    def final_energies(scales):
        xc = jax.tree_util.Partial(scaled_lsda().func, scales)
        return run_scf(batch, xc, num_iterations=10, solver=solver).final_energy

    scales = jnp.array([0.9, 1.2])
    jacobian = jax.jacrev(final_energies)(scales)
    step = 1e-4
    for p in range(2):
        shift = jnp.zeros(2).at[p].set(step)
        numeric = (final_energies(scales + shift) - final_energies(scales - shift)) / (2 * step)
        assert np.allclose(jacobian[:, p], numeric, rtol=1e-6, atol=0), (p, jacobian[:, p], numeric)


def test_new_parameters_do_not_recompile(small_grid):
    batch = prepare_batch([atom("He", 2, 2, 0)], small_grid)
    run_scf(batch, scaled_lsda((1.0, 1.0)), 3)
    size = _run_scf._cache_size()
    run_scf(batch, scaled_lsda((0.5, 2.0)), 3)
    assert _run_scf._cache_size() == size


def test_invalid_arguments_are_refused(small_grid):
    batch = prepare_batch([atom("He", 2, 2, 0)], small_grid)
    with pytest.raises(ValueError, match="num_iterations"):
        run_scf(batch, lsda(), 0)
    with pytest.raises(ValueError, match="eigensolver"):
        run_scf(batch, lsda(), 3, solver="qr")
    with pytest.raises(ValueError, match="at least one system"):
        prepare_batch([], small_grid)
    with pytest.raises(ValueError, match="not on a grid point"):
        prepare_batch([System("H2", (1, 1), (-0.7, 0.7), 2, 0)], small_grid)
