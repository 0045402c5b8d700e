"""The 1D Hamiltonian: exponential interaction, external potential, 5-point kinetic energy.

All energies in Hartree, lengths in bohr. Everything here is plain NumPy (float64) and shared by the
exact (DMRG / exact diagonalization) and Kohn-Sham sides, so that Kohn-Sham with the exact functional
reproduces the many-body density and energy exactly.
"""

from __future__ import annotations

import numpy as np

from sksr.core.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.core.grid import Grid
from sksr.core.systems import System


def exponential_interaction(displacement):
    """v(u) = A exp(-kappa |u|), Ha, for displacements u in bohr (any shape)."""
    return EXPONENTIAL_AMPLITUDE * np.exp(-EXPONENTIAL_KAPPA * np.abs(displacement))


def interaction_matrix(grid: Grid) -> np.ndarray:
    """v(x_i - x_j), shape (G, G), Ha. Used for the Hartree potential ``v_H = h V n``."""
    x = grid.coordinates
    return exponential_interaction(x[:, None] - x[None, :])


def external_potential(system: System, grid: Grid) -> np.ndarray:
    """v_ext(x_i) = -sum_a Z_a v(x_i - X_a), shape (G,), Ha."""
    system.check_on_grid(grid)
    x = grid.coordinates
    potential = np.zeros(grid.num_points)
    for charge, position in zip(system.nuclear_charges, system.nuclear_positions):
        potential -= charge * exponential_interaction(x - position)
    return potential


def nuclear_repulsion(system: System) -> float:
    """E_NN = sum_{a<b} Z_a Z_b v(X_a - X_b), Ha (not part of the electronic total energy)."""
    z = np.asarray(system.nuclear_charges)
    x = np.asarray(system.nuclear_positions)
    pair = z[:, None] * z[None, :] * exponential_interaction(x[:, None] - x[None, :])
    return float(np.sum(np.triu(pair, k=1)))


def kinetic_stencil(grid: Grid) -> tuple[float, float, float]:
    """Entries (T_ii, T_i,i+-1, T_i,i+-2) of -(1/2) d^2/dx^2, fourth-order central difference, Ha."""
    scale = 1.0 / (24.0 * grid.spacing**2)
    return 30.0 * scale, -16.0 * scale, 1.0 * scale


def kinetic_matrix(grid: Grid) -> np.ndarray:
    """Pentadiagonal kinetic matrix T, shape (G, G), Ha (hard walls: truncated stencil)."""
    diagonal, first, second = kinetic_stencil(grid)
    g = grid.num_points
    return (
        diagonal * np.eye(g)
        + first * (np.eye(g, k=1) + np.eye(g, k=-1))
        + second * (np.eye(g, k=2) + np.eye(g, k=-2))
    )


def kinetic_lower_band(grid: Grid) -> np.ndarray:
    """T in LAPACK lower-band storage, shape (3, G): row d holds the d-th subdiagonal (zero padded)."""
    diagonal, first, second = kinetic_stencil(grid)
    g = grid.num_points
    band = np.zeros((3, g))
    band[0] = diagonal
    band[1, : g - 1] = first
    band[2, : g - 2] = second
    return band


def one_electron_hamiltonian(system: System, grid: Grid) -> np.ndarray:
    """T + diag(v_ext), shape (G, G), Ha: the non-interacting (and one-electron) Hamiltonian."""
    return kinetic_matrix(grid) + np.diag(external_potential(system, grid))


def one_electron_energies(system: System, grid: Grid, n_states: int = 1) -> np.ndarray:
    """Lowest ``n_states`` eigenvalues of T + v_ext, shape (n_states,), Ha (dense diagonalization)."""
    return np.linalg.eigvalsh(one_electron_hamiltonian(system, grid))[:n_states]
