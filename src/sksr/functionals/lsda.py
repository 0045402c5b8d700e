"""LSDA for the exponential interaction (docs/physics.md section 6; Baker et al., PRB 91, 235141 (2015)).

With ``y = pi n / kappa``:
- exchange per particle of the unpolarized gas ``eps_x = (A / 2 pi) [ln(1 + y^2)/y - 2 arctan(y)]``,
  spin-scaled per length ``e_x(n_up, n_dn) = n_up eps_x(2 n_up) + n_dn eps_x(2 n_dn)``;
- correlation per length ``e_c = -(A kappa / pi^2) y^2 / D(y)`` for the unpolarized and the fully
  polarized gas, interpolated as ``e_c^u + zeta^2 (e_c^p - e_c^u)``.
"""

from __future__ import annotations

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp

from sksr.core.constants import EXPONENTIAL_AMPLITUDE as A
from sksr.core.constants import EXPONENTIAL_KAPPA as KAPPA

# Coefficients (alpha, beta, gamma, delta, eta, sigma, nu) of D(y).
CORRELATION_UNPOLARIZED = (2.0, -1.00077, 6.26099, -11.9041, 9.62614, -1.48334, 1.0)
CORRELATION_POLARIZED = (180.891, -541.124, 651.615, -356.504, 88.0733, -4.32708, 8.0)

_SERIES_BELOW = 1e-3  # y below which the exchange uses its Taylor series
_TINY_DENSITY = 1e-30  # 1/bohr; below this the energy density is set to exactly 0


def _scaled_density(density):
    """y = pi n / kappa (dimensionless)."""
    return jnp.pi * density / KAPPA


def exchange_per_particle_unpolarized(density):
    """eps_x(n) of the unpolarized gas, Ha per electron; density (...,) in 1/bohr."""
    y = _scaled_density(density)
    small = y < _SERIES_BELOW
    y_safe = jnp.where(small, 1.0, y)  # keeps both branches finite under autodiff
    closed = jnp.log1p(y_safe**2) / y_safe - 2.0 * jnp.arctan(y_safe)
    series = -y + y**3 / 6.0
    return A / (2.0 * jnp.pi) * jnp.where(small, series, closed)


def exchange_per_length(n_up, n_dn):
    """e_x(n_up, n_dn) = n_up eps_x(2 n_up) + n_dn eps_x(2 n_dn), Ha/bohr."""
    return n_up * exchange_per_particle_unpolarized(2.0 * n_up) + n_dn * exchange_per_particle_unpolarized(
        2.0 * n_dn
    )


def correlation_per_length_limit(density, coefficients):
    """e_c(n) = -(A kappa / pi^2) y^2 / D(y) for one spin limit, Ha/bohr; density (...,) in 1/bohr."""
    alpha, beta, gamma, delta, eta, sigma, nu = coefficients
    y = _scaled_density(density)
    y_safe = jnp.where(y > 0, y, 1.0)
    root = jnp.where(y > 0, jnp.sqrt(y_safe), 0.0)
    denominator = (
        alpha
        + beta * root
        + gamma * y
        + delta * y * root
        + eta * y**2
        + sigma * y**2 * root
        + nu * (jnp.pi * KAPPA**2 / A) * y**3
    )
    return -(A * KAPPA / jnp.pi**2) * y**2 / denominator


def correlation_per_length(n_up, n_dn):
    """e_c(n, zeta) = e_c^u + zeta^2 (e_c^p - e_c^u), Ha/bohr."""
    density = n_up + n_dn
    safe = density > _TINY_DENSITY
    zeta = jnp.where(safe, (n_up - n_dn) / jnp.where(safe, density, 1.0), 0.0)
    unpolarized = correlation_per_length_limit(density, CORRELATION_UNPOLARIZED)
    polarized = correlation_per_length_limit(density, CORRELATION_POLARIZED)
    return unpolarized + zeta**2 * (polarized - unpolarized)


def lsda_xc_energy_per_length(n_up, n_dn):
    """e_xc = e_x + e_c, Ha/bohr, spin densities (G,) in 1/bohr."""
    return exchange_per_length(n_up, n_dn) + correlation_per_length(n_up, n_dn)


def lsda_eps_xc(n_up, n_dn):
    """LSDA XC energy per electron eps_xc, shape (G,), Ha; 0 where the density vanishes."""
    density = n_up + n_dn
    safe = density > _TINY_DENSITY
    per_length = lsda_xc_energy_per_length(jnp.where(safe, n_up, 0.0), jnp.where(safe, n_dn, 0.0))
    return jnp.where(safe, per_length / jnp.where(safe, density, 1.0), 0.0)


def lsda() -> jax.tree_util.Partial:
    """The LSDA functional as an ``xc(n_up, n_dn) -> eps_xc`` pytree (no parameters)."""
    return jax.tree_util.Partial(lsda_eps_xc)


def scaled_lsda_eps_xc(scales, n_up, n_dn):
    """``scales[0] e_x + scales[1] e_c`` per electron: a two-parameter LSDA, e.g. for gradient checks."""
    density = n_up + n_dn
    safe = density > _TINY_DENSITY
    up, dn = jnp.where(safe, n_up, 0.0), jnp.where(safe, n_dn, 0.0)
    per_length = scales[0] * exchange_per_length(up, dn) + scales[1] * correlation_per_length(up, dn)
    return jnp.where(safe, per_length / jnp.where(safe, density, 1.0), 0.0)


def scaled_lsda(scales=(1.0, 1.0)) -> jax.tree_util.Partial:
    """LSDA with trainable exchange and correlation scale factors, shape (2,) (leaf of the pytree)."""
    return jax.tree_util.Partial(scaled_lsda_eps_xc, jnp.asarray(scales, dtype=jnp.float64))
