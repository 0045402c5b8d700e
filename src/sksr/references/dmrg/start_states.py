"""DMRG start states (``DMRGSettings.start_state``): the unrestricted Hartree-Fock or the non-interacting
Slater determinant written exactly as an MPS, a product state, or that product state scrambled by random
two-site gates.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import scipy.linalg
import tenpy.linalg.np_conserved as npc
from tenpy.algorithms.tebd import RandomUnitaryEvolution
from tenpy.linalg.charges import LegCharge
from tenpy.networks.mpo import MPO
from tenpy.networks.mps import MPS

from sksr.core.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.core.grid import Grid
from sksr.core.hamiltonian import one_electron_hamiltonian
from sksr.core.systems import System
from sksr.references.dmrg.settings import DMRGSettings


LOGGER = logging.getLogger(__name__)


START_SVD_CUTOFF = 1e-12
"""Singular values of a start determinant's MPS below this are dropped (eigensolver noise in the tails)."""
RANDOM_START_STEPS = 4
"""Layers of random two-site orthogonal gates applied to the product state for the ``random`` start."""


def hartree_fock_orbitals(
    system: System, grid: Grid, max_iterations: int = 300, tolerance: float = 1e-8, log: logging.Logger = LOGGER
) -> tuple[np.ndarray, np.ndarray, float]:
    """Unrestricted Hartree-Fock for the lattice Hamiltonian (same t, A, lambda as DMRG).

    Fock matrix per spin: F_s = t + diag(sum_j V_ij N_j) - V * rho_s, V_ij = A lambda^|i-j|.

    Returns:
      (orbitals_up (G, N_up), orbitals_down (G, N_dn), energy in Ha). Orbitals are lattice amplitudes
      (sum_i phi_i^2 = 1). Not converging within ``max_iterations`` only logs a warning: this is a start state.
    """
    t = one_electron_hamiltonian(system, grid)
    index = np.arange(grid.num_points)
    v = EXPONENTIAL_AMPLITUDE * np.exp(-EXPONENTIAL_KAPPA * grid.spacing * np.abs(index[:, None] - index[None, :]))
    counts = (system.n_up, system.n_down)
    _, orbitals = np.linalg.eigh(t)
    rho = [orbitals[:, :n] @ orbitals[:, :n].T for n in counts]
    energy_old = np.inf
    for iteration in range(max_iterations):
        hartree = v @ (np.diag(rho[0]) + np.diag(rho[1]))
        new_orbitals, new_rho = [], []
        for s, n in enumerate(counts):
            fock = t + np.diag(hartree) - v * rho[s]
            vecs = _lowest_eigenvectors(fock, n)
            new_orbitals.append(vecs)
            new_rho.append(vecs[:, :n] @ vecs[:, :n].T)
        energy = _hartree_fock_energy(t, v, new_rho)
        change = max(np.abs(new_rho[s] - rho[s]).max() for s in range(2))
        mix = 0.7 if iteration < 30 else 0.3
        rho = [(1 - mix) * rho[s] + mix * new_rho[s] for s in range(2)]
        if change < tolerance and abs(energy - energy_old) < tolerance:
            break
        energy_old = energy
    else:
        log.warning("%s: Hartree-Fock start state not converged after %d iterations (density change %.2e)",
                    system.name, max_iterations, change)
    return new_orbitals[0], new_orbitals[1], float(energy)


@functools.lru_cache(maxsize=4)
def cached_hartree_fock_orbitals(system: System, grid: Grid, max_iterations: int = 300):
    """:func:`hartree_fock_orbitals`, computed once per (system, grid) in a process (start state and window);
    the arrays are read-only because they are shared."""
    up, down, energy = hartree_fock_orbitals(system, grid, max_iterations)
    up.flags.writeable = False
    down.flags.writeable = False
    return up, down, energy


def _lowest_eigenvectors(matrix: np.ndarray, count: int) -> np.ndarray:
    """Lowest ``count`` eigenvectors of a symmetric matrix, shape (G, count) (LAPACK subset driver)."""
    if count == 0:
        return np.zeros((matrix.shape[0], 0))
    return scipy.linalg.eigh(matrix, subset_by_index=[0, count - 1], driver="evr")[1]


def _hartree_fock_energy(t: np.ndarray, v: np.ndarray, rho: list[np.ndarray]) -> float:
    occupations = np.diag(rho[0]) + np.diag(rho[1])
    energy = sum(np.sum(t * r) for r in rho) + 0.5 * occupations @ v @ occupations
    return float(energy - 0.5 * sum(np.sum(v * r * r) for r in rho))


