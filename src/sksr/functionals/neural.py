"""Neural exchange-correlation functionals of the sKSR paper (docs/physics.md section 7).

Three networks map the spin densities ``(n_up, n_dn)`` on the grid (1/bohr, shape (G,) each) to the XC
energy per electron ``eps_xc`` (Ha, shape (G,)); ``E_xc = h sum_i n_i eps_xc,i``:

- ``"lsda"``   (560 parameters): pointwise MLP on ``(n_up, n_dn)``, 2 -> 16 -> 16 -> 16 -> 1.
- ``"gga"``    (576 parameters): the same MLP with a third input ``|dn/dx| / 2`` of the total density
  (central differences, one-sided at the two ends).
- ``"global"`` (1559 parameters): 16 channels ``[n_up, n_dn, g_1*n_up .. g_7*n_up, g_1*n_dn .. g_7*n_dn]``,
  ``(g_k*f)_i = h sum_j exp(-|x_i - x_j| / w_k) / (2 w_k) f_j`` over the finite grid with widths
  ``w_k = 0.1 + (2.385345 - 0.1) sigmoid(eta_k)`` (7 trainable ``eta_k`` shared by both spins), then two
  width-3 convolutions 16 -> 16 with swish and a 1x1 convolution 16 -> 1.

All layers are bias-free with swish (SiLU) activations and the output is ``eps_xc = -swish(z)``, so that
``eps_xc = 0`` where the density vanishes. The spin-flip symmetrization and ``v_xc`` (by autodiff) are the
SCF's job (``sksr.ks.scf``); these functions only map spin densities to ``eps_xc``.

The spin-unpolarized networks of the original KSR study (Li et al. 2021; docs/physics.md section 11) see
only the total density ``n = n_up + n_dn`` and serve spin-restricted Kohn-Sham:

- ``"ksr-lda"``    (544 parameters): pointwise MLP on ``n``, 1 -> 16 -> 16 -> 16 -> 1.
- ``"ksr-gga"``    (576 parameters): the same with a width-3 first layer (a convolution over ``n``).
- ``"ksr-global"`` (1567 parameters): 16 channels ``[n, g_1*n .. g_15*n]`` (15 widths ``eta_k``, same
  kernel and width range as above), then the convolutional head of ``"global"``.

Optional self-interaction gate (KSR paper, not in the published sKSR models):
``eps = beta (-v_H / 2) + (1 - beta) eps_net`` with ``beta = exp(-((h sum n - 1) / w)^2)``, ``v_H`` the
Hartree potential of the total density and a trainable width ``w = exp(si_log_width)`` (one extra
parameter; initial ``w = 1``). For one electron it makes ``E_xc = -E_H`` exactly.

Precision. Parameters are always stored and optimized in float64. ``network_float32=True`` evaluates the
whole network in float32 -- inputs, weights, the global smoothing (a blocked exponential filter that
cannot overflow, ``exponential_smoothing``), activations -- and casts ``eps_xc`` back to float64, as the
published runs did (docs/physics.md section 8); the Kohn-Sham machinery stays float64. ``network_float32=False``
runs the same code in float64 (gradient checks against finite differences need it). float32 is faster
on CPU and on accelerators (benchmarks/README_training.md); its rounding in ``v_xc`` (~1e-7 relative) is
noise in the loss and gradient that L-BFGS line searches feel only once the loss is very small.

Parameters are a flat ``dict[str, Array]`` (a pytree; sorted keys fix the flattening order). The ``xc``
callable for the SCF is a ``jax.tree_util.Partial`` of a module-level function whose leaves are the
(possibly cast) weights and grid-dependent arrays, so new weights never force a recompilation.
Serialization is ``.npz`` arrays plus a ``.json`` of hyperparameters, never pickle.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from sksr.core.grid import Grid
from sksr.core.hamiltonian import interaction_matrix
from sksr.functionals import MODEL_LABELS
from sksr.functionals.exact import self_interaction_eps_xc
from sksr.io.atomic import CorruptFileError, atomic_savez, atomic_write_json, read_json, read_npz

MODEL_KINDS = tuple(MODEL_LABELS)  # the registry: sksr.functionals.MODEL_LABELS
HIDDEN_CHANNELS = 16
NUM_GLOBAL_WIDTHS = 7
NUM_KSR_GLOBAL_WIDTHS = 15
GLOBAL_MIN_WIDTH = 0.1  # bohr
GLOBAL_MAX_WIDTH = 2.385345  # bohr (1 / kappa of the exponential interaction)
CONV_WIDTH = 3
FORMAT_VERSION = 1

_Params = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class NeuralXCSpec:
    """Hyperparameters of a neural XC functional (everything except the weights).

    Attributes:
      kind: one of ``MODEL_KINDS``: ``"lsda"``, ``"gga"``, ``"global"`` (sKSR, spin densities) or
        ``"ksr-lda"``, ``"ksr-gga"``, ``"ksr-global"`` (KSR, total density).
      self_interaction_gate: add the trainable self-interaction gate (one extra parameter).
      network_float32: evaluate the network in float32 (parameters stay float64).
    """

    kind: str
    self_interaction_gate: bool = False
    network_float32: bool = False

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        for name in ("self_interaction_gate", "network_float32"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def parameter_count(self) -> int:
        """Number of trainable scalars, counted from ``parameter_shapes`` (the paper: 560 / 576 / 1559)."""
        return int(sum(np.prod(shape, dtype=int) for shape in parameter_shapes(self).values()))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NeuralXCSpec":
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"neural XC spec: unknown keys {sorted(unknown)} (expected {sorted(allowed)})")
        if "kind" not in data:
            raise ValueError("neural XC spec: missing key 'kind'")
        return cls(**data)


# ----------------------------------------------------------------------------------------------------
# Parameter shapes and initialization


def parameter_shapes(spec: NeuralXCSpec) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter array of ``spec``."""
    c = HIDDEN_CHANNELS
    hidden = {"dense_1": (c, c), "dense_2": (c, c), "dense_out": (c, 1)}
    if spec.kind in ("lsda", "gga", "ksr-lda"):
        n_inputs = {"lsda": 2, "gga": 3, "ksr-lda": 1}[spec.kind]
        shapes = {"dense_0": (n_inputs, c), **hidden}
    elif spec.kind == "ksr-gga":
        shapes = {"conv_0": (CONV_WIDTH, 1, c), **hidden}
    else:
        num_widths, n_inputs = (
            (NUM_GLOBAL_WIDTHS, 2 + 2 * NUM_GLOBAL_WIDTHS) if spec.kind == "global"
            else (NUM_KSR_GLOBAL_WIDTHS, 1 + NUM_KSR_GLOBAL_WIDTHS)
        )
        shapes = {
            "global_eta": (num_widths,),
            "conv_0": (CONV_WIDTH, n_inputs, c),
            "conv_1": (CONV_WIDTH, c, c),
            "conv_out": (c, 1),
        }
    if spec.self_interaction_gate:
        shapes["si_log_width"] = ()
    return shapes


