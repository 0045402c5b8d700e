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

``device``
    The banded algorithm in JAX operations, so that nothing leaves the accelerator and everything
    vmaps (channels, seeds): eigenvalues by multisection on Sturm counts (the inertia of an
    ``L D L^T`` recurrence, a ``lax.scan`` over the grid, 31 shifts per state and round), eigenvectors
    by inverse iteration with the ``L D L^T`` factors at the eigenvalue, and the same perturbation-theory
    VJP as ``banded`` (one factored solve per state, factors kept from the forward pass). O(G) per
    state and shift; agrees with ``dense`` to ~1e-12 (tests/test_eigensolver.py).

Eigenvectors are normalised as plain vectors (``sum_i psi_i^2 = 1``); the density of an orbital is
``psi_i^2 / h``. The sign of each eigenvector is fixed so that its largest-magnitude entry is positive.
"""

from __future__ import annotations

import functools

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from sksr.core.grid import Grid
from sksr.core.hamiltonian import kinetic_lower_band, kinetic_matrix, kinetic_stencil

SOLVERS = ("banded", "dense", "device")
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
      solver: ``"banded"`` (LAPACK on the host, O(G) per state), ``"dense"`` (jnp.linalg.eigh) or
        ``"device"`` (the banded algorithm in JAX operations: nothing leaves the device).

    Returns:
      eigenvalues, shape (m,), Ha, ascending; eigenvectors, shape (G, m), unit-normalised columns.
    """
    if solver == "banded":
        return _banded_solver(grid.num_points, grid.spacing, n_states)(potential)
    if solver == "dense":
        return _dense_solve(potential, jnp.asarray(kinetic_matrix(grid)), n_states)
    if solver == "device":
        return _device_solver(grid.num_points, grid.spacing, n_states)(potential)
    raise ValueError(f"eigensolver must be one of {SOLVERS}, got {solver!r}")


# --------------------------------------------------------------------------------------------------
# Device solver: the banded algorithm written in JAX (no host callback; vmaps over channels and seeds)
# --------------------------------------------------------------------------------------------------

_SECTIONS = 31  # shifts per state and bisection round: each round narrows a bracket 32-fold
_DEVICE_INVERSE_ITERATIONS = 2
_SCAN_UNROLL = 8  # grid rows per step of the compiled recurrences (loop overhead vs code size)


def _pivot_floor(dtype) -> float:
    """Pivots of the LDL^T recurrence smaller than this are replaced by -floor (as LAPACK's pivmin)."""
    return float(np.finfo(dtype).tiny) ** 0.5


def _ldl_step(stencil, pivot_floor):
    """One row of ``A = L D L^T`` for the pentadiagonal ``A`` with constant off-diagonals (b, c).

    Carry ``(d_{i-1}, d_{i-2}, l1_{i-1})``; with ``l2_i = c / d_{i-2}``, ``l1_i = (b - c l1_{i-1}) / d_{i-1}``
    and ``d_i = a_i - l1_i (b - c l1_{i-1}) - c l2_i``. Leading dimensions of the carry are lanes.
    """
    _, first, second = stencil

    def step(carry, diagonal):
        d_prev, d_prev2, l1_prev = carry
        l2 = second / d_prev2
        coupling = first - second * l1_prev
        l1 = coupling / d_prev
        d = diagonal - l1 * coupling - second * l2
        d = jnp.where(jnp.abs(d) < pivot_floor, -pivot_floor, d)
        return (d, d_prev, l1), (d, l1, l2)

    return step


def _ldl_start(shape, dtype):
    infinite = jnp.full(shape, jnp.inf, dtype)
    return infinite, infinite, jnp.zeros(shape, dtype)


def _count_below(potential, shifts, stencil):
    """Number of eigenvalues of ``T + diag(v)`` below each shift (Sylvester inertia of the LDL^T).

    Args: potential (G,), shifts (L,), stencil (T_ii, T_i,i+1, T_i,i+2). Returns (L,) int32.
    """
    step = _ldl_step(stencil, _pivot_floor(potential.dtype))

    def count_step(carry, diagonal):
        factors, count = carry
        factors, (d, _, _) = step(factors, diagonal - shifts)
        return (factors, count + (d < 0)), None

    start = (_ldl_start(shifts.shape, potential.dtype), jnp.zeros(shifts.shape, jnp.int32))
    (_, count), _ = jax.lax.scan(count_step, start, stencil[0] + potential, unroll=_SCAN_UNROLL)
    return count


