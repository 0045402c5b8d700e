"""Neural XC functionals (sksr.functionals.neural): shapes, counts, physics of the pieces, gradients, I/O.

No SCF here: everything acts on fixed, physically shaped densities on tiny grids.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sksr
from sksr.core.hamiltonian import interaction_matrix
from sksr.functionals import neural as nn

GRID = sksr.Grid(num_points=33, spacing=0.6)


def _densities(grid=GRID, n_up=2.0, n_dn=1.0):
    """Two smooth, normalized spin densities (1/bohr), shapes (G,)."""
    x = grid.coordinates
    up = np.exp(-0.5 * (x - 0.4) ** 2)
    dn = np.exp(-0.3 * (x + 0.3) ** 2)
    up *= n_up / grid.integrate(up)
    dn *= n_dn / grid.integrate(dn)
    return jnp.asarray(up), jnp.asarray(dn)


def _xc_energy(spec, params, grid, n_up, n_dn):
    eps = nn.build_xc(spec, params, grid)(n_up, n_dn)
    return grid.spacing * jnp.sum((n_up + n_dn) * eps)


@pytest.mark.parametrize("kind, count", [("lsda", 560), ("gga", 576), ("global", 1559)])
def test_parameter_counts_match_the_paper(kind, count):
    assert nn.count_parameters(nn.init_params(nn.NeuralXCSpec(kind), 0)) == count
    gated = nn.NeuralXCSpec(kind, self_interaction_gate=True)
    assert nn.count_parameters(nn.init_params(gated, 0)) == count + 1 == gated.parameter_count


def test_init_is_fixed_by_the_seed():
    spec = nn.NeuralXCSpec("global", self_interaction_gate=True)
    a, b, c = nn.init_params(spec, 7), nn.init_params(spec, 7), nn.init_params(spec, 8)
    for name in a:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]))
    assert not np.array_equal(np.asarray(a["conv_0"]), np.asarray(c["conv_0"]))
    assert all(v.dtype == jnp.float64 for v in a.values())
    with pytest.raises(ValueError, match="seed"):
        nn.init_params(spec, -1)


@pytest.mark.parametrize("kind", nn.MODEL_KINDS)
def test_eps_shape_dtype_and_zero_density(kind):
    spec = nn.NeuralXCSpec(kind)
    xc = nn.build_xc(spec, nn.init_params(spec, 3), GRID)
    n_up, n_dn = _densities()
    eps = xc(n_up, n_dn)
    assert eps.shape == (GRID.num_points,) and eps.dtype == jnp.float64
    assert np.all(np.isfinite(eps))
    # Bias-free layers and eps = -swish(z): no density, no XC energy density (pointwise models exactly).
    zero = jnp.zeros(GRID.num_points)
    if kind != "global":
        np.testing.assert_array_equal(np.asarray(xc(zero, zero)), 0.0)
    else:
        assert np.max(np.abs(xc(zero, zero))) == 0.0


@pytest.mark.parametrize("kind", nn.MODEL_KINDS)
def test_float32_network_agrees_with_float64(kind):
    n_up, n_dn = _densities()
    params = nn.init_params(nn.NeuralXCSpec(kind), 5)
    eps64 = nn.build_xc(nn.NeuralXCSpec(kind), params, GRID)(n_up, n_dn)
    eps32 = nn.build_xc(nn.NeuralXCSpec(kind, network_float32=True), params, GRID)(n_up, n_dn)
    assert eps32.dtype == jnp.float64  # cast back for the float64 KS machinery
    assert not np.array_equal(np.asarray(eps32), np.asarray(eps64))  # really computed in float32
    np.testing.assert_allclose(eps32, eps64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_points, spacing", [(129, 0.3), (513, 0.08), (33, 0.25)])
def test_exponential_smoothing_matches_kernel_matrices(num_points, spacing):
    """Blocked smoothing == h sum_j exp(-|x_i - x_j|/w)/(2w) f_j with explicit matrices (float64)."""
    grid = sksr.Grid(num_points, spacing)
    spins = jnp.stack(_densities(grid))
    eta = jnp.asarray([-4.0, -2.0, -0.5, 0.0, 0.7, 2.0, 4.0])
    fast = nn.exponential_smoothing(spins, eta, grid.spacing)
    dense = jnp.einsum("kij,sj->ski", nn.global_kernels(eta, grid.coordinates, grid.spacing), spins)
    np.testing.assert_allclose(fast, dense, rtol=0, atol=1e-14 * float(jnp.max(dense)))
    # A constant far from the walls is reproduced (the kernel is normalized): check the centre.
    flat = nn.exponential_smoothing(jnp.ones((1, grid.num_points)), eta, grid.spacing)
    widths = np.asarray(nn.global_widths(eta))
    centre = grid.num_points // 2
    # Finite geometric sum: h/(2w) (1 + 2 sum_{m=1}^{M} lam^m), lam = exp(-h/w), M = (G-1)/2.
    lam, m = np.exp(-grid.spacing / widths), centre
    expected = grid.spacing / (2 * widths) * (1 + 2 * lam * (1 - lam**m) / (1 - lam))
    np.testing.assert_allclose(flat[0, :, centre], expected, rtol=1e-10)


@pytest.mark.parametrize("grid", [sksr.PAPER_GRID, sksr.Grid(65, 2.0)], ids=["paper", "wide"])
def test_float32_smoothing_matches_float64_kernels(grid):
    """float32 smoothing (no overflow even where exp(x/w_min) would be e^640) == float64 dense kernels
    to float32 rounding, values and gradients with respect to the densities and the widths."""
    spins = jnp.stack(_densities(grid))
    eta = jnp.asarray([-4.0, -2.0, -0.5, 0.0, 0.7, 2.0, 4.0])
    kernels = nn.global_kernels(eta, grid.coordinates, grid.spacing)
    dense = jnp.einsum("kij,sj->ski", kernels, spins)
    fast = nn.exponential_smoothing(spins.astype(jnp.float32), eta, grid.spacing)
    assert fast.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(fast)))
    scale = float(jnp.max(dense))
    np.testing.assert_allclose(np.asarray(fast, np.float64), dense, rtol=0, atol=3e-7 * scale)
    weights = jnp.asarray(np.random.default_rng(1).standard_normal(dense.shape))

    def objective(f, e, smooth):
        return jnp.sum(weights.astype(f.dtype) * smooth(f, e) ** 2)

    exact = jax.grad(objective, argnums=(0, 1))(
        spins, eta, lambda f, e: jnp.einsum("kij,sj->ski", nn.global_kernels(e, grid.coordinates, grid.spacing), f)
    )
    approx = jax.grad(objective, argnums=(0, 1))(
        spins.astype(jnp.float32), eta.astype(jnp.float32), lambda f, e: nn.exponential_smoothing(f, e, grid.spacing)
    )
    for a, b in zip(approx, exact):
        np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=0, atol=2e-6 * float(jnp.max(jnp.abs(b))))


def test_global_network_matches_dense_kernels_in_both_precisions():
    spec = nn.NeuralXCSpec("global")
    params = nn.init_params(spec, 1)
    n_up, n_dn = _densities()
    smoothing = nn.global_kernels(params["global_eta"], GRID.coordinates, GRID.spacing)
    for float32, tol in ((False, 1e-12), (True, 1e-5)):
        spec = nn.NeuralXCSpec("global", network_float32=float32)
        xc = nn.build_xc(spec, params, GRID)
        assert xc.func is nn._global_eps
        dtype = jnp.float32 if float32 else jnp.float64
        kernels = tuple(params[k].astype(dtype) for k in ("conv_0", "conv_1", "conv_out"))
        dense = nn._global_eps_dense(kernels, smoothing, n_up, n_dn)
        np.testing.assert_allclose(xc(n_up, n_dn), dense, rtol=tol, atol=tol * 1e-3)
    wide = sksr.Grid(65, 2.0)  # half extent 64 bohr: the former cumulative-sum form overflowed here
    for float32 in (False, True):
        xc = nn.build_xc(nn.NeuralXCSpec("global", network_float32=float32), params, wide)
        assert np.all(np.isfinite(xc(*_densities(wide))))


def test_gradient_feature_central_and_one_sided():
    x = GRID.coordinates
    n = jnp.asarray(x**2)  # dn/dx = 2x: central differences exact inside
    feature = np.asarray(nn.density_gradient_feature(n, GRID.spacing))
    np.testing.assert_allclose(feature[1:-1], np.abs(x[1:-1]), rtol=1e-12)
    h = GRID.spacing
    assert feature[0] == pytest.approx(0.5 * abs((x[1] ** 2 - x[0] ** 2) / h))
    assert feature[-1] == pytest.approx(0.5 * abs((x[-1] ** 2 - x[-2] ** 2) / h))


def test_self_interaction_gate_is_exact_for_one_electron():
    """N = 1: beta = 1, so E_xc = -E_H whatever the network."""
    spec = nn.NeuralXCSpec("gga", self_interaction_gate=True)
    params = nn.init_params(spec, 2)
    n_up, n_dn = _densities(n_up=1.0, n_dn=0.0)
    n_dn = jnp.zeros_like(n_dn)
    e_xc = _xc_energy(spec, params, GRID, n_up, n_dn)
    v = interaction_matrix(GRID)
    e_hartree = 0.5 * GRID.spacing**2 * n_up @ v @ n_up
    assert float(e_xc) == pytest.approx(-float(e_hartree), rel=1e-12)
    # Two electrons: beta = exp(-1) for w = 1, a mixture; moving w moves E_xc.
    n_up, n_dn = _densities(n_up=1.0, n_dn=1.0)
    wider = dict(params, si_log_width=jnp.asarray(0.5))
    assert float(_xc_energy(spec, params, GRID, n_up, n_dn)) != float(
        _xc_energy(spec, wider, GRID, n_up, n_dn)
    )


@pytest.mark.parametrize("kind, gate", [("lsda", False), ("gga", True), ("global", True)])
def test_xc_energy_gradient_matches_finite_differences(kind, gate):
    """dE_xc/dparams (float64) against central differences along random directions."""
    spec = nn.NeuralXCSpec(kind, self_interaction_gate=gate)
    params = nn.init_params(spec, 11)
    n_up, n_dn = _densities()
    vector = jnp.asarray(nn.flatten_params(spec, params))

    def energy(v):
        return _xc_energy(spec, nn.unflatten_params(spec, v), GRID, n_up, n_dn)

    gradient = jax.grad(energy)(vector)
    rng = np.random.default_rng(0)
    for _ in range(2):
        direction = rng.normal(size=vector.shape)
        step = 1e-5
        fd = (energy(vector + step * direction) - energy(vector - step * direction)) / (2 * step)
        assert float(gradient @ direction) == pytest.approx(float(fd), rel=1e-7, abs=1e-12)


def test_xc_potential_matches_finite_differences():
    """v_xc = (1/h) dE_xc/dn_up by autodiff (as the SCF does) against finite differences."""
    spec = nn.NeuralXCSpec("global")
    params = nn.init_params(spec, 4)
    n_up, n_dn = _densities()
    grad_up = jax.grad(lambda u: _xc_energy(spec, params, GRID, u, n_dn))(n_up)
    for i in (5, 16, 27):
        bump = jnp.zeros_like(n_up).at[i].set(1e-6)
        fd = (
            _xc_energy(spec, params, GRID, n_up + bump, n_dn)
            - _xc_energy(spec, params, GRID, n_up - bump, n_dn)
        ) / 2e-6
        assert float(grad_up[i]) == pytest.approx(float(fd), rel=1e-6)


def test_new_weights_do_not_recompile():
    spec = nn.NeuralXCSpec("global", self_interaction_gate=True)
    traces = []

    @jax.jit
    def energy(xc, n_up, n_dn):
        traces.append(1)
        return jnp.sum((n_up + n_dn) * xc(n_up, n_dn))

    n_up, n_dn = _densities()
    values = [energy(nn.build_xc(spec, nn.init_params(spec, s), GRID), n_up, n_dn) for s in range(3)]
    assert len(traces) == 1
    assert len({float(v) for v in values}) == 3


def test_flatten_round_trip():
    spec = nn.NeuralXCSpec("gga", self_interaction_gate=True)
    params = nn.init_params(spec, 9)
    vector = nn.flatten_params(spec, params)
    assert vector.shape == (577,)
    back = nn.unflatten_params(spec, jnp.asarray(vector))
    for name in params:
        np.testing.assert_array_equal(np.asarray(back[name]), np.asarray(params[name]))


def test_save_and_load_round_trip(tmp_path):
    spec = nn.NeuralXCSpec("global", self_interaction_gate=True, network_float32=True)
    params = nn.init_params(spec, 6)
    npz, js = nn.save_params(tmp_path / "model", spec, params, {"seed": 6})
    assert npz.name == "model.npz" and js.name == "model.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz"]  # no temp files left
    record = json.loads(js.read_text())
    assert record["spec"] == spec.to_dict() and record["parameter_count"] == 1560
    loaded_spec, loaded, metadata = nn.load_params(tmp_path / "model.npz")
    assert loaded_spec == spec and metadata == {"seed": 6}
    for name in params:
        np.testing.assert_array_equal(np.asarray(loaded[name]), np.asarray(params[name]))
    with np.load(npz, allow_pickle=False) as data:  # plain arrays, no pickle
        assert set(data.files) == set(params)


def test_bad_parameters_are_rejected(tmp_path):
    spec = nn.NeuralXCSpec("lsda")
    params = nn.init_params(spec, 0)
    with pytest.raises(ValueError, match="dense_1"):
        nn.build_xc(spec, dict(params, dense_1=jnp.zeros((16, 15))), GRID)
    with pytest.raises(ValueError, match="keys"):
        nn.save_params(tmp_path / "x", nn.NeuralXCSpec("lsda", self_interaction_gate=True), params)
    with pytest.raises(ValueError, match="model kind"):
        nn.NeuralXCSpec("mgga")
