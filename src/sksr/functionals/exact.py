"""The exact XC functional of one-electron systems: ``E_xc = -E_H`` (no self-interaction).

``eps_xc = -v_H / 2`` with ``v_H,i = h sum_j v(x_i - x_j) n_j`` gives ``E_xc = h sum n eps_xc = -E_H``,
so the Kohn-Sham potential is ``v_ext`` alone and the KS energy is the exact lowest eigenvalue.
"""

from __future__ import annotations

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp

from sksr.core.grid import Grid
from sksr.core.hamiltonian import interaction_matrix


def self_interaction_eps_xc(weighted_interaction, n_up, n_dn):
    """eps_xc = -v_H[n] / 2, shape (G,), Ha; ``weighted_interaction`` is ``h v(x_i - x_j)``, (G, G)."""
    return -0.5 * weighted_interaction @ (n_up + n_dn)


def exact_one_electron(grid: Grid) -> jax.tree_util.Partial:
    """``E_xc = -E_H`` as an ``xc(n_up, n_dn) -> eps_xc`` pytree on ``grid`` (exact for N = 1 only)."""
    return jax.tree_util.Partial(
        self_interaction_eps_xc, jnp.asarray(grid.spacing * interaction_matrix(grid))
    )