def _bisect_lowest(potential, kinetic_values, stencil):
    """Lowest m eigenvalues (m,) of ``T + diag(v)`` by multisection on Sturm counts.

    Brackets start from Weyl's inequalities, ``t_k + min v <= e_k <= t_k + max v`` with ``t_k`` the
    eigenvalues of T (``kinetic_values``, (m,)), and shrink 32-fold per round until they are as narrow
    as the rounding of their ends allows (about 11 rounds on the paper grid).
    """
    dtype = potential.dtype
    n_states = kinetic_values.shape[0]
    kinetic_values = jnp.asarray(kinetic_values, dtype)
    spread = 1e-12 * (1.0 + jnp.max(jnp.abs(potential)))  # margin for the rounding of t_k and of v
    lo = kinetic_values + jnp.min(potential) - spread
    hi = kinetic_values + jnp.max(potential) + spread
    index = jnp.arange(n_states)
    fractions = jnp.arange(1, _SECTIONS + 1, dtype=dtype) / (_SECTIONS + 1)
    tolerance = 4 * np.finfo(dtype).eps

    def unfinished(bracket):
        lo, hi = bracket
        return jnp.any(hi - lo > tolerance * jnp.maximum(jnp.abs(lo), jnp.abs(hi)) + np.finfo(dtype).tiny)

    def narrow(bracket):
        lo, hi = bracket
        shifts = lo[:, None] + (hi - lo)[:, None] * fractions  # (m, S)
        counts = _count_below(potential, shifts.reshape(-1), stencil).reshape(shifts.shape)
        below = counts <= index[:, None]  # at most k eigenvalues below: a new lower end for state k
        new_lo = jnp.max(jnp.where(below, shifts, -jnp.inf), axis=1)
        new_hi = jnp.min(jnp.where(below, jnp.inf, shifts), axis=1)
        return jnp.maximum(lo, new_lo), jnp.minimum(hi, new_hi)

    lo, hi = jax.lax.while_loop(unfinished, narrow, (lo, hi))
    return 0.5 * (lo + hi)


def _ldl_factor(potential, shifts, stencil):
    """LDL^T factors of ``T + diag(v) - shift`` for each shift: d, l1, l2, each (G, L)."""
    step = _ldl_step(stencil, _pivot_floor(potential.dtype))
    diagonal = (stencil[0] + potential)[:, None] - shifts[None, :]
    _, factors = jax.lax.scan(step, _ldl_start(shifts.shape, potential.dtype), diagonal, unroll=_SCAN_UNROLL)
    return factors


def _ldl_solve(factors, rhs):
    """Solve ``L D L^T x = rhs`` column by column; factors from ``_ldl_factor``, rhs (G, L) -> (G, L)."""
    d, l1, l2 = factors
    zero = jnp.zeros(rhs.shape[1:], rhs.dtype)

    def forward(carry, row):
        y_prev, y_prev2 = carry
        r, l1_i, l2_i = row
        y = r - l1_i * y_prev - l2_i * y_prev2
        return (y, y_prev), y

    _, y = jax.lax.scan(forward, (zero, zero), (rhs, l1, l2), unroll=_SCAN_UNROLL)
    z = y / d
    # Backward: x_i = z_i - l1_{i+1} x_{i+1} - l2_{i+2} x_{i+2}.
    l1_next = jnp.concatenate([l1[1:], jnp.zeros_like(l1[:1])])
    l2_next2 = jnp.concatenate([l2[2:], jnp.zeros_like(l2[:2])])

    def backward(carry, row):
        x_next, x_next2 = carry
        z_i, l1_n, l2_n2 = row
        x = z_i - l1_n * x_next - l2_n2 * x_next2
        return (x, x_next), x

    _, x = jax.lax.scan(backward, (zero, zero), (z, l1_next, l2_next2), reverse=True, unroll=_SCAN_UNROLL)
    return x