def noninteracting_orbitals(system: System, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Lowest eigenvectors of T + diag(v_ext): shapes (G, N_up), (G, N_dn), lattice-normalized."""
    _, orbitals = np.linalg.eigh(one_electron_hamiltonian(system, grid))
    return orbitals[:, : system.n_up], orbitals[:, : system.n_down]


def _orbital_creation_mpo(sites: list, orbital: np.ndarray, operator: str) -> MPO:
    """MPO of b+ = sum_i phi_i c+_{i,s} (Jordan-Wigner string on the left), bond dimension 2.

    W_i = [[JW, phi_i C+], [0, Id]] with W legs (wL, wR, p, p*). The MPO is charge-neutral per tensor; the
    created charge sits in the bond state 1 ("electron created to the left"), so wL/wR legs are the same
    on every bond and the tensors are built directly (MPO.from_grids is slow on 513 sites).
    """
    site = sites[0]
    jw, identity = site.get_op("JW").to_ndarray(), site.get_op("Id").to_ndarray()
    creation = site.get_op(operator).to_ndarray()
    d = identity.shape[0]

    def dense(amplitude):
        w = np.zeros((2, 2, d, d))
        w[0, 0], w[0, 1], w[1, 1] = jw, amplitude * creation, identity
        return w

    chinfo = site.leg.chinfo
    left = LegCharge.from_qflat(chinfo, [[0] * chinfo.qnumber, [0] * chinfo.qnumber], qconj=+1)
    template = dense(1.0)
    right = npc.detect_legcharge(template, chinfo, [left, None, site.leg, site.leg.conj()], qconj=-1)[1]
    # state 1 of wL must carry the same charge as state 1 of wR (translation invariance of the bonds)
    left = right.conj()
    legs = [left, right, site.leg, site.leg.conj()]
    labels = ["wL", "wR", "p", "p*"]
    diagonal = npc.Array.from_ndarray(dense(0.0), legs, labels=labels)
    hop = npc.Array.from_ndarray(dense(1.0), legs, labels=labels) - diagonal
    tensors = [diagonal + float(a) * hop for a in orbital]
    return MPO(sites, tensors, bc="finite", IdL=0, IdR=1, mps_unit_cell_width=len(sites))


def slater_determinant_mps(sites: list, orbitals_up: np.ndarray, orbitals_down: np.ndarray) -> MPS:
    """Exact MPS of the Slater determinant prod_a b+_{a,up} prod_b b+_{b,dn} |0> (bond dim <= 2^N).

    Args:
      sites: the model's SpinHalfFermionSites (G of them).
      orbitals_up, orbitals_down: orthonormal orbitals as columns, shapes (G, N_up), (G, N_dn).

    Singular values below START_SVD_CUTOFF are dropped when the MPS is brought to canonical form: dense
    eigensolvers leave ~1e-14 noise in the orbitals' far tails, which gives the tails' bonds singular values
    of that size whose inverses break the window sweeps' canonical forms (the state changes by ~1e-24 in
    norm).
    """
    psi = MPS.from_product_state(sites, ["empty"] * len(sites), bc="finite", unit_cell_width=len(sites))
    for orbitals, operator in ((orbitals_up, "Cdu"), (orbitals_down, "Cdd")):
        for a in range(orbitals.shape[1]):
            _orbital_creation_mpo(sites, orbitals[:, a], operator).apply_naively(psi)
    psi.canonical_form_finite(cutoff=START_SVD_CUTOFF)
    psi.norm = 1.0
    return psi


def product_start_mps(sites: list, system: System, grid: Grid) -> MPS:
    """Product state with the electrons on the sites of largest non-interacting density (for tests)."""
    up, down = noninteracting_orbitals(system, grid)
    density = np.sum(up**2, axis=1) + np.sum(down**2, axis=1)
    order = np.argsort(-density, kind="stable")
    states = ["empty"] * grid.num_points
    for k in range(system.n_up):
        states[order[k]] = "up"
    for k in range(system.n_down):
        states[order[k]] = "full" if states[order[k]] == "up" else "down"
    return MPS.from_product_state(sites, states, bc="finite", unit_cell_width=len(sites))


def random_start_mps(sites: list, system: System, grid: Grid, seed: int = 0) -> MPS:
    """The product start state scrambled by RANDOM_START_STEPS layers of random real two-site gates.

    Each gate is a Haar-random orthogonal matrix within every (N, S_z) block of the two sites (TeNPy's
    RandomUnitaryEvolution with the circular real ensemble), so the state stays real, keeps N and S_z, and
    spreads every electron over a few sites with random entanglement. ``seed`` fixes the gates.
    """
    psi = product_start_mps(sites, system, grid)
    state = np.random.get_state()
    np.random.seed(seed)  # TeNPy's random matrices draw from NumPy's global generator
    try:
        RandomUnitaryEvolution(psi, {"N_steps": RANDOM_START_STEPS, "distribution_func": "CRE",
                                     "trunc_params": {"chi_max": 64, "svd_min": 1e-12}}).run()
    finally:
        np.random.set_state(state)
    psi.canonical_form()
    return psi


def start_mps(model, system: System, grid: Grid, settings: DMRGSettings, log: logging.Logger = LOGGER) -> MPS:
    """The start state chosen by ``settings.start_state``."""
    sites = model.lat.mps_sites()
    if settings.start_state == "product":
        return product_start_mps(sites, system, grid)
    if settings.start_state == "random":
        return random_start_mps(sites, system, grid, settings.random_seed)
    if settings.start_state == "noninteracting":
        up, down = noninteracting_orbitals(system, grid)
    else:
        up, down, energy = cached_hartree_fock_orbitals(system, grid, settings.hartree_fock_iterations)
        log.info("%s: Hartree-Fock start state, E_HF = %.10f Ha", system.name, energy)
    return slater_determinant_mps(sites, up, down)
