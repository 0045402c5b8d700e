"""The banded eigensolver against dense diagonalization and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sksr

from sksr.core.grid import Grid
from sksr.core.hamiltonian import external_potential, kinetic_matrix
from sksr.core.systems import System
from sksr.ks.eigensolver import lowest_eigenpairs

GRID = Grid(65, 0.3)


def _potential(positions=(-0.9, 1.2), charges=(1, 1)):
    system = System("x", charges, positions, 2, 0)
    return jnp.asarray(external_potential(system, GRID))


@pytest.mark.parametrize("n_states", [1, 2, 4])
def test_banded_matches_dense_numpy(n_states):
    v = _potential()
    values, vectors = lowest_eigenpairs(v, GRID, n_states, "banded")
    dense_values, dense_vectors = np.linalg.eigh(kinetic_matrix(GRID) + np.diag(np.asarray(v)))
    assert np.allclose(values, dense_values[:n_states], atol=1e-12)
    overlaps = np.abs(np.sum(np.asarray(vectors) * dense_vectors[:, :n_states], axis=0))
    assert np.allclose(overlaps, 1.0, atol=1e-12)
    assert np.allclose(np.asarray(vectors).T @ np.asarray(vectors), np.eye(n_states), atol=1e-12)


def test_near_degenerate_pair_stays_orthogonal():
    """Two identical wells 12 bohr apart: bonding/antibonding split ~1e-6 Ha."""
    v = _potential(positions=(-6.0, 6.0))
    values, vectors = lowest_eigenpairs(v, GRID, 2, "banded")
    dense_values = np.linalg.eigvalsh(kinetic_matrix(GRID) + np.diag(np.asarray(v)))[:2]
    assert np.allclose(values, dense_values, atol=1e-12)
    assert abs(float(vectors[:, 0] @ vectors[:, 1])) < 1e-10
    residual = (kinetic_matrix(GRID) + np.diag(np.asarray(v))) @ np.asarray(vectors) - np.asarray(
        vectors
    ) * np.asarray(values)
    assert np.max(np.abs(residual)) < 1e-9


def _sign_invariant_objective(solver, weights):
    def objective(v):
        values, vectors = lowest_eigenpairs(v, GRID, 3, solver)
        return (
            jnp.sum(values * jnp.array([1.0, 0.5, 0.2]))
            + jnp.sum(weights[:, None] * vectors**2 * jnp.array([1.0, 2.0, 0.3]))
            + jnp.sum(weights * vectors[:, 0] * vectors[:, 1]) ** 2
        )

    return objective


@pytest.mark.parametrize("solver", ["banded", "dense", "device"])
def test_gradient_matches_finite_differences(solver):
    rng = np.random.default_rng(0)
    weights = jnp.asarray(rng.standard_normal(GRID.num_points))
    direction = jnp.asarray(rng.standard_normal(GRID.num_points))
    objective = _sign_invariant_objective(solver, weights)
    v = _potential()
    analytic = float(jax.grad(objective)(v) @ direction)
    step = 1e-5
    numeric = float((objective(v + step * direction) - objective(v - step * direction)) / (2 * step))
    assert analytic == pytest.approx(numeric, rel=1e-7)


@pytest.mark.parametrize("solver", ["banded", "device"])
def test_banded_and_device_gradients_agree_with_dense(solver):
    weights = jnp.asarray(np.random.default_rng(1).standard_normal(GRID.num_points))
    v = _potential()
    fast = jax.grad(_sign_invariant_objective(solver, weights))(v)
    dense = jax.grad(_sign_invariant_objective("dense", weights))(v)
    assert np.allclose(fast, dense, atol=1e-10 if solver == "device" else 1e-9)


@pytest.mark.parametrize("solver", ["banded", "device"])
def test_vmap_matches_loop(solver):
    potentials = jnp.stack([_potential(), 1.3 * _potential(), _potential(positions=(-3.0, 0.3))])
    values, vectors = jax.vmap(lambda v: lowest_eigenpairs(v, GRID, 2, solver))(potentials)
    for b in range(3):
        single_values, single_vectors = lowest_eigenpairs(potentials[b], GRID, 2, solver)
        assert np.allclose(values[b], single_values, rtol=0, atol=1e-13)
        assert np.allclose(vectors[b], single_vectors, rtol=0, atol=1e-12)


def _dense_reference(v, grid, n_states):
    values, vectors = np.linalg.eigh(kinetic_matrix(grid) + np.diag(np.asarray(v)))
    return values[:n_states], vectors[:, :n_states]


@pytest.mark.parametrize("n_states", [1, 2, 4])
@pytest.mark.parametrize(
    "grid, positions, charges",
    [
        (GRID, (-0.9, 1.2), (1, 1)),
        (GRID, (-6.0, 6.0), (1, 1)),  # near-degenerate pair, split ~1e-6 Ha
        (sksr.PAPER_GRID, (0.0,), (4,)),  # Be on the paper grid: deep well, dense continuum above
        (sksr.PAPER_GRID, (-2.0, 0.0, 2.0), (1, 4, 1)),
    ],
    ids=["two-wells", "far-wells", "paper-Be", "paper-HBeH"],
)
def test_device_solver_matches_dense_to_1e_10(grid, positions, charges, n_states):
    """The JAX banded solver (Sturm multisection + inverse iteration) against LAPACK's dense eigh."""
    system = System("x", charges, positions, 2, 0)
    v = jnp.asarray(external_potential(system, grid))
    values, vectors = lowest_eigenpairs(v, grid, n_states, "device")
    dense_values, dense_vectors = _dense_reference(v, grid, n_states)
    vectors = np.asarray(vectors)
    assert np.max(np.abs(np.asarray(values) - dense_values)) < 1e-10
    overlaps = np.abs(np.sum(vectors * dense_vectors, axis=0))
    assert np.max(np.abs(overlaps - 1.0)) < 1e-10
    assert np.allclose(vectors.T @ vectors, np.eye(n_states), rtol=0, atol=1e-12)
    peaks = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(n_states)]
    assert np.all(peaks > 0)  # sign convention shared with the other solvers
    residual = (kinetic_matrix(grid) + np.diag(np.asarray(v))) @ vectors - vectors * np.asarray(values)
    assert np.max(np.abs(residual)) < 1e-9


def test_device_solver_gradient_matches_dense_on_the_paper_grid():
    grid = sksr.PAPER_GRID
    v = jnp.asarray(external_potential(System("x", (3,), (0.0,), 3, 1), grid))
    weights = jnp.asarray(np.random.default_rng(2).standard_normal(grid.num_points))

    def objective(solver):
        def f(potential):
            values, vectors = lowest_eigenpairs(potential, grid, 2, solver)
            return jnp.sum(values * jnp.array([1.0, 0.3])) + jnp.sum(weights[:, None] * vectors**2)

        return f

    device = jax.grad(objective("device"))(v)
    dense = jax.grad(objective("dense"))(v)
    assert np.max(np.abs(device - dense)) < 1e-10 * np.max(np.abs(dense)) + 1e-12


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="eigensolver must be one of"):
        lowest_eigenpairs(_potential(), GRID, 1, "lanczos")
