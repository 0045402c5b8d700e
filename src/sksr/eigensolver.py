"""Lowest eigenpairs of the Kohn-Sham matrix ``T + diag(v)``, differentiable with respect to ``v``.

The kinetic matrix ``T`` is pentadiagonal (5-point stencil) and only the lowest few orbitals are ever
occupied, so the dense ``O(G^3)`` eigendecomposition is wasted work. Two solvers share one interface:

``banded`` (default)
    LAPACK on the host through ``jax.pure_callback``: eigenvalues of the band matrix by ``dsbevx``
    (``scipy.linalg.eigvals_banded``, no eigenvector back-transformation), eigenvectors by inverse
    iteration with a banded LU (``dgbtrf``/``dgbtrs``), ``O(G)`` per state. The reverse-mode derivative
    is exact first-order perturbation theory: the occupied-block part uses the computed states, the
    rest of the spectrum enters through one banded solve ``Q (H - e_k)^{-1} Q`` per state
    (``Q`` projects out the computed states), so no unoccupied state is ever needed.

``dense``
    ``jnp.linalg.eigh`` of the full matrix: stays on the accelerator, reference for tests.

Eigenvectors are normalised as plain vectors (``sum_i psi_i^2 = 1``); the density of an orbital is
``psi_i^2 / h``. The sign of each eigenvector is fixed so that its largest-magnitude entry is positive.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from sksr.grid import Grid
from sksr.hamiltonian import kinetic_lower_band, kinetic_matrix

SOLVERS = ("banded", "dense")
_INVERSE_ITERATIONS = 3
_DEGENERACY_TOLERANCE = 1e-10  # Ha; occupied-block pairs closer than this are treated as degenerate


# --------------------------------------------------------------------------------------------------
# Host (NumPy / LAPACK) kernels. Leading dimensions of `potentials` are batch dimensions.
# --------------------------------------------------------------------------------------------------


def _general_band(lower_band: np.ndarray, shift: float) -> np.ndarray:
    """Symmetric lower band (3, G) minus ``shift`` on the diagonal, in LAPACK ``dgbtrf`` storage (7, G)."""
    g = lower_band.shape[1]
    ab = np.zeros((7, g))
    ab[4] = lower_band[0] - shift
    ab[5, : g - 1] = lower_band[1, : g - 1]  # subdiagonal A[i+1, i]
    ab[6, : g - 2] = lower_band[2, : g - 2]  # second subdiagonal A[i+2, i]
    ab[3, 1:] = lower_band[1, : g - 1]  # superdiagonal A[i, i+1]
    ab[2, 2:] = lower_band[2, : g - 2]  # second superdiagonal A[i, i+2]
    return ab


def _factorize_shifted(lower_band: np.ndarray, shift: float):
    """Banded LU of ``H - shift``; nudges the shift if the matrix is exactly singular in floating point."""
    scale = max(1.0, abs(shift))
    for attempt in range(4):
        lu, pivots, info = lapack.dgbtrf(_general_band(lower_band, shift), 2, 2)
        if info == 0:
            return lu, pivots
        shift += scale * 1e-14 * 10**attempt
    raise np.linalg.LinAlgError(f"banded LU of H - {shift} failed (info={info})")


def _solve_shifted(factors, rhs: np.ndarray) -> np.ndarray:
    lu, pivots = factors
    solution, info = lapack.dgbtrs(lu, 2, 2, rhs, pivots)
    if info != 0:
        raise np.linalg.LinAlgError(f"dgbtrs failed (info={info})")
    return solution


def _start_vector(num_points: int) -> np.ndarray:
    """Fixed pseudo-random start for inverse iteration (deterministic, overlaps every state)."""
    return np.random.default_rng(20220101).standard_normal(num_points)


def _fix_sign(vector: np.ndarray) -> np.ndarray:
    return vector if vector[np.argmax(np.abs(vector))] >= 0 else -vector


def _eigenpairs_one(lower_band: np.ndarray, n_states: int):
    """Lowest ``n_states`` eigenpairs of one band matrix: values (m,), vectors (G, m)."""
    values = scipy.linalg.eigvals_banded(
        lower_band, lower=True, select="i", select_range=(0, n_states - 1), check_finite=False
    )
    g = lower_band.shape[1]
    vectors = np.zeros((g, n_states))
    start = _start_vector(g)
    for k, value in enumerate(values):
        factors = _factorize_shifted(lower_band, value)
        vector = start
        for _ in range(_INVERSE_ITERATIONS):
            vector = _solve_shifted(factors, vector)
            previous = vectors[:, :k]
            for _ in range(2):  # twice is enough (Kahan): keeps near-degenerate states apart
                vector = vector - previous @ (previous.T @ vector)
            vector = vector / np.linalg.norm(vector)
        vectors[:, k] = _fix_sign(vector)
    return values, vectors


def _shifted_band(kinetic_band: np.ndarray, potential: np.ndarray) -> np.ndarray:
    band = kinetic_band.copy()
    band[0] = band[0] + potential
    return band


def banded_eigenpairs_host(kinetic_band: np.ndarray, potentials: np.ndarray, n_states: int):
    """Lowest eigenpairs of ``T + diag(v)`` for a batch of potentials (host code).

    Args:
      kinetic_band: T in lower-band storage, shape (3, G), Ha.
      potentials: v, shape (..., G), Ha.
      n_states: m, number of lowest states.

    Returns:
      eigenvalues (..., m) in Ha and eigenvectors (..., G, m), unit-normalised columns.
    """
    potentials = np.asarray(potentials, dtype=np.float64)
    batch_shape, g = potentials.shape[:-1], potentials.shape[-1]
    flat = potentials.reshape(-1, g)
    values = np.zeros((flat.shape[0], n_states))
    vectors = np.zeros((flat.shape[0], g, n_states))
    for b, potential in enumerate(flat):
        values[b], vectors[b] = _eigenpairs_one(_shifted_band(kinetic_band, potential), n_states)
    return values.reshape(*batch_shape, n_states), vectors.reshape(*batch_shape, g, n_states)


def _reduced_resolvent_apply(lower_band, values, vectors, k, rhs):
    """``R_k rhs`` with ``R_k = sum_{j != k} psi_j psi_j^T / (e_j - e_k)`` over the whole spectrum.

    The computed states j < m enter explicitly; all others through ``Q (H - e_k)^{-1} Q`` with
    ``Q = 1 - sum_{j<m} psi_j psi_j^T``, one banded solve.
    """
    overlaps = vectors.T @ rhs
    gaps = values - values[k]
    inverse_gaps = np.where(np.abs(gaps) > _DEGENERACY_TOLERANCE, 1.0 / np.where(gaps == 0, 1, gaps), 0.0)
    inside = vectors @ (inverse_gaps * overlaps)
    projected = rhs - vectors @ overlaps
    outside = _solve_shifted(_factorize_shifted(lower_band, values[k]), projected)
    for _ in range(2):
        outside = outside - vectors @ (vectors.T @ outside)
    return inside + outside


def banded_eigenpairs_vjp_host(kinetic_band, potentials, values, vectors, values_bar, vectors_bar):
    """Cotangent of the potential for ``banded_eigenpairs_host`` (host code).

    ``d e_k = psi_k^T dH psi_k`` and ``d psi_k = -R_k dH psi_k`` with ``dH = diag(dv)`` give
    ``v_bar = sum_k [e_bar_k psi_k^2 - psi_k * (R_k psi_bar_k)]``.

    Shapes: potentials (..., G), values (..., m), vectors (..., G, m), bars alike; returns (..., G).
    """
    arrays = np.broadcast_arrays(
        np.asarray(potentials)[..., None],
        np.asarray(values)[..., None, :],
        np.asarray(vectors),
        np.asarray(values_bar)[..., None, :],
        np.asarray(vectors_bar),
    )
    shape = arrays[2].shape
    g, m = shape[-2], shape[-1]
    flat = [a.reshape(-1, g, m) for a in arrays]
    result = np.zeros((flat[0].shape[0], g))
    for b in range(flat[0].shape[0]):
        potential = flat[0][b, :, 0]
        vals, vecs = flat[1][b, 0], flat[2][b]
        vals_bar, vecs_bar = flat[3][b, 0], flat[4][b]
        band = _shifted_band(kinetic_band, potential)
        grad = (vecs**2) @ vals_bar
        for k in range(m):
            if np.any(vecs_bar[:, k]):
                grad -= vecs[:, k] * _reduced_resolvent_apply(band, vals, vecs, k, vecs_bar[:, k])
        result[b] = grad
    return result.reshape(shape[:-2] + (g,))


# --------------------------------------------------------------------------------------------------
# JAX wrappers
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _banded_solver(num_points: int, spacing: float, n_states: int):
    """Differentiable banded solver for one grid and state count (cached: stable identity for jit)."""
    kinetic_band = kinetic_lower_band(Grid(num_points, spacing))

    def result_shapes(potential):
        batch = potential.shape[:-1]
        return (
            jax.ShapeDtypeStruct(batch + (n_states,), jnp.float64),
            jax.ShapeDtypeStruct(batch + (num_points, n_states), jnp.float64),
        )

    def host_forward(potential):
        return banded_eigenpairs_host(kinetic_band, potential, n_states)

    def host_backward(potential, values, vectors, values_bar, vectors_bar):
        return banded_eigenpairs_vjp_host(kinetic_band, potential, values, vectors, values_bar, vectors_bar)

    @jax.custom_vjp
    def solve(potential):
        return jax.pure_callback(
            host_forward, result_shapes(potential), potential, vmap_method="expand_dims"
        )

    def forward(potential):
        values, vectors = solve(potential)
        return (values, vectors), (potential, values, vectors)

    def backward(residuals, cotangents):
        potential, values, vectors = residuals
        values_bar, vectors_bar = cotangents
        grad = jax.pure_callback(
            host_backward,
            jax.ShapeDtypeStruct(potential.shape, jnp.float64),
            potential,
            values,
            vectors,
            values_bar,
            vectors_bar,
            vmap_method="expand_dims",
        )
        return (grad,)

    solve.defvjp(forward, backward)
    return solve


def _dense_solve(potential, kinetic, n_states):
    values, vectors = jnp.linalg.eigh(kinetic + jnp.diag(potential))
    vectors = vectors[:, :n_states]
    signs = jnp.sign(vectors[jnp.argmax(jnp.abs(vectors), axis=0), jnp.arange(n_states)])
    return values[:n_states], vectors * signs


def lowest_eigenpairs(potential, grid: Grid, n_states: int, solver: str = "banded"):
    """Lowest eigenpairs of the Kohn-Sham matrix ``T + diag(potential)``.

    Args:
      potential: v_s on the grid, shape (G,), Ha. Differentiable (reverse mode), vmappable.
      grid: the grid, fixes T (5-point stencil, hard walls).
      n_states: m, number of lowest states (static).
      solver: ``"banded"`` (LAPACK on the host, O(G) per state) or ``"dense"`` (jnp.linalg.eigh).

    Returns:
      eigenvalues, shape (m,), Ha, ascending; eigenvectors, shape (G, m), unit-normalised columns.
    """
    if solver == "banded":
        return _banded_solver(grid.num_points, grid.spacing, n_states)(potential)
    if solver == "dense":
        return _dense_solve(potential, jnp.asarray(kinetic_matrix(grid)), n_states)
    raise ValueError(f"eigensolver must be one of {SOLVERS}, got {solver!r}")
