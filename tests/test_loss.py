"""KSR loss (sksr.training.loss): formulas against hand computation, and its gradient through the SCF.

The references here are synthetic but physically shaped: LSDA self-consistent energies and densities on
a tiny grid, shifted by a few mHa / blurred, so that the loss is non-zero. Gradient checks do not care
whether the targets are exact many-body results.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sksr
from sksr.core.systems import System
from sksr.functionals import lsda
from sksr.functionals import neural as nn
from sksr.ks import scf
from sksr.training.loss import (
    LossSettings,
    density_loss,
    energy_loss,
    iteration_weights,
    ksr_loss,
    make_loss_function,
    make_references,
)

GRID = sksr.Grid(num_points=33, spacing=0.6)
# Mixed batch: unrestricted one- and three-electron, restricted two-electron systems.
SYSTEMS = [
    System("H", [1], [0.0], 1, 1),
    System("He", [2], [0.0], 2, 0),
    System("Li", [3], [0.0], 3, 1),
]


@pytest.fixture(scope="module")
def data():
    batch = scf.prepare_batch(SYSTEMS, GRID)
    trajectory = scf.run_scf(batch, lsda.lsda(), 10)
    density = np.asarray(trajectory.density[:, -1].sum(1))
    blurred = 0.8 * density + 0.1 * np.roll(density, 1, axis=1) + 0.1 * np.roll(density, -1, axis=1)
    refs = make_references(
        np.asarray(trajectory.total_energy[:, -1]) - 0.003,
        blurred,
        [s.n_electrons for s in SYSTEMS],
        GRID,
    )
    return batch, trajectory, refs


def test_iteration_weights():
    np.testing.assert_allclose(iteration_weights(4, 4, 0.9), [0.729, 0.81, 0.9, 1.0])
    np.testing.assert_allclose(iteration_weights(4, 2, 0.9), [0.0, 0.0, 0.9, 1.0])
    np.testing.assert_allclose(iteration_weights(4, 1, 0.5), [0.0, 0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="exceeds"):
        iteration_weights(3, 4, 0.9)


def test_energy_and_density_loss_by_hand():
    energies = np.array([[1.0, 2.0, 3.0], [0.0, 0.5, 1.5]])  # (B=2, K=3)
    refs = np.array([2.5, 1.0])
    counts = np.array([1.0, 2.0])
    weights = iteration_weights(3, 2, 0.9)
    expected = np.mean([(0.9 * 0.5**2 + 0.5**2) / 1.0, (0.9 * 0.5**2 + 0.5**2) / 2.0])
    assert float(energy_loss(energies, refs, counts, weights)) == pytest.approx(expected, rel=1e-14)
    n = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    n_ref = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 2.0]])
    expected = np.mean([0.5 * 2.0 / 1.0, 0.5 * 2.0 / 2.0])
    assert float(density_loss(n, n_ref, counts, 0.5)) == pytest.approx(expected, rel=1e-14)


def test_ksr_loss_of_the_references_themselves_is_zero(data):
    batch, trajectory, _ = data
    exact = make_references(trajectory.total_energy[:, -1], trajectory.density[:, -1].sum(1), [1, 2, 3], GRID)
    parts = ksr_loss(trajectory, exact, GRID.spacing, LossSettings())
    assert float(parts.total) == 0.0
    # The whole trajectory is not converged to the final energy: keeping all iterations costs something.
    assert float(ksr_loss(trajectory, exact, GRID.spacing, LossSettings(kept_iterations=10)).energy) > 0


def test_ksr_loss_combines_parts(data):
    _, trajectory, refs = data
    for w in (0.0, 0.5, 1.0):
        parts = ksr_loss(trajectory, refs, GRID.spacing, LossSettings(energy_weight=w))
        assert float(parts.total) == pytest.approx(w * float(parts.energy) + (1 - w) * float(parts.density))
    parts = ksr_loss(trajectory, refs, GRID.spacing, LossSettings())
    # Energy part: only the last iteration, each system 3 mHa off.
    assert float(parts.energy) == pytest.approx(np.mean(0.003**2 / np.array([1, 2, 3])), rel=1e-9)


def test_reference_validation():
    with pytest.raises(ValueError, match=r"shape \(2, G\)"):
        make_references([1.0, 2.0], np.ones((3, 33)), [1, 2])
    with pytest.raises(ValueError, match="integrate"):
        make_references([1.0], np.ones((1, 33)), [1], GRID)
    with pytest.raises(ValueError, match="settings|weight"):
        LossSettings(energy_weight=1.5)


@pytest.mark.parametrize("kind, gate", [("global", False), ("gga", True)])
def test_loss_gradient_matches_finite_differences(data, kind, gate):
    """d loss / d params through K SCF iterations (eigensolver, AD-derived v_xc, mixing) vs central FD."""
    batch, _, refs = data
    spec = nn.NeuralXCSpec(kind, self_interaction_gate=gate)
    loss_function = make_loss_function(
        spec, GRID, batch, refs, LossSettings(kept_iterations=3), num_iterations=6
    )

    def total(vector):
        return loss_function(nn.unflatten_params(spec, vector)).total

    value_and_grad = jax.jit(jax.value_and_grad(total))
    value = jax.jit(total)
    vector = jnp.asarray(nn.flatten_params(spec, nn.init_params(spec, 2)))
    loss, gradient = value_and_grad(vector)
    assert np.isfinite(float(loss)) and float(loss) > 0
    rng = np.random.default_rng(1)
    for _ in range(2):
        direction = rng.normal(size=vector.shape)
        direction /= np.linalg.norm(direction)
        step = 1e-5
        fd = (value(vector + step * direction) - value(vector - step * direction)) / (2 * step)
        assert float(gradient @ direction) == pytest.approx(float(fd), rel=1e-6, abs=1e-11)
    # And along the gradient itself (the largest directional derivative).
    unit = gradient / jnp.linalg.norm(gradient)
    fd = (value(vector + 1e-5 * unit) - value(vector - 1e-5 * unit)) / 2e-5
    assert float(jnp.linalg.norm(gradient)) == pytest.approx(float(fd), rel=1e-6)
