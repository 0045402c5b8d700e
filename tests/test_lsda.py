"""LSDA for the exponential interaction: check values of docs/physics.md section 6 and limits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sksr.functionals.lsda import (
    correlation_per_length,
    exchange_per_length,
    exchange_per_particle_unpolarized,
    lsda_eps_xc,
)


def test_exchange_check_values():
    eps = exchange_per_particle_unpolarized(jnp.array([1.0, 2.0]))
    assert eps[0] == pytest.approx(-0.3983580525, abs=1e-10)
    assert eps[1] == pytest.approx(-0.4512822906, abs=1e-10)


def test_unpolarized_xc_check_value():
    assert lsda_eps_xc(jnp.array([0.5]), jnp.array([0.5]))[0] == pytest.approx(-0.406069, abs=1e-6)


def test_exchange_series_matches_closed_form_at_switch():
    below = exchange_per_particle_unpolarized(jnp.array([0.999e-3 * 2.385345 / np.pi]))
    above = exchange_per_particle_unpolarized(jnp.array([1.001e-3 * 2.385345 / np.pi]))
    assert float(below[0]) == pytest.approx(float(above[0]), rel=3e-3)


def test_fully_polarized_exchange_is_spin_scaled():
    n = jnp.array([0.3, 1.1])
    assert np.allclose(exchange_per_length(n, 0 * n), n * exchange_per_particle_unpolarized(2 * n))


def test_correlation_interpolates_in_zeta():
    n = jnp.array([0.7])
    unpol = correlation_per_length(n / 2, n / 2)
    pol = correlation_per_length(n, 0 * n)
    half = correlation_per_length(0.75 * n, 0.25 * n)  # zeta = 1/2
    assert np.allclose(half, unpol + 0.25 * (pol - unpol))
    assert float(pol[0]) > float(unpol[0])  # less correlation when polarized


def test_zero_density_gives_zero_energy_and_finite_potential():
    n = jnp.array([0.0, 1e-40, 1e-8, 0.5])
    assert float(lsda_eps_xc(n * 0, n * 0)[0]) == 0.0
    for split in (0.5, 1.0):
        grad = jax.grad(lambda d: jnp.sum(d * lsda_eps_xc(split * d, (1 - split) * d)))(n)
        assert np.all(np.isfinite(grad))


def test_spin_flip_symmetry():
    up, dn = jnp.array([0.2, 0.9]), jnp.array([0.6, 0.1])
    assert np.allclose(lsda_eps_xc(up, dn), lsda_eps_xc(dn, up))