def count_parameters(params: Mapping[str, Any]) -> int:
    """Total number of scalars in a parameter dict."""
    return int(sum(np.size(v) for v in params.values()))


GLOBAL_ETA_INIT_STD = 0.01  # eta ~ N(0, 0.01^2): every width starts near 1.24 bohr (published runs)


def he_normal_kernel(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """He-normal init of a dense (in, out) or conv (width, in, out) kernel, as in the published runs.

    Truncated normal (at two standard deviations, rescaled to keep the variance) with variance
    ``2 / fan_in``, ``fan_in = in * width`` (JAX's ``he_normal`` with the input axis -2). float64.
    """
    initializer = jax.nn.initializers.he_normal(in_axis=-2, out_axis=-1, dtype=jnp.float64)
    return initializer(key, shape)


def init_params(spec: NeuralXCSpec, seed: int) -> _Params:
    """Initial parameters for ``spec``; the integer ``seed`` fixes them (bitwise on a given platform).

    The published runs' initialization (docs/physics.md section 8): bias-free kernels He-normal
    (``he_normal_kernel``), global widths ``eta ~ N(0, 0.01^2)``; ``si_log_width`` = 0 (gate width
    w = 1). One independent key per parameter name (sorted names) from ``PRNGKey(seed)``. Threefry keys
    make the numbers the same on every platform; they may change with the JAX version (pinned).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    shapes = parameter_shapes(spec)
    keys = jax.random.split(jax.random.PRNGKey(int(seed)), len(shapes))
    params = {}
    for key, name in zip(keys, sorted(shapes)):
        if name == "global_eta":
            params[name] = GLOBAL_ETA_INIT_STD * jax.random.normal(key, shapes[name], dtype=jnp.float64)
        elif name == "si_log_width":
            params[name] = jnp.zeros((), dtype=jnp.float64)
        else:
            params[name] = he_normal_kernel(key, shapes[name])
    return params


def check_params(spec: NeuralXCSpec, params: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``params`` has exactly the names and shapes of ``spec``."""
    shapes = parameter_shapes(spec)
    if set(params) != set(shapes):
        raise ValueError(
            f"parameters for {spec.kind!r} must have keys {sorted(shapes)}, got {sorted(params)}"
        )
    for name, shape in shapes.items():
        if tuple(np.shape(params[name])) != shape:
            raise ValueError(f"parameter {name!r}: expected shape {shape}, got {np.shape(params[name])}")


# ----------------------------------------------------------------------------------------------------
# Building blocks (pure functions)


def global_widths(eta: jax.Array) -> jax.Array:
    """w_k = 0.1 + (2.385345 - 0.1) sigmoid(eta_k), bohr, shape of ``eta`` (7 or 15 widths)."""
    return GLOBAL_MIN_WIDTH + (GLOBAL_MAX_WIDTH - GLOBAL_MIN_WIDTH) * jax.nn.sigmoid(eta)


def global_kernels(eta: jax.Array, coordinates: np.ndarray, spacing: float) -> jax.Array:
    """Quadrature-weighted exponential kernels ``h exp(-|x_i - x_j| / w_k) / (2 w_k)``, shape (K, G, G)."""
    distance = jnp.abs(jnp.asarray(coordinates)[:, None] - jnp.asarray(coordinates)[None, :])
    widths = global_widths(eta)[:, None, None]
    return spacing * jnp.exp(-distance[None] / widths) / (2.0 * widths)


SMOOTHING_BLOCK = 16  # grid points per block of the blocked exponential smoothing


def _smoothing_operators(step, block: int, num_blocks: int, dtype):
    """Blocked exponential-filter operators for decay ``a_k = exp(-step_k)`` per grid step, entries <= 1.

    Args:
      step: (7,) h / w_k.
      block, num_blocks: b and n_b (static).
    Returns:
      within: (b, 7 b + 14) ``[a^|t-s| for each k | a^(b-1-t) | a^t]``, one matrix for one product;
      carry: (7, n_b, n_b) ``a^(b (B - 1 - B'))`` for B' < B, else 0;
      to_left, to_right: (7, b) ``a^(t+1)`` and ``a^(b-t)``.
    """
    k = step.shape[0]
    step = step[:, None]
    t = jnp.arange(block, dtype=dtype)
    inside = jnp.exp(-step[:, :, None] * jnp.abs(t[:, None] - t[None, :]))  # (7, b, b)
    to_end, from_start = jnp.exp(-step * (block - 1 - t)), jnp.exp(-step * t)  # (7, b)
    within = jnp.concatenate([inside.transpose(1, 0, 2).reshape(block, k * block), to_end.T, from_start.T], 1)
    blocks = jnp.arange(num_blocks, dtype=dtype)
    gap = blocks[:, None] - 1.0 - blocks[None, :]  # B - 1 - B'
    carry = jnp.where(gap >= 0, jnp.exp(-step[:, :, None] * block * jnp.maximum(gap, 0.0)), 0.0)
    return within, carry, jnp.exp(-step * (t + 1)), jnp.exp(-step * (block - t))


def exponential_smoothing(spins: jax.Array, eta: jax.Array, spacing, block: int = SMOOTHING_BLOCK) -> jax.Array:
    """``(g_k * f)_i = h sum_j exp(-|x_i - x_j| / w_k) / (2 w_k) f_j`` in O(G b), in the dtype of ``spins``.

    A blocked two-sided exponential filter: with ``a_k = exp(-h / w_k)`` the kernel is ``a_k^|i - j|``.
    The grid is cut into blocks of ``b`` points (zero padded at the right end); inside a block the
    (b, b) matrix ``a^|t - s|`` acts directly, and the blocks to the left (right) of a block enter
    through one number per block, their sum weighted to the block edge, propagated by a (n_b, n_b)
    matrix of powers ``a^(b m)``. Every factor is a power of ``a <= 1``, so nothing overflows in float32
    or float64 on any grid (the earlier cumulative-sum form needed ``exp(x / w)`` up to e^205 on the paper
    grid); the result agrees with the dense kernels (``global_kernels``) to the rounding of the dtype.
    Forward and backward are a few small matrix products (about 10x cheaper than the dense (7, G, G)
    product in its second derivative, and 2x cheaper than cumulative sums, which XLA CPU lowers to
    O(G^2) reduce-windows).

    Args:
      spins: (S, G) densities, 1/bohr (float32 or float64).
      eta: (K,) width logits (cast to the dtype of ``spins``); K = 7 (sKSR) or 15 (KSR).
      spacing: h, bohr.
      block: b, points per block (static).
    Returns:
      (S, K, G) smoothed densities, 1/bohr, dtype of ``spins``.
    """
    dtype = spins.dtype
    s, g = spins.shape
    num_blocks = -(-g // block)
    widths = global_widths(jnp.asarray(eta).astype(dtype))  # (7,)
    k = widths.shape[0]
    step = jnp.asarray(spacing, dtype) / widths
    within, carry, to_left, to_right = _smoothing_operators(step, block, num_blocks, dtype)
    f = jnp.pad(spins, ((0, 0), (0, num_blocks * block - g))).reshape(s * num_blocks, block)
    product = f @ within  # (S n_b, 7 b + 14)
    inside = product[:, : k * block].reshape(s, num_blocks, k, block)
    edge_right = product[:, k * block : k * block + k].reshape(s, num_blocks, k)  # weighted to block end
    edge_left = product[:, k * block + k :].reshape(s, num_blocks, k)  # weighted to block start
    from_left = jnp.einsum("kBC,sCk->sBk", carry, edge_right)  # blocks B' < B, weighted to B's start - 1
    from_right = jnp.einsum("kCB,sCk->sBk", carry, edge_left)  # blocks B' > B, weighted to B's end + 1
    total = inside + to_left * from_left[..., None] + to_right * from_right[..., None]  # (S, n_b, 7, b)
    total = total.transpose(0, 2, 1, 3).reshape(s, k, num_blocks * block)[:, :, :g]
    return (jnp.asarray(spacing, dtype) / (2.0 * widths))[None, :, None] * total


def density_gradient_feature(n_total: jax.Array, spacing) -> jax.Array:
    """``|dn/dx| / 2`` by central differences (one-sided at both ends), shape (G,), 1/bohr^2."""
    interior = (n_total[2:] - n_total[:-2]) / (2.0 * spacing)
    first = (n_total[1:2] - n_total[0:1]) / spacing
    last = (n_total[-1:] - n_total[-2:-1]) / spacing
    return 0.5 * jnp.abs(jnp.concatenate([first, interior, last]))


def _output_eps(z: jax.Array) -> jax.Array:
    """Soft negativity: eps_xc = -swish(z)."""
    return -jax.nn.silu(z)


def _pointwise_mlp(kernels: tuple[jax.Array, ...], features: jax.Array) -> jax.Array:
    """Bias-free MLP with swish: features (G, F) -> eps (G,); kernels (F, 16), (16, 16), ..., (16, 1)."""
    x = features
    for kernel in kernels[:-1]:
        x = jax.nn.silu(x @ kernel)
    return _output_eps((x @ kernels[-1])[:, 0])


def _conv_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Bias-free 1D convolution, zero padded ('same'): x (G, C_in), kernel (W, C_in, C_out) -> (G, C_out).

    Tap t of the kernel multiplies ``x[i + t - (W - 1)/2]``. Computed as one (G, W*C_in) @ (W*C_in, C_out)
    product of the shifted copies (im2col): on CPU about 1.4x faster than three products and 2.5x faster
    than ``lax.conv_general_dilated`` for these 16-channel layers, forward and backward.
    """
    width = kernel.shape[0]
    half = (width - 1) // 2
    g = x.shape[0]
    padded = jnp.pad(x, ((half, half), (0, 0)))
    columns = jnp.concatenate([padded[t : t + g] for t in range(width)], axis=1)
    return columns @ kernel.reshape(-1, kernel.shape[-1])


# ----------------------------------------------------------------------------------------------------
# eps_xc functions (module level, so that the Partial's static part is stable across weights)


def _lsda_eps(kernels, n_up, n_dn):
    """sKSR-LSDA: eps (G,) from n_up, n_dn (G,); computed in the kernels' dtype, returned in n_up's."""
    dtype = kernels[0].dtype
    features = jnp.stack([n_up, n_dn], axis=-1).astype(dtype)
    return _pointwise_mlp(kernels, features).astype(n_up.dtype)


def _gga_eps(kernels, spacing, n_up, n_dn):
    """sKSR-GGA: eps (G,) from n_up, n_dn and |dn/dx|/2 of the total density (all in the kernels' dtype)."""
    dtype = kernels[0].dtype
    up, dn = n_up.astype(dtype), n_dn.astype(dtype)
    gradient = density_gradient_feature(up + dn, jnp.asarray(spacing, dtype))
    features = jnp.stack([up, dn, gradient], axis=-1)
    return _pointwise_mlp(kernels, features).astype(n_up.dtype)


def _global_network(conv_kernels, spins, smoothed):
    """Convolutional head of the global models: densities (S, G) and their smoothings (S, K, G) -> eps (G,).

    Channels ``[spins..., smoothed of spin 0 (K), smoothed of spin 1 (K)]`` (S = 2, K = 7 for sKSR-global;
    S = 1, K = 15 for KSR-global); computed in the kernels' dtype.
    """
    dtype = conv_kernels[0].dtype
    channels = jnp.concatenate([spins, smoothed.reshape(-1, smoothed.shape[-1])], axis=0).T.astype(dtype)
    conv_0, conv_1, conv_out = conv_kernels
    x = jax.nn.silu(_conv_same(channels, conv_0))
    x = jax.nn.silu(_conv_same(x, conv_1))
    return _output_eps((x @ conv_out)[:, 0])


def _global_eps(conv_kernels, eta, spacing, n_up, n_dn):
    """sKSR-global: eps (G,). Smoothing and network in the kernels' dtype (float32 or float64)."""
    dtype = conv_kernels[0].dtype
    spins = jnp.stack([n_up, n_dn]).astype(dtype)  # (2, G)
    smoothed = exponential_smoothing(spins, eta, spacing)  # (2, 7, G)
    return _global_network(conv_kernels, spins, smoothed).astype(n_up.dtype)


def _global_eps_dense(conv_kernels, smoothing, n_up, n_dn):
    """sKSR-global with explicit (7, G, G) kernel matrices ``smoothing`` (reference for tests)."""
    dtype = conv_kernels[0].dtype
    spins = jnp.stack([n_up, n_dn]).astype(dtype)  # (2, G)
    smoothed = jnp.einsum("kij,sj->ski", smoothing.astype(dtype), spins)  # (2, 7, G)
    return _global_network(conv_kernels, spins, smoothed).astype(n_up.dtype)


def _ksr_lda_eps(kernels, n_up, n_dn):
    """KSR-LDA: eps (G,) from the total density alone (pointwise MLP), in the kernels' dtype."""
    n_total = (n_up + n_dn).astype(kernels[0].dtype)
    return _pointwise_mlp(kernels, n_total[:, None]).astype(n_up.dtype)


def _ksr_gga_eps(kernels, n_up, n_dn):
    """KSR-GGA: a width-3 convolution over the total density, then the pointwise MLP; eps (G,)."""
    n_total = (n_up + n_dn).astype(kernels[0].dtype)
    x = jax.nn.silu(_conv_same(n_total[:, None], kernels[0]))
    return _pointwise_mlp(kernels[1:], x).astype(n_up.dtype)


def _ksr_global_eps(conv_kernels, eta, spacing, n_up, n_dn):
    """KSR-global: eps (G,) from the total density and its 15 exponential smoothings."""
    n_total = (n_up + n_dn).astype(conv_kernels[0].dtype)[None]  # (1, G)
    smoothed = exponential_smoothing(n_total, eta, spacing)  # (1, 15, G)
    return _global_network(conv_kernels, n_total, smoothed).astype(n_up.dtype)


def _gated_eps(log_width, spacing, weighted_interaction, network_xc, n_up, n_dn):
    """Self-interaction gate: beta (-v_H/2) + (1 - beta) eps_net, beta = exp(-((h sum n - 1)/w)^2)."""
    n_electrons = spacing * jnp.sum(n_up + n_dn)
    beta = jnp.exp(-(((n_electrons - 1.0) / jnp.exp(log_width)) ** 2))
    exact_one_electron = self_interaction_eps_xc(weighted_interaction, n_up, n_dn)
    return beta * exact_one_electron + (1.0 - beta) * network_xc(n_up, n_dn)


def build_xc(spec: NeuralXCSpec, params: Mapping[str, jax.Array], grid: Grid) -> Partial:
    """The ``xc(n_up, n_dn) -> eps_xc`` callable for the SCF, a ``Partial`` whose leaves carry ``params``.

    Differentiable (and jittable) with respect to ``params``; call it inside the loss function. With
    ``spec.network_float32`` the whole network (inputs, weights, the global smoothing, activations) runs
    in float32 and only ``eps_xc`` is cast back to float64, as in the published runs.

    Args:
      spec: network hyperparameters.
      params: dict of arrays with the names/shapes of ``parameter_shapes(spec)``.
      grid: the grid the densities live on.
    Returns:
      ``Partial``; ``xc(n_up (G,), n_dn (G,)) -> eps_xc (G,)`` in Ha, float64.
    """
    check_params(spec, params)
    dtype = jnp.float32 if spec.network_float32 else jnp.float64
    spacing = jnp.asarray(grid.spacing, dtype=jnp.float64)
    def cast(*names):
        return tuple(params[name].astype(dtype) for name in names)

    mlp = ("dense_0", "dense_1", "dense_2", "dense_out")
    if spec.kind in ("lsda", "ksr-lda"):
        network = Partial(_lsda_eps if spec.kind == "lsda" else _ksr_lda_eps, cast(*mlp))
    elif spec.kind == "gga":
        network = Partial(_gga_eps, cast(*mlp), spacing)
    elif spec.kind == "ksr-gga":
        network = Partial(_ksr_gga_eps, cast("conv_0", *mlp[1:]))
    else:
        function = _global_eps if spec.kind == "global" else _ksr_global_eps
        network = Partial(function, cast("conv_0", "conv_1", "conv_out"), *cast("global_eta"), spacing.astype(dtype))
    if not spec.self_interaction_gate:
        return network
    weighted_interaction = jnp.asarray(grid.spacing * interaction_matrix(grid))
    return Partial(_gated_eps, params["si_log_width"], spacing, weighted_interaction, network)


# ----------------------------------------------------------------------------------------------------
# Serialization: <stem>.npz (arrays) + <stem>.json (hyperparameters), written atomically


def params_paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """(``stem.npz``, ``stem.json``) for a parameter file stem (a trailing .npz/.json is ignored)."""
    stem = Path(stem)
    if stem.suffix in (".npz", ".json"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def save_params(
    stem: str | os.PathLike, spec: NeuralXCSpec, params: Mapping[str, Any], metadata: Mapping | None = None
) -> tuple[Path, Path]:
    """Save ``params`` to ``stem.npz`` and hyperparameters (+ ``metadata``) to ``stem.json``, atomically.

    The .npz is written first and the .json last, so a complete .json implies a complete .npz.
    """
    check_params(spec, params)
    npz_path, json_path = params_paths(stem)
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    atomic_savez(npz_path, arrays)
    record = {
        "format_version": FORMAT_VERSION,
        "spec": spec.to_dict(),
        "parameter_count": count_parameters(arrays),
        "shapes": {name: list(a.shape) for name, a in sorted(arrays.items())},
        "metadata": dict(metadata or {}),
    }
    atomic_write_json(json_path, record)
    return npz_path, json_path


def _checked_record(json_path: Path) -> tuple[dict, NeuralXCSpec]:
    """The JSON side of a parameter file: format, spec, and the recorded shapes and count of ``spec``."""
    record = read_json(json_path)
    if not isinstance(record, dict):
        raise CorruptFileError(json_path, "not a JSON object")
    if record.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path}: unsupported format_version {record.get('format_version')!r}")
    try:
        spec = NeuralXCSpec.from_dict(record["spec"])
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(json_path, f"bad spec: {error}") from error
    expected = {name: list(shape) for name, shape in parameter_shapes(spec).items()}
    if record.get("shapes") != expected:
        raise ValueError(f"{json_path}: 'shapes' {record.get('shapes')!r} do not match the {spec.kind!r} model {expected}")
    if record.get("parameter_count") != spec.parameter_count:
        raise ValueError(
            f"{json_path}: 'parameter_count' {record.get('parameter_count')!r} is not {spec.parameter_count}"
        )
    return record, spec


def _checked_arrays(npz_path: Path, spec: NeuralXCSpec) -> _Params:
    """The arrays of a parameter file: real floating point, finite, exactly the names and shapes of ``spec``."""
    arrays = read_npz(npz_path)
    try:
        check_params(spec, arrays)
    except ValueError as error:
        raise ValueError(f"{npz_path}: {error}") from None
    for name, array in arrays.items():
        if array.dtype.kind != "f":
            raise ValueError(f"{npz_path}: parameter {name!r} has dtype {array.dtype}, expected real floating point")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{npz_path}: parameter {name!r} holds {int(np.sum(~np.isfinite(array)))} non-finite values")
    return {name: jnp.asarray(array, dtype=jnp.float64) for name, array in arrays.items()}


def load_params(stem: str | os.PathLike) -> tuple[NeuralXCSpec, _Params, dict]:
    """Inverse of ``save_params``: (spec, params as float64 jax arrays, metadata).

    Refuses (ValueError naming the file) anything ``save_params`` would not have written: unreadable files,
    a JSON whose ``shapes`` or ``parameter_count`` disagree with the model or the arrays, arrays of another
    name set or shape, integer / complex / non-numeric dtypes, NaN or infinite values.
    """
    npz_path, json_path = params_paths(stem)
    record, spec = _checked_record(json_path)
    params = _checked_arrays(npz_path, spec)
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CorruptFileError(json_path, "'metadata' is not a JSON object")
    return spec, params, metadata


# ----------------------------------------------------------------------------------------------------
# Flat parameter vectors (for optimizers working on R^P); order: sorted names, C order within arrays


def flatten_params(spec: NeuralXCSpec, params: Mapping[str, Any]) -> np.ndarray:
    """Parameters as one float64 vector, shape (P,), names in sorted order."""
    check_params(spec, params)
    return np.concatenate([np.asarray(params[name], dtype=np.float64).ravel() for name in sorted(params)])


def unflatten_params(spec: NeuralXCSpec, vector) -> _Params:
    """Inverse of ``flatten_params``; works on traced arrays (jit/vmap/grad), vector shape (P,)."""
    shapes = parameter_shapes(spec)
    if vector.shape != (spec.parameter_count,):
        raise ValueError(f"parameter vector must have shape ({spec.parameter_count},), got {vector.shape}")
    params, start = {}, 0
    for name in sorted(shapes):
        size = int(np.prod(shapes[name], dtype=int))
        params[name] = vector[start : start + size].reshape(shapes[name])
        start += size
    return params
