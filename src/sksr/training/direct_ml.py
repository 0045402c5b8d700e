"""The direct machine-learning baseline of the KSR study (docs/physics.md section 11): energies learned
straight from the external potential, with no Kohn-Sham calculation in the loop or at prediction.

The PRL does not record the input of its direct-ML model; this project uses the external potential,
which is what a prediction can be given (the exact density is unknown for a new geometry).

Model (832 parameters, bias-free like the KSR networks):
``E_theta[v] = h * sum_i f_theta(v)_i`` with ``f`` a convolutional network on ``v_ext`` (G,):
3-tap convolution 1 -> 16, swish, 3-tap convolution 16 -> 16, swish, 1x1 convolution 16 -> 1. The energy
is an integral of a learned local energy density of the potential, so it applies to any grid and any
number of nuclei. Kernels He-normal from ``PRNGKey(seed)``.

Loss: ``mean_b (E_theta[v_b] - E_b)^2 / N_b`` (Ha^2 per electron), the energy term of the KSR loss
without the Kohn-Sham iterations. Optimizer: SciPy L-BFGS-B with the training section's budget and
tolerances (``maxfun``, ``m``, ``factr``, ``pgtol``), one run per seed; the seed with the lowest
loss on the validation systems is selected.
"""

from __future__ import annotations

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.flatten_util import ravel_pytree

from sksr.core.grid import Grid
from sksr.core.hamiltonian import external_potential
from sksr.core.systems import System
from sksr.functionals.neural import _conv_same, he_normal_kernel
from sksr.training.settings import lbfgs_options

CHANNELS = 16
SHAPES = {"conv_0": (3, 1, CHANNELS), "conv_1": (3, CHANNELS, CHANNELS), "conv_out": (CHANNELS, 1)}


def potentials(systems: Sequence[System], grid: Grid) -> np.ndarray:
    """External potentials v_ext of the systems, shape (B, G), Ha: the model's input."""
    return np.stack([external_potential(system, grid) for system in systems])


def init_direct_params(seed: int) -> dict[str, jax.Array]:
    """He-normal kernels (``SHAPES``) from ``PRNGKey(seed)``, one key per name (sorted)."""
    keys = jax.random.split(jax.random.PRNGKey(int(seed)), len(SHAPES))
    return {name: he_normal_kernel(key, SHAPES[name]) for key, name in zip(keys, sorted(SHAPES))}


def direct_energy(params: Mapping[str, jax.Array], potential: jax.Array, spacing: float) -> jax.Array:
    """E_theta[v] (Ha) of one potential (G,): ``h * sum_i f_theta(v)_i``."""
    hidden = jax.nn.swish(_conv_same(potential[:, None], params["conv_0"]))
    hidden = jax.nn.swish(_conv_same(hidden, params["conv_1"]))
    return spacing * jnp.sum(hidden @ params["conv_out"])


batch_energies = jax.vmap(direct_energy, in_axes=(None, 0, None))
"""E_theta[v_b] (Ha) of a batch of potentials (B, G) -> (B,)."""


def direct_loss(params, potential: jax.Array, energy: jax.Array, n_electrons: jax.Array, spacing: float):
    """``mean_b (E_theta[v_b] - E_b)^2 / N_b`` over a batch: potentials (B, G), energies and N (B,)."""
    return jnp.mean((batch_energies(params, potential, spacing) - energy) ** 2 / n_electrons)


def fit_direct_ml(train: tuple, validation: tuple, spacing: float, seed: int, settings: Mapping, log=None) -> dict:
    """Train one seed with L-BFGS-B; ``train``/``validation`` are (potentials (B, G), energies (B,), N (B,)).

    ``settings``: ``max_evaluations``, ``lbfgs_history``, ``lbfgs_factr``, ``lbfgs_pgtol``. Returns
    ``{"seed", "params" (numpy), "train_loss", "validation_loss", "evaluations", "message"}``.
    """
    flat, unravel = ravel_pytree(init_direct_params(seed))
    train = tuple(jnp.asarray(a) for a in train)
    validation = tuple(jnp.asarray(a) for a in validation)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: direct_loss(unravel(x), *train, spacing)))
    counter = {"n": 0}

    def evaluate(x):
        loss, grad = value_and_grad(jnp.asarray(x))
        counter["n"] += 1
        if log is not None and counter["n"] % 50 == 0:
            log.info("direct ML seed %d: evaluation %d, training loss %.6e", seed, counter["n"], float(loss))
        return float(loss), np.asarray(grad, dtype=np.float64)

    options = lbfgs_options(
        settings["max_evaluations"], settings["lbfgs_history"], settings["lbfgs_factr"], settings["lbfgs_pgtol"]
    )
    result = scipy.optimize.minimize(evaluate, np.asarray(flat), jac=True, method="L-BFGS-B", options=options)
    params = unravel(jnp.asarray(result.x))
    return {
        "seed": int(seed),
        "params": {k: np.asarray(v) for k, v in params.items()},
        "train_loss": float(result.fun),
        "validation_loss": float(direct_loss(params, *validation, spacing)),
        "evaluations": counter["n"],
        "message": str(result.message),
    }


def direct_predictions(params: Mapping, systems: Sequence[System], grid: Grid) -> dict:
    """The arrays of a predictions file (``sksr.evaluation.prediction_files``): energies (B, 1); densities NaN (none is made)."""
    v = jnp.asarray(potentials(systems, grid))
    energies = batch_energies({k: jnp.asarray(a) for k, a in params.items()}, v, grid.spacing)
    return {
        "names": np.array([s.name for s in systems]),
        "n_electrons": np.array([s.n_electrons for s in systems]),
        "energies": np.asarray(energies, dtype=np.float64)[:, None],
        "densities": np.full((len(systems), 2, grid.num_points), np.nan),
        "spacing": np.float64(grid.spacing),
    }
