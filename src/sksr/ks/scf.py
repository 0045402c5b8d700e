"""Kohn-Sham self-consistent field (docs/physics.md section 5), differentiable and batched over systems.

One iteration, for every system of a batch:

1. potentials from the input spin densities: ``v_H = h V n``, ``v_xc,s = (1/h) dE_xc/dn_s`` (autodiff
   of the spin-flip symmetrized functional);
2. lowest orbitals of ``T + diag(v_ext + v_H + v_xc,s)`` and the output density;
3. energy of the output density, ``E = T_s + E_H + E_xc + E_ext``, with
   ``T_s = sum_occ eps_k - h sum_i n_out,i v_s,i``;
4. linear mixing with decay, ``n_in(k+1) = (1 - a_k) n_in(k) + a_k n_out(k)``, ``a_k = a_0 d^k``.

The trajectory stores, per iteration, the mixed density and the energy of the output density; the
first input is the non-interacting density (eigenstates of ``T + v_ext``). There is no early stopping:
the training loss sees exactly these ``K`` iterations.

Restricted and unrestricted systems share one batch through *spin channels*: a restricted system
(N_unp = 0) has one channel, its doubly occupied orbitals; an unrestricted one has an up channel and,
if N_dn > 0, a down channel. All channels of a batch are diagonalized in one vectorized call, so no
system pays for the branch it does not need.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp
import numpy as np

from sksr.core.grid import Grid
from sksr.core.hamiltonian import external_potential, interaction_matrix, kinetic_lower_band
from sksr.core.systems import System, check_systems_on_grid
from sksr.ks.eigensolver import SOLVERS, banded_eigenpairs_host, lowest_eigenpairs

DEFAULT_MIXING = 0.5
DEFAULT_MIXING_DECAY = 0.9


@dataclasses.dataclass(frozen=True)
class ChannelLayout:
    """Static description of a batch: which spin channels exist and how they are occupied.

    Attributes:
      grid: the common grid.
      names: system names, length B.
      channel_system: system index of each channel, length C.
      spin_weights: (C, 2) how a channel's density splits into (up, down): (1/2, 1/2) for a restricted
        channel, (1, 0) or (0, 1) for an unrestricted one. The same weights average the spin
        potentials into the channel potential.
      occupations: (C, m) electrons per orbital (2 restricted, 1 unrestricted, 0 beyond the occupied).
    """

    grid: Grid
    names: tuple
    channel_system: tuple
    spin_weights: tuple
    occupations: tuple

    @property
    def num_systems(self) -> int:
        return len(self.names)

    @property
    def num_states(self) -> int:
        return len(self.occupations[0])

    @property
    def restricted(self) -> tuple:
        """Per system: True if restricted (one doubly occupied channel, n_up == n_dn always)."""
        flags = [False] * self.num_systems
        for system, weights in zip(self.channel_system, self.spin_weights):
            flags[system] = flags[system] or tuple(weights) == (0.5, 0.5)
        return tuple(flags)

    def system_of_channel_matrix(self) -> np.ndarray:
        """One-hot (B, C) matrix mapping channels to systems."""
        matrix = np.zeros((self.num_systems, len(self.channel_system)))
        matrix[np.asarray(self.channel_system), np.arange(len(self.channel_system))] = 1.0
        return matrix


def _channels_of(system: System) -> list[tuple[tuple[float, float], int, float]]:
    """(spin weights, number of occupied orbitals, electrons per orbital) of each channel of a system."""
    if system.is_restricted:
        return [((0.5, 0.5), system.n_electrons // 2, 2.0)]
    channels = [((1.0, 0.0), system.n_up, 1.0)]
    if system.n_down > 0:
        channels.append(((0.0, 1.0), system.n_down, 1.0))
    return channels


def make_layout(systems: Sequence[System], grid: Grid) -> ChannelLayout:
    """Channels, spin weights and occupations for a batch of systems on one grid."""
    if len(systems) == 0:
        raise ValueError("a Kohn-Sham batch needs at least one system")
    check_systems_on_grid(systems, grid)
    channels = [(b, *c) for b, system in enumerate(systems) for c in _channels_of(system)]
    num_states = max(n_orbitals for _, _, n_orbitals, _ in channels)
    occupations = tuple(
        tuple(per_orbital if k < n_orbitals else 0.0 for k in range(num_states))
        for _, _, n_orbitals, per_orbital in channels
    )
    return ChannelLayout(
        grid=grid,
        names=tuple(s.name for s in systems),
        channel_system=tuple(b for b, *_ in channels),
        spin_weights=tuple(weights for _, weights, _, _ in channels),
        occupations=occupations,
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class KohnShamBatch:
    """Arrays of a batch of B systems on a grid of G points (a pytree; ``layout`` is static).

    Attributes:
      external_potential: v_ext, shape (B, G), Ha.
      initial_density: non-interacting spin densities, shape (B, 2, G), 1/bohr.
      num_electrons: N, shape (B,).
      interaction: ``h v(x_i - x_j)``, shape (G, G), Ha (Hartree kernel including the quadrature weight).
      mirror_index: (B, G) int, the grid point mirroring each point about the system's centre (the mean of
        its nuclear positions), itself outside the largest window symmetric about it; used only with
        ``reflection_symmetry`` (``mirror_indices``).
      layout: the static channel layout.
    """

    external_potential: jax.Array
    initial_density: jax.Array
    num_electrons: jax.Array
    interaction: jax.Array
    mirror_index: jax.Array
    layout: ChannelLayout = dataclasses.field(metadata=dict(static=True))

    @property
    def names(self) -> tuple:
        return self.layout.names


class SCFTrajectory(NamedTuple):
    """Result of ``run_scf`` for a batch of B systems over K iterations.

    Attributes:
      total_energy: (B, K) electronic energy of each iteration's output density, Ha (no E_NN).
      density: (B, K, 2, G) stored (mixed) spin densities [up, down] after each iteration, 1/bohr.
    """

    total_energy: jax.Array
    density: jax.Array

    @property
    def final_energy(self) -> jax.Array:
        """(B,) energy of the last iteration, Ha."""
        return self.total_energy[:, -1]

    @property
    def final_density(self) -> jax.Array:
        """(B, G) total density after the last iteration (mixed), 1/bohr."""
        return self.density[:, -1].sum(axis=1)


def _spin_densities_from_channels(channel_density, layout: ChannelLayout):
    """(C, G) channel densities -> (B, 2, G) spin densities."""
    weights = jnp.asarray(layout.system_of_channel_matrix())[:, :, None] * jnp.asarray(
        np.asarray(layout.spin_weights)
    )[None]
    return jnp.einsum("bcs,cg->bsg", weights, channel_density)


def _non_interacting_density(potential: np.ndarray, layout: ChannelLayout) -> np.ndarray:
    """Spin densities of the non-interacting electrons in ``potential`` (B, G) -> (B, 2, G), 1/bohr."""
    grid = layout.grid
    channel_potential = potential[np.asarray(layout.channel_system)]
    _, orbitals = banded_eigenpairs_host(kinetic_lower_band(grid), channel_potential, layout.num_states)
    channel_density = np.einsum("cgk,ck->cg", orbitals**2, np.asarray(layout.occupations)) / grid.spacing
    return np.asarray(_spin_densities_from_channels(jnp.asarray(channel_density), layout))


def prepare_batch(systems: Sequence[System], grid: Grid) -> KohnShamBatch:
    """Validate systems and build the arrays of a Kohn-Sham batch (host work done once)."""
    layout = make_layout(systems, grid)
    potential = np.stack([external_potential(s, grid) for s in systems])
    return KohnShamBatch(
        external_potential=jnp.asarray(potential),
        initial_density=jnp.asarray(_non_interacting_density(potential, layout)),
        num_electrons=jnp.asarray([float(s.n_electrons) for s in systems]),
        interaction=jnp.asarray(grid.spacing * interaction_matrix(grid)),
        mirror_index=jnp.asarray(np.stack([mirror_indices(s, grid) for s in systems])),
        layout=layout,
    )


def symmetrized_xc_energy(xc, spin_density, spacing):
    """E_xc = h sum (n_up + n_dn) eps_xc, eps_xc spin-flip symmetrized; spin_density (2, G) -> Ha."""
    n_up, n_dn = spin_density[0], spin_density[1]
    eps = 0.5 * (xc(n_up, n_dn) + xc(n_dn, n_up))
    return spacing * jnp.sum((n_up + n_dn) * eps)


def xc_energy_and_potential(xc, spin_density, spacing):
    """E_xc (Ha) and v_xc,s = (1/h) dE_xc/dn_s, shape (2, G), Ha, by automatic differentiation."""
    energy, gradient = jax.value_and_grad(symmetrized_xc_energy, argnums=1)(xc, spin_density, spacing)
    return energy, gradient / spacing


def _spin_flip_partners(restricted) -> tuple[np.ndarray, np.ndarray]:
    """Static gathers for ``batch_xc_energy``: flipped systems (U,), partner row of each system (B,)."""
    restricted = np.asarray(restricted, dtype=bool)
    flipped = np.flatnonzero(~restricted)
    partner = np.arange(len(restricted))
    partner[flipped] = len(restricted) + np.arange(len(flipped))
    return flipped, partner


def batch_xc_energy(xc, spin_density, spacing, restricted, mirror=None):
    """Spin-flip symmetrized E_xc of every system, shape (B,), Ha; spin_density (B, 2, G).

    ``eps = (eps[n_up, n_dn] + eps[n_dn, n_up]) / 2``; a restricted system has ``n_up == n_dn``, so its
    two terms are the same number and the network runs once for it: the batch evaluates ``xc`` on B + U
    spin pairs (U unrestricted systems) instead of 2B. Along ``n_up == n_dn`` (the only direction a
    restricted channel's potential sees, its spin-averaged ``v_xc``) the energy and its derivative are
    those of the symmetrized functional, so the result is the same up to rounding.

    Args:
      restricted: (B,) static booleans (``ChannelLayout.restricted``).
      mirror: optional (B, G) mirror indices (``KohnShamBatch.mirror_index``): evaluate the reflection-
        symmetrized functional ``S eps(S n)`` of each system instead.
    """
    flipped, partner = _spin_flip_partners(restricted)
    n_up, n_dn = spin_density[:, 0], spin_density[:, 1]
    ups = jnp.concatenate([n_up, n_dn[flipped]])
    downs = jnp.concatenate([n_dn, n_up[flipped]])
    if mirror is None:
        eps = jax.vmap(xc)(ups, downs)  # (B + U, G)
    else:
        index = jnp.concatenate([mirror, mirror[flipped]])
        eps = jax.vmap(lambda i, up, dn: _mirror_symmetric_eps(xc, i, up, dn))(index, ups, downs)
    symmetric = 0.5 * (eps[: len(partner)] + eps[partner])
    return spacing * jnp.sum((n_up + n_dn) * symmetric, axis=-1)


def batch_xc_energy_and_potential(xc, spin_density, spacing, restricted, mirror=None):
    """E_xc (B,) in Ha and v_xc,s = (1/h) dE_xc/dn_s, shape (B, 2, G), Ha (see ``batch_xc_energy``).

    For a restricted system only the spin average of the two rows is the symmetrized potential (what
    its channel uses); unrestricted rows are the spin potentials themselves.
    """

    def total(density):
        energies = batch_xc_energy(xc, density, spacing, restricted, mirror)
        return jnp.sum(energies), energies

    gradient, energies = jax.grad(total, has_aux=True)(spin_density)
    return energies, gradient / spacing


def hartree_potential(total_density, weighted_interaction):
    """v_H = h V n, shape (..., G), Ha."""
    return total_density @ weighted_interaction.T


def hartree_energy(total_density, weighted_interaction, spacing):
    """E_H = (h^2 / 2) sum_ij n_i n_j v_ij, shape (...,), Ha."""
    return 0.5 * spacing * jnp.sum(total_density * hartree_potential(total_density, weighted_interaction), -1)


def mirror_indices(system: System, grid: Grid) -> np.ndarray:
    """(G,) int: ``j(i)`` with ``x_i + x_j = 2 c``, ``c`` the mean nuclear position, where ``j`` is on the grid.

    Points whose mirror image falls off the grid map to themselves (the largest window symmetric about
    ``c`` is mirrored, the rest left alone, as the KSR study did). A centre that is not a multiple of h/2
    has no mirror on the grid: every point maps to itself.
    """
    g, h = grid.num_points, grid.spacing
    shift = 2.0 * float(np.mean(system.nuclear_positions)) / h
    i = np.arange(g)
    if abs(shift - round(shift)) > 1e-6:
        return i
    j = int(round(shift)) + (g - 1) - i
    return np.where((j >= 0) & (j < g), j, i)


def mirror_average(array, index):
    """``S a = (a + a[index]) / 2`` along the last axis: the part of ``a`` even under the mirror ``index``."""
    index = jnp.broadcast_to(index, array.shape)
    return 0.5 * (array + jnp.take_along_axis(array, index, axis=-1))


def _mirror_symmetric_eps(xc, index, n_up, n_dn):
    """``S eps(S n_up, S n_dn)``: the functional made even under the mirror ``index`` (G,)."""
    return mirror_average(xc(mirror_average(n_up, index), mirror_average(n_dn, index)), index)


def check_mirror_symmetric(batch: "KohnShamBatch") -> None:
    """Refuse reflection symmetry for systems not mirror symmetric about their centre (concrete arrays only)."""
    if isinstance(batch.external_potential, jax.core.Tracer) or isinstance(batch.mirror_index, jax.core.Tracer):
        return
    potential, index = np.asarray(batch.external_potential), np.asarray(batch.mirror_index)
    mirrored = np.take_along_axis(potential, index, axis=1)
    scale = np.max(np.abs(potential), axis=1)
    asymmetric = [
        name for name, a, b, v in zip(batch.names, potential, mirrored, scale) if np.max(np.abs(a - b)) > 1e-12 * v
    ]
    if asymmetric:
        raise ValueError(
            f"reflection_symmetry needs systems mirror symmetric about their centre; not so: {asymmetric}"
        )


def _kohn_sham_step(
    batch: KohnShamBatch, xc, spin_density, solver: str, with_energy: bool = True, reflection_symmetry: bool = False
):
    """One iteration: input spin densities (B, 2, G) -> (output spin densities, energies (B,)).

    ``with_energy=False`` (static) skips the energy of the output density (NaN instead): the network
    is then evaluated once per iteration (for ``v_xc``) instead of twice. ``reflection_symmetry``
    (static) enforces each system's mirror symmetry about its centre as the KSR study did (docs/physics.md
    section 11): ``eps -> S eps(S n)`` and the output density ``n_out -> S n_out``, the energy being that
    of the output density before ``S``.
    """
    layout, h = batch.layout, batch.layout.grid.spacing
    mirror = batch.mirror_index if reflection_symmetry else None
    system_of_channel = jnp.asarray(layout.system_of_channel_matrix())
    spin_weights = jnp.asarray(np.asarray(layout.spin_weights))
    occupations = jnp.asarray(np.asarray(layout.occupations))
    channels = np.asarray(layout.channel_system)

    v_hartree = hartree_potential(spin_density.sum(1), batch.interaction)
    _, v_xc = batch_xc_energy_and_potential(xc, spin_density, h, layout.restricted, mirror)
    v_spin = (batch.external_potential + v_hartree)[:, None, :] + v_xc  # (B, 2, G)
    v_channel = jnp.einsum("cs,csg->cg", spin_weights, v_spin[channels])  # (C, G)

    eigenvalues, orbitals = jax.vmap(lambda v: lowest_eigenpairs(v, layout.grid, layout.num_states, solver))(
        v_channel
    )
    channel_density = jnp.einsum("cgk,ck->cg", orbitals**2, occupations) / h
    output = _spin_densities_from_channels(channel_density, layout)
    returned = output if mirror is None else mirror_average(output, mirror[:, None, :])

    if not with_energy:
        return returned, jnp.full(output.shape[:1], jnp.nan, output.dtype)
    band_energy = system_of_channel @ jnp.sum(occupations * eigenvalues, axis=1)
    potential_energy = system_of_channel @ (h * jnp.sum(channel_density * v_channel, axis=1))
    kinetic = band_energy - potential_energy
    total_output = output.sum(1)
    e_xc = batch_xc_energy(xc, output, h, layout.restricted, mirror)
    e_hartree = hartree_energy(total_output, batch.interaction, h)
    e_external = h * jnp.sum(total_output * batch.external_potential, axis=1)
    return returned, kinetic + e_hartree + e_xc + e_external


FULL_UNROLL_MAX_ITERATIONS = 10
"""``run_scf`` unrolls the iteration loop up to this K (the training K): XLA then optimizes and fuses
across iterations and drops the loop's stacked-residual copies (about 1.3x faster loss and gradient on
CPU, for about twice the compile time, which the persistent compilation cache pays once per machine)."""


@jax.jit(static_argnames=("num_iterations", "solver", "unroll", "energy_iterations", "reflection_symmetry"))
def _run_scf(
    batch, xc, num_iterations, mixing, mixing_decay, solver, unroll=1, energy_iterations=None, reflection_symmetry=False
):
    def iteration(density_in, k, with_energy=True):
        density_out, energy = _kohn_sham_step(batch, xc, density_in, solver, with_energy, reflection_symmetry)
        alpha = mixing * mixing_decay**k
        mixed = (1.0 - alpha) * density_in + alpha * density_out
        return mixed, (energy, mixed)

    first_energy = 0 if energy_iterations is None else num_iterations - energy_iterations
    if unroll >= num_iterations:  # a Python loop: iterations without an energy skip its work
        density, outputs = batch.initial_density, []
        for k in range(num_iterations):
            density, output = iteration(density, jnp.asarray(k, jnp.float64), k >= first_energy)
            outputs.append(output)
        energies, densities = (jnp.stack(parts) for parts in zip(*outputs))
    else:
        _, (energies, densities) = jax.lax.scan(
            iteration, batch.initial_density, jnp.arange(num_iterations, dtype=jnp.float64), unroll=unroll
        )
        energies = jnp.where(jnp.arange(num_iterations)[:, None] >= first_energy, energies, jnp.nan)
    return SCFTrajectory(total_energy=energies.T, density=jnp.moveaxis(densities, 0, 1))


def run_scf(
    batch: KohnShamBatch,
    xc,
    num_iterations: int,
    mixing: float = DEFAULT_MIXING,
    mixing_decay: float = DEFAULT_MIXING_DECAY,
    solver: str = "banded",
    unroll: int | None = None,
    energy_iterations: int | None = None,
    reflection_symmetry: bool = False,
) -> SCFTrajectory:
    """Run K Kohn-Sham iterations for every system of ``batch`` (jitted, differentiable in ``xc``).

    Args:
      batch: from ``prepare_batch``.
      xc: functional pytree ``xc(n_up, n_dn) -> eps_xc`` (see ``sksr.functionals``).
      num_iterations: K (static). 10 in training, 30 in evaluation.
      mixing: a_0 of the linear density mixing.
      mixing_decay: d, ``a_k = a_0 d^k``.
      solver: eigensolver, ``"banded"`` (default), ``"dense"`` or ``"device"`` (see ``sksr.ks.eigensolver``).
      unroll: iterations per step of the compiled loop (static); default K up to
        ``FULL_UNROLL_MAX_ITERATIONS`` (fully unrolled), 1 beyond. Results agree to rounding.
      energy_iterations: compute the energy of only the last this many iterations (static; the others
        are NaN). The training loss needs only the kept iterations (the last one in the published
        protocol), and skipping the rest saves one network evaluation per iteration. None: all.
      reflection_symmetry: enforce each system's mirror symmetry about its centre (static; the KSR
        study, see ``_kohn_sham_step``). ValueError for a system that is not mirror symmetric.

    Returns:
      ``SCFTrajectory`` with energies (B, K) and mixed spin densities (B, K, 2, G).
    """
    if int(num_iterations) < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
    if solver not in SOLVERS:
        raise ValueError(f"eigensolver must be one of {SOLVERS}, got {solver!r}")
    num_iterations = int(num_iterations)
    if unroll is None:
        unroll = num_iterations if num_iterations <= FULL_UNROLL_MAX_ITERATIONS else 1
    if energy_iterations is not None and not 1 <= int(energy_iterations) <= num_iterations:
        raise ValueError(f"energy_iterations must lie in [1, {num_iterations}], got {energy_iterations}")
    energy_iterations = None if energy_iterations is None else int(energy_iterations)
    if reflection_symmetry:
        check_mirror_symmetric(batch)
    return _run_scf(
        batch, xc, num_iterations, mixing, mixing_decay, solver, int(unroll), energy_iterations,
        bool(reflection_symmetry),
    )


def kohn_sham(systems: Sequence[System], grid: Grid, xc, num_iterations: int = 30, **kwargs) -> SCFTrajectory:
    """Convenience: ``run_scf(prepare_batch(systems, grid), xc, num_iterations, **kwargs)``."""
    return run_scf(prepare_batch(systems, grid), xc, num_iterations, **kwargs)
