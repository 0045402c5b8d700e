"""The Kohn-Sham regularizer (KSR) loss (docs/physics.md section 8).

For a batch of B systems and a K-iteration SCF trajectory:

- energy part, over the kept iterations S (the last ``kept_iterations`` of the K):
  ``L_E = mean_b sum_{k in S} d^(K-1-k) (E_b(k) - E_b,ref)^2 / N_b`` with discount ``d = 0.9``;
- density part, on the final stored (mixed) total density:
  ``L_n = mean_b h sum_i (n_b,i - n_b,i,ref)^2 / N_b``;
- ``L = w L_E + (1 - w) L_n`` with ``w = 0.5``.

Units: ``L_E`` in Ha^2 per electron, ``L_n`` in 1/bohr per electron. Restricted and unrestricted systems
mix freely: the loss only sees total energies and total densities.

The default ``kept_iterations = 1`` keeps only the last iteration, as the published sKSR notebook did;
``kept_iterations = K`` gives the full discounted trajectory loss of the KSR paper. The gradient reaches
the network through all K iterations either way (the last energy depends on every earlier iteration).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp
import numpy as np

from sksr.core.grid import Grid
from sksr.functionals.neural import NeuralXCSpec, build_xc


class References(NamedTuple):
    """Exact reference data for a batch of B systems on G grid points (same order as the SCF batch).

    Attributes:
      energies: (B,) total electronic energies (no E_NN), Ha.
      densities: (B, G) total densities n_up + n_dn, 1/bohr.
      n_electrons: (B,) electron counts N_b.
    """

    energies: jax.Array
    densities: jax.Array
    n_electrons: jax.Array


def make_references(energies, densities, n_electrons, grid: Grid | None = None) -> References:
    """Validate shapes (and, given ``grid``, that ``h sum n = N`` to 1e-6) and build ``References``."""
    energies = np.asarray(energies, dtype=np.float64)
    densities = np.asarray(densities, dtype=np.float64)
    n_electrons = np.asarray(n_electrons, dtype=np.float64)
    if energies.ndim != 1:
        raise ValueError(f"reference energies must have shape (B,), got {energies.shape}")
    batch = energies.shape[0]
    if densities.ndim != 2 or densities.shape[0] != batch:
        raise ValueError(f"reference densities must have shape ({batch}, G), got {densities.shape}")
    if n_electrons.shape != (batch,):
        raise ValueError(f"reference electron counts must have shape ({batch},), got {n_electrons.shape}")
    if not (np.all(np.isfinite(energies)) and np.all(np.isfinite(densities))):
        raise ValueError("reference energies and densities must be finite")
    if grid is not None:
        if densities.shape[1] != grid.num_points:
            raise ValueError(
                f"reference densities have {densities.shape[1]} points, the grid has {grid.num_points}"
            )
        counts = grid.spacing * densities.sum(axis=1)
        bad = np.flatnonzero(np.abs(counts - n_electrons) > 1e-6)
        if bad.size:
            raise ValueError(
                f"reference densities do not integrate to the electron counts for batch entries "
                f"{bad.tolist()}: h*sum(n) = {counts[bad].tolist()}, N = {n_electrons[bad].tolist()}"
            )
    return References(jnp.asarray(energies), jnp.asarray(densities), jnp.asarray(n_electrons))


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """Hyperparameters of the KSR loss.

    Attributes:
      energy_weight: w in ``L = w L_E + (1 - w) L_n`` (0 <= w <= 1).
      discount: d, weight ``d^(K-1-k)`` of iteration k in ``L_E``.
      kept_iterations: number of final iterations in S (1 = only the last; K = the whole trajectory).
    """

    energy_weight: float = 0.5
    discount: float = 0.9
    kept_iterations: int = 1

    def __post_init__(self):
        if not 0.0 <= float(self.energy_weight) <= 1.0:
            raise ValueError(f"energy loss weight must lie in [0, 1], got {self.energy_weight}")
        if not 0.0 < float(self.discount) <= 1.0:
            raise ValueError(f"discount must lie in (0, 1], got {self.discount}")
        if isinstance(self.kept_iterations, bool) or int(self.kept_iterations) != self.kept_iterations:
            raise ValueError(f"kept_iterations must be an integer, got {self.kept_iterations!r}")
        if self.kept_iterations < 1:
            raise ValueError(f"kept_iterations must be >= 1, got {self.kept_iterations}")


class LossParts(NamedTuple):
    """Scalar loss and its two parts (before weighting)."""

    total: jax.Array
    energy: jax.Array
    density: jax.Array


def iteration_weights(num_iterations: int, kept_iterations: int, discount: float) -> np.ndarray:
    """Weights ``d^(K-1-k)`` on the kept (last) iterations, 0 elsewhere; shape (K,)."""
    if kept_iterations > num_iterations:
        raise ValueError(
            f"kept_iterations = {kept_iterations} exceeds the number of SCF iterations K = {num_iterations}"
        )
    k = np.arange(num_iterations)
    weights = discount ** (num_iterations - 1 - k).astype(np.float64)
    weights[: num_iterations - kept_iterations] = 0.0
    return weights


def energy_loss(total_energy, reference_energies, n_electrons, weights) -> jax.Array:
    """``mean_b sum_k weights_k (E_b(k) - E_b,ref)^2 / N_b``.

    Args:
      total_energy: (B, K) energies of the trajectory, Ha.
      reference_energies: (B,) Ha.
      n_electrons: (B,).
      weights: (K,) from ``iteration_weights``.
    Returns:
      scalar, Ha^2.

    With NumPy ``weights`` only the iterations of nonzero weight are read, so the energies of the
    others may be absent (NaN, ``run_scf(..., energy_iterations=...)``).
    """
    if isinstance(weights, np.ndarray):
        kept = np.flatnonzero(weights)
        total_energy, weights = total_energy[:, kept], weights[kept]
    squared = (total_energy - reference_energies[:, None]) ** 2
    return jnp.mean(squared @ jnp.asarray(weights) / n_electrons)


def density_loss(final_density, reference_densities, n_electrons, spacing) -> jax.Array:
    """``mean_b h sum_i (n_b,i - n_b,i,ref)^2 / N_b``; densities (B, G) in 1/bohr, result 1/bohr."""
    return jnp.mean(spacing * jnp.sum((final_density - reference_densities) ** 2, axis=1) / n_electrons)


def ksr_loss(trajectory, references: References, spacing: float, settings: LossSettings) -> LossParts:
    """KSR loss of a trajectory (``total_energy`` (B, K), ``density`` (B, K, 2, G)) against references."""
    num_iterations = trajectory.total_energy.shape[1]
    weights = iteration_weights(num_iterations, settings.kept_iterations, settings.discount)
    e_part = energy_loss(trajectory.total_energy, references.energies, references.n_electrons, weights)
    final_density = trajectory.density[:, -1].sum(axis=1)
    n_part = density_loss(final_density, references.densities, references.n_electrons, spacing)
    w = settings.energy_weight
    return LossParts(total=w * e_part + (1.0 - w) * n_part, energy=e_part, density=n_part)


def make_loss_function(
    spec: NeuralXCSpec,
    grid: Grid,
    batch,
    references: References,
    settings: LossSettings,
    num_iterations: int,
    solver: str = "banded",
    run_scf: Callable | None = None,
    reflection_symmetry: bool = False,
) -> Callable:
    """``params -> LossParts``: build the network's ``xc``, run K SCF iterations, compare with references.

    Pure and differentiable in ``params`` (a dict of arrays); wrap it in ``jax.jit``/``jax.value_and_grad``
    /``jax.vmap`` as needed. ``batch`` comes from ``sksr.ks.scf.prepare_batch`` with the systems in the
    order of ``references``. ``solver`` is the SCF eigensolver (``"banded"`` or ``"dense"``); ``run_scf``
    (``(batch, xc, K) -> trajectory``) replaces ``sksr.ks.scf.run_scf`` when given. ``reflection_symmetry``
    runs the SCF with each system's mirror symmetry enforced (the KSR study, ``sksr.ks.scf.run_scf``).
    """
    if run_scf is None:
        import functools

        from sksr.ks.scf import run_scf as scf_run

        run_scf = functools.partial(
            scf_run, solver=solver, energy_iterations=settings.kept_iterations, reflection_symmetry=reflection_symmetry
        )
    elif reflection_symmetry:
        raise ValueError("reflection_symmetry is an option of the default run_scf; pass it to your run_scf instead")
    num_systems = int(np.shape(references.energies)[0])
    batch_size = int(np.shape(batch.external_potential)[0]) if hasattr(batch, "external_potential") else None
    if batch_size is not None and batch_size != num_systems:
        raise ValueError(f"the SCF batch has {batch_size} systems but the references have {num_systems}")
    if settings.kept_iterations > num_iterations:
        raise ValueError(
            f"kept_iterations = {settings.kept_iterations} exceeds the SCF iterations K = {num_iterations}"
        )

    def loss_function(params) -> LossParts:
        xc = build_xc(spec, params, grid)
        trajectory = run_scf(batch, xc, num_iterations)
        return ksr_loss(trajectory, references, grid.spacing, settings)

    return loss_function