def _orthonormalize(vectors):
    """Gram-Schmidt (twice) of the columns of (G, m) in order, then unit norm."""
    columns = []
    for k in range(vectors.shape[1]):
        v = vectors[:, k]
        for _ in range(2):
            for u in columns:
                v = v - u * jnp.dot(u, v)
        columns.append(v / jnp.linalg.norm(v))
    return jnp.stack(columns, axis=1)


def _fix_signs(vectors):
    """Make the largest-magnitude entry of each column (G, m) positive."""
    peak = vectors[jnp.argmax(jnp.abs(vectors), axis=0), jnp.arange(vectors.shape[1])]
    return vectors * jnp.where(peak >= 0, 1.0, -1.0).astype(vectors.dtype)


def device_eigenpairs(potential, stencil, kinetic_values):
    """Lowest eigenpairs of ``T + diag(v)`` with JAX operations only (forward, no derivative).

    Eigenvalues by multisection on Sturm counts (``_bisect_lowest``), eigenvectors by inverse iteration
    with the LDL^T factors at each eigenvalue, orthogonalized in order (near-degenerate pairs).

    Args: potential (G,), stencil (T_ii, T_i,i+1, T_i,i+2), kinetic_values: lowest m eigenvalues of T.
    Returns: values (m,), vectors (G, m), and the LDL^T factors at the eigenvalues (for the VJP).
    """
    n_states = kinetic_values.shape[0]
    values = _bisect_lowest(potential, kinetic_values, stencil)
    factors = _ldl_factor(potential, values, stencil)
    start = jnp.asarray(_start_vector(potential.shape[0]), potential.dtype)
    vectors = jnp.broadcast_to(start[:, None], (potential.shape[0], n_states))
    for _ in range(_DEVICE_INVERSE_ITERATIONS):
        vectors = _orthonormalize(_ldl_solve(factors, vectors))
    return values, _fix_signs(vectors), factors


def _device_vjp(factors, values, vectors, values_bar, vectors_bar):
    """Cotangent of the potential, (G,): ``sum_k [e_bar_k psi_k^2 - psi_k * (R_k psi_bar_k)]`` as on the host.

    ``R_k`` = computed states through the inverse gaps (zero for degenerate pairs) + the rest of the
    spectrum through ``Q (H - e_k)^{-1} Q`` with the LDL^T factors at ``e_k``.
    """
    overlaps = vectors.T @ vectors_bar  # (m, m): [j, k] = psi_j . psi_bar_k
    gaps = values[:, None] - values[None, :]  # [j, k] = e_j - e_k
    safe = jnp.where(jnp.abs(gaps) > _DEGENERACY_TOLERANCE, gaps, 1.0)
    inverse_gaps = jnp.where(jnp.abs(gaps) > _DEGENERACY_TOLERANCE, 1.0 / safe, 0.0)
    inside = vectors @ (inverse_gaps * overlaps)  # (G, m)
    projected = vectors_bar - vectors @ overlaps
    outside = _ldl_solve(factors, projected)
    for _ in range(2):
        outside = outside - vectors @ (vectors.T @ outside)
    return (vectors**2) @ values_bar - jnp.sum(vectors * (inside + outside), axis=1)


@functools.lru_cache(maxsize=None)
def _device_solver(num_points: int, spacing: float, n_states: int):
    """Differentiable device solver for one grid and state count (cached: stable identity for jit)."""
    grid = Grid(num_points, spacing)
    stencil = kinetic_stencil(grid)
    kinetic_values = np.linalg.eigvalsh(kinetic_matrix(grid))[:n_states]

    @jax.custom_vjp
    def solve(potential):
        values, vectors, _ = device_eigenpairs(potential, stencil, kinetic_values)
        return values, vectors

    def forward(potential):
        values, vectors, factors = device_eigenpairs(potential, stencil, kinetic_values)
        return (values, vectors), (factors, values, vectors)

    def backward(residuals, cotangents):
        factors, values, vectors = residuals
        return (_device_vjp(factors, values, vectors, *cotangents),)

    solve.defvjp(forward, backward)
    return solve
