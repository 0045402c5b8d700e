"""The banded eigensolver against dense diagonalization and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sksr.eigensolver import lowest_eigenpairs
from sksr.grid import Grid
from sksr.hamiltonian import external_potential, kinetic_matrix
from sksr.systems import System

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


@pytest.mark.parametrize("solver", ["banded", "dense"])
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


def test_banded_and_dense_gradients_agree():
    weights = jnp.asarray(np.random.default_rng(1).standard_normal(GRID.num_points))
    v = _potential()
    banded = jax.grad(_sign_invariant_objective("banded", weights))(v)
    dense = jax.grad(_sign_invariant_objective("dense", weights))(v)
    assert np.allclose(banded, dense, atol=1e-9)


def test_vmap_matches_loop():
    potentials = jnp.stack([_potential(), 1.3 * _potential(), _potential(positions=(-3.0, 0.3))])
    values, vectors = jax.vmap(lambda v: lowest_eigenpairs(v, GRID, 2))(potentials)
    for b in range(3):
        single_values, single_vectors = lowest_eigenpairs(potentials[b], GRID, 2)
        assert np.allclose(values[b], single_values) and np.allclose(vectors[b], single_vectors)


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="eigensolver must be one of"):
        lowest_eigenpairs(_potential(), GRID, 1, "lanczos")
