"""Exact references by DMRG (TeNPy) for the 1D lattice Hamiltonian of docs/physics.md section 4.

    H = sum_{ij,s} t_ij c+_{is} c_{js} + sum_i A n_{i,up} n_{i,dn} + sum_{i<j} A lambda^|i-j| N_i N_j
    t = T + diag(v_ext)   (5-point stencil: hopping to distance 1 and 2)
    lambda = exp(-kappa h)

One site per grid point (SpinHalfFermionSite, N and S_z conserved, S_z = N_unp / 2). Site amplitudes are grid
amplitudes times sqrt(h): matrix elements carry no h and ``n(x_j) = <N_j> / h``.

Convergence protocol (:func:`run_dmrg`):

1. Start state: the unrestricted Hartree-Fock Slater determinant of the same lattice Hamiltonian, written
   exactly as an MPS (bond dimension <= 2^N_up 2^N_dn) by applying one-orbital creation MPOs to the vacuum.
   Alternatives: the non-interacting determinant, a product state (electrons on the sites of highest
   non-interacting density), or that product state scrambled by random two-site gates ("random"); the
   references run at least two of them and compare (sksr.references).
2. Two-site DMRG with a bond-dimension schedule (chi cap growing 32 -> 64 -> 128, never below
   min(4 * 2^N, 128) so the start determinant is not truncated; svd_min sets the chi actually kept) and a
   subspace-expansion mixer during the first sweeps only.
   Sweeps first cover only the window of sites where the start state or the Hartree-Fock state holds more
   than 1e-12 electrons per site (the tails of a 513-point grid carry nothing); once converged there,
   full-chain sweeps follow until a full-chain sweep meets the criteria.
3. Stop when |E_k - E_{k-1}| < ``energy_tolerance`` AND the largest truncation error of sweep k is below
   ``max_truncation_error`` AND the mixer is off. Otherwise, after ``max_sweeps`` sweeps, raise
   :class:`DMRGNotConvergedError` giving the last energy change: never a silent unconverged result.
4. Every ``checkpoint_every`` sweeps the MPS and the sweep history go to ``checkpoint_path`` (npz, atomic
   write); a restarted job resumes from there.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import time
from typing import Any, Callable, Mapping

import numpy as np
import scipy.linalg
import tenpy.linalg.np_conserved as npc
from tenpy.algorithms.dmrg import TwoSiteDMRGEngine
from tenpy.algorithms.tebd import RandomUnitaryEvolution
from tenpy.linalg.charges import LegCharge
from tenpy.models.lattice import Chain
from tenpy.models.model import CouplingMPOModel
from tenpy.networks.mpo import MPO
from tenpy.networks.mps import MPS
from tenpy.networks.site import SpinHalfFermionSite

from sksr.atomic_io import atomic_savez
from sksr.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.grid import Grid
from sksr.hamiltonian import one_electron_hamiltonian
from sksr.systems import System

LOGGER = logging.getLogger(__name__)

START_STATES = ("hartree_fock", "noninteracting", "product", "random")
START_SVD_CUTOFF = 1e-12
"""Singular values of a start determinant's MPS below this are dropped (eigensolver noise in the tails)."""
RANDOM_START_STEPS = 4
"""Layers of random two-site orthogonal gates applied to the product state for the ``random`` start."""
CHECKPOINT_FORMAT = "sksr-dmrg-checkpoint-1"


class DMRGNotConvergedError(RuntimeError):
    """DMRG reached the sweep limit without meeting the convergence criteria."""


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DMRGSettings:
    """DMRG convergence protocol. Defaults converge the paper's twenty systems to 1e-8 Ha per sweep.

    Attributes:
      energy_tolerance: converged when |E_k - E_{k-1}| < this (Ha), default 1e-8.
      max_truncation_error: ... AND the largest discarded weight of the sweep is below this, default 1e-9.
      chi_schedule: bond-dimension schedule as ((first_sweep, chi_max), ...), first_sweep increasing from 0;
        chi_max of the last entry holds for all later sweeps. Default ((0, 32), (2, 64), (4, 128)). The chi
        actually kept is usually set by ``svd_min``; the schedule caps it. Never below
        min(4 * 2^N, largest scheduled chi) (see :meth:`chi_for`): a Slater start state has bond dimension
        up to 2^N and truncating it further in the first sweeps ruins it.
      svd_min: singular values below this are discarded (TeNPy trunc_params svd_min), default 1e-9.
      min_sweeps: never stop before this many sweeps, default 2.
      max_sweeps: raise DMRGNotConvergedError after this many sweeps, default 40.
      mixer: use TeNPy's subspace-expansion mixer during the first sweeps, default True.
      mixer_amplitude: initial mixer amplitude, default 1e-5.
      mixer_decay: amplitude divided by this after each sweep, default 2.0.
      mixer_sweeps: mixer switched off after this many sweeps, default 3.
      lanczos_max_iterations: Lanczos N_max per local update, default 20.
      lanczos_min_iterations: Lanczos N_min, default 2.
      lanczos_energy_tolerance: Lanczos E_tol, default 1e-13 Ha.
      start_state: "hartree_fock" (default), "noninteracting", "product" (electrons on the sites of
        highest non-interacting density) or "random" (that product state scrambled by random local gates).
      random_seed: seed of the "random" start state's gates, default 0.
      hartree_fock_iterations: maximum UHF iterations for the start state, default 300.
      checkpoint_every: save the MPS after every this many sweeps when a checkpoint path is given, default 2.
      window_threshold: sweep first only over the window of sites whose occupation <N_i> (electrons per
        site) in the start state, or for a fresh start in the Hartree-Fock state, exceeds this, plus
        ``window_margin`` sites each side; the frozen tails
        keep the start-state tensors. Once converged in the window, full-chain sweeps continue until the
        criteria hold for a full-chain sweep (so the result is converged on the whole grid).
        0 disables the window. Default 1e-12.
      window_margin: extra sites on each side of the window, default 8.
    """

    energy_tolerance: float = 1e-8
    max_truncation_error: float = 1e-9
    chi_schedule: tuple = ((0, 32), (2, 64), (4, 128))
    svd_min: float = 1e-9
    min_sweeps: int = 2
    max_sweeps: int = 40
    mixer: bool = True
    mixer_amplitude: float = 1e-5
    mixer_decay: float = 2.0
    mixer_sweeps: int = 3
    lanczos_max_iterations: int = 20
    lanczos_min_iterations: int = 2
    lanczos_energy_tolerance: float = 1e-13
    start_state: str = "hartree_fock"
    random_seed: int = 0
    hartree_fock_iterations: int = 300
    checkpoint_every: int = 2
    window_threshold: float = 1e-12
    window_margin: int = 8

    def __post_init__(self):
        def positive(name, integer=False, allow_zero=False):
            value = getattr(self, name)
            kind = (int,) if integer else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
                raise ValueError(f"dmrg.{name} must be a {'integer' if integer else 'number'}, got {value!r}")
            if value < 0 or (value == 0 and not allow_zero):
                raise ValueError(f"dmrg.{name} must be {'non-negative' if allow_zero else 'positive'}, got {value!r}")

        for name in ("energy_tolerance", "max_truncation_error", "mixer_amplitude", "lanczos_energy_tolerance"):
            positive(name)
        positive("svd_min", allow_zero=True)
        positive("window_threshold", allow_zero=True)
        positive("window_margin", integer=True, allow_zero=True)
        for name in ("max_sweeps", "lanczos_max_iterations", "lanczos_min_iterations", "checkpoint_every"):
            positive(name, integer=True)
        for name in ("min_sweeps", "mixer_sweeps", "hartree_fock_iterations", "random_seed"):
            positive(name, integer=True, allow_zero=True)
        if self.mixer_decay < 1.0:
            raise ValueError(f"dmrg.mixer_decay must be >= 1, got {self.mixer_decay!r}")
        if not isinstance(self.mixer, bool):
            raise ValueError(f"dmrg.mixer must be true or false, got {self.mixer!r}")
        if self.min_sweeps > self.max_sweeps:
            raise ValueError(f"dmrg.min_sweeps = {self.min_sweeps} exceeds dmrg.max_sweeps = {self.max_sweeps}")
        if self.start_state not in START_STATES:
            raise ValueError(f"dmrg.start_state must be one of {START_STATES}, got {self.start_state!r}")
        object.__setattr__(self, "chi_schedule", _validate_chi_schedule(self.chi_schedule))

    def chi_at(self, sweep: int) -> int:
        """chi_max used in sweep number ``sweep`` (0-based)."""
        return max((chi for first, chi in self.chi_schedule if first <= sweep), default=self.chi_schedule[0][1])

    def chi_for(self, sweep: int, n_electrons: int) -> int:
        """chi_max used in ``sweep`` for N electrons: the schedule, floored at min(4 * 2^N, chi_max)."""
        return max(self.chi_at(sweep), min(4 * 2**n_electrons, self.chi_max))

    @property
    def chi_max(self) -> int:
        """Largest bond dimension of the schedule."""
        return max(chi for _, chi in self.chi_schedule)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["chi_schedule"] = [list(entry) for entry in self.chi_schedule]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "DMRGSettings":
        """Build from a config mapping; unknown keys raise ValueError naming them (defaults for the rest).

        ``chi_schedule`` may be a list of [first_sweep, chi_max] pairs or a mapping {first_sweep: chi_max}.
        """
        return settings_from_mapping(cls, data, "dmrg")


def settings_from_mapping(cls, data: Mapping[str, Any] | None, section: str):
    """``cls(**data)`` for a settings dataclass; keys that are not fields raise ValueError naming ``section``."""
    data = dict(data or {})
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"{section}: unknown settings {unknown}; known settings are {sorted(fields)}")
    return cls(**data)


def _validate_chi_schedule(schedule) -> tuple:
    if isinstance(schedule, Mapping):
        schedule = list(schedule.items())
    try:
        entries = [tuple(entry) for entry in schedule]
    except TypeError:
        raise ValueError(f"dmrg.chi_schedule must be a list of [first_sweep, chi_max] pairs, got {schedule!r}")
    if not entries:
        raise ValueError("dmrg.chi_schedule must not be empty")
    result = []
    for entry in entries:
        if len(entry) != 2:
            raise ValueError(f"dmrg.chi_schedule entries must be [first_sweep, chi_max] pairs, got {list(entry)!r}")
        first, chi = entry
        for label, value in (("first_sweep", first), ("chi_max", chi)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"dmrg.chi_schedule: {label} must be an integer, got {value!r}")
        if first < 0 or chi < 1:
            raise ValueError(f"dmrg.chi_schedule: need first_sweep >= 0 and chi_max >= 1, got {list(entry)!r}")
        result.append((int(first), int(chi)))
    firsts = [first for first, _ in result]
    if firsts != sorted(set(firsts)):
        raise ValueError(f"dmrg.chi_schedule: first_sweep values must be strictly increasing, got {firsts}")
    if firsts[0] != 0:
        raise ValueError(f"dmrg.chi_schedule must start at sweep 0, got first entry {list(result[0])}")
    return tuple(result)


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------


class ExponentialInteractionChain(CouplingMPOModel):
    """Spin-1/2 fermions on a finite chain, one site per grid point, with the exponential interaction.

    Model parameters (``model_params``):
      hopping: t = T + diag(v_ext), shape (L, L), Ha, symmetric, nonzero only for |i - j| <= 2.
      amplitude: A, Ha (on-site A n_up n_dn and long-range prefactor).
      decay: lambda = exp(-kappa h).

    Terms: t_ii N_i; t_{i,i+d} (c+_{i,s} c_{i+d,s} + h.c.) for d = 1, 2; A n_up n_dn;
    A sum_{i<j} lambda^|i-j| N_i N_j (add_exponentially_decaying_coupling, an exact small MPO).
    """

    default_lattice = Chain
    force_default_lattice = True

    def init_sites(self, model_params):
        return SpinHalfFermionSite(cons_N="N", cons_Sz="Sz")

    def init_lattice(self, model_params):
        hopping = np.asarray(model_params.get("hopping", None))
        model_params.setdefault("L", hopping.shape[0])
        model_params.setdefault("bc_MPS", "finite")
        model_params.setdefault("bc_x", "open")
        return super().init_lattice(model_params)

    def init_terms(self, model_params):
        hopping = np.asarray(model_params.get("hopping", None), dtype=float)
        amplitude = float(model_params.get("amplitude", EXPONENTIAL_AMPLITUDE))
        decay = float(model_params.get("decay", None))
        num_sites = hopping.shape[0]
        if hopping.shape != (num_sites, num_sites) or not np.allclose(hopping, hopping.T, atol=0.0):
            raise ValueError(f"hopping must be a symmetric square matrix, got shape {hopping.shape}")
        if np.any(np.triu(hopping, k=3) != 0.0):
            raise ValueError("hopping reaches beyond distance 2; the 5-point stencil model supports d <= 2")
        self.add_onsite(np.diag(hopping).copy(), 0, "Ntot")
        for distance in (1, 2):
            strength = np.diag(hopping, k=distance).copy()
            if np.any(strength != 0.0):
                self.add_coupling(strength, 0, "Cdu", 0, "Cu", distance, plus_hc=True)
                self.add_coupling(strength, 0, "Cdd", 0, "Cd", distance, plus_hc=True)
        self.add_onsite(amplitude, 0, "NuNd")
        self.add_exponentially_decaying_coupling(amplitude, decay, "Ntot", "Ntot")


def build_model(system: System, grid: Grid) -> ExponentialInteractionChain:
    """The TeNPy model of ``system`` on ``grid`` (G sites)."""
    params = {
        "hopping": one_electron_hamiltonian(system, grid),
        "amplitude": EXPONENTIAL_AMPLITUDE,
        "decay": float(np.exp(-EXPONENTIAL_KAPPA * grid.spacing)),
    }
    return ExponentialInteractionChain(params)


# ----------------------------------------------------------------------------------------------
# Start states
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# MPS <-> arrays (pickle-free checkpoints)
# ----------------------------------------------------------------------------------------------


def _leg_to_arrays(leg: LegCharge, prefix: str) -> dict:
    return {
        f"{prefix}_charges": np.asarray(leg.charges),
        f"{prefix}_slices": np.asarray(leg.slices),
        f"{prefix}_flags": np.array([leg.qconj, int(leg.sorted), int(leg.bunched)]),
    }


def _leg_from_arrays(chinfo, arrays: Mapping, prefix: str) -> LegCharge:
    qconj, is_sorted, bunched = (int(x) for x in arrays[f"{prefix}_flags"])
    leg = LegCharge(chinfo, arrays[f"{prefix}_slices"], arrays[f"{prefix}_charges"], qconj=qconj)
    leg.sorted, leg.bunched = bool(is_sorted), bool(bunched)
    return leg


def mps_to_arrays(psi: MPS) -> dict[str, np.ndarray]:
    """Flatten a finite MPS (right-canonical 'B' tensors, legs vL p vR) into numpy arrays."""
    arrays = {"mps_num_sites": np.array(psi.L), "mps_norm": np.array(psi.norm)}
    for i in range(psi.L):
        b = psi.get_B(i, "B").itranspose(["vL", "p", "vR"])
        arrays.update(_leg_to_arrays(b.get_leg("vL"), f"B{i}_vL"))
        arrays.update(_leg_to_arrays(b.get_leg("vR"), f"B{i}_vR"))
        arrays[f"B{i}_qtotal"] = np.asarray(b.qtotal)
        arrays[f"B{i}_qdata"] = np.asarray(b._qdata)
        arrays[f"B{i}_qdata_sorted"] = np.array(int(b._qdata_sorted))
        arrays[f"B{i}_data"] = (np.concatenate([block.ravel() for block in b._data]) if b._data
                                else np.zeros(0))
    for i in range(psi.L + 1):
        arrays[f"S{i}"] = np.asarray(psi.get_SL(i) if i < psi.L else psi.get_SR(psi.L - 1))
    return arrays


def mps_from_arrays(sites: list, arrays: Mapping[str, np.ndarray]) -> MPS:
    """Inverse of :func:`mps_to_arrays` for the given sites."""
    num_sites = int(arrays["mps_num_sites"])
    if num_sites != len(sites):
        raise ValueError(f"checkpoint MPS has {num_sites} sites, the model has {len(sites)}")
    chinfo = sites[0].leg.chinfo
    tensors = []
    for i in range(num_sites):
        legs = [_leg_from_arrays(chinfo, arrays, f"B{i}_vL"), sites[i].leg,
                _leg_from_arrays(chinfo, arrays, f"B{i}_vR")]
        b = npc.Array(legs, dtype=np.float64, qtotal=arrays[f"B{i}_qtotal"], labels=["vL", "p", "vR"])
        qdata = np.asarray(arrays[f"B{i}_qdata"], dtype=np.intp).reshape(-1, 3)
        flat, offset, blocks = arrays[f"B{i}_data"], 0, []
        for row in qdata:
            shape = tuple(int(leg.slices[q + 1] - leg.slices[q]) for leg, q in zip(legs, row))
            size = int(np.prod(shape))
            blocks.append(np.array(flat[offset:offset + size]).reshape(shape))
            offset += size
        b._qdata = qdata
        b._data = blocks
        b._qdata_sorted = bool(arrays[f"B{i}_qdata_sorted"])
        b.test_sanity()
        tensors.append(b)
    singular_values = [np.asarray(arrays[f"S{i}"]) for i in range(num_sites + 1)]
    return MPS(sites, tensors, singular_values, bc="finite", form="B", norm=float(arrays["mps_norm"]),
               unit_cell_width=num_sites)


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SweepHistory:
    """Per-sweep record: energy (Ha), chi_max used, largest bond dimension, largest truncation error, wall s,
    and whether the sweep covered the full chain (False: window sweep)."""

    energy: list = dataclasses.field(default_factory=list)
    chi_limit: list = dataclasses.field(default_factory=list)
    bond_dim: list = dataclasses.field(default_factory=list)
    truncation_error: list = dataclasses.field(default_factory=list)
    seconds: list = dataclasses.field(default_factory=list)
    full_chain: list = dataclasses.field(default_factory=list)

    def append(self, energy, chi_limit, bond_dim, truncation_error, seconds, full_chain=True):
        self.energy.append(float(energy))
        self.chi_limit.append(int(chi_limit))
        self.bond_dim.append(int(bond_dim))
        self.truncation_error.append(float(truncation_error))
        self.seconds.append(float(seconds))
        self.full_chain.append(bool(full_chain))

    def __len__(self):
        return len(self.energy)

    @property
    def last_change(self) -> float:
        """E_k - E_{k-1} of the last sweep (nan before two sweeps)."""
        return self.energy[-1] - self.energy[-2] if len(self.energy) >= 2 else float("nan")

    def to_arrays(self, prefix: str = "sweep_") -> dict[str, np.ndarray]:
        return {
            f"{prefix}energy": np.array(self.energy, dtype=float),
            f"{prefix}chi_limit": np.array(self.chi_limit, dtype=int),
            f"{prefix}bond_dim": np.array(self.bond_dim, dtype=int),
            f"{prefix}truncation_error": np.array(self.truncation_error, dtype=float),
            f"{prefix}seconds": np.array(self.seconds, dtype=float),
            f"{prefix}full_chain": np.array(self.full_chain, dtype=bool),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping, prefix: str = "sweep_") -> "SweepHistory":
        return cls(*(list(np.asarray(arrays[f"{prefix}{name}"]).tolist())
                     for name in ("energy", "chi_limit", "bond_dim", "truncation_error", "seconds",
                                  "full_chain")))


@dataclasses.dataclass
class DMRGOutcome:
    """What :func:`run_dmrg` returns.

    Attributes:
      energy: <psi|H|psi> of the final MPS, electronic (no E_NN), Ha.
      density_up, density_down: spin densities, shape (G,), 1/bohr.
      history: per-sweep record.
      wall_seconds: time of this call (not counting earlier interrupted runs).
      resumed_from_sweep: number of sweeps loaded from a checkpoint (0 for a fresh start).
      psi: the final MPS.
      model: the TeNPy model (its H_MPO measures energies of other states of the same problem).
    """

    energy: float
    density_up: np.ndarray
    density_down: np.ndarray
    history: SweepHistory
    wall_seconds: float
    resumed_from_sweep: int
    psi: MPS
    model: ExponentialInteractionChain | None = None


def problem_fingerprint(system: System, grid: Grid, settings: DMRGSettings) -> str:
    """Hash of the system, grid and convergence settings; a checkpoint only resumes the same problem."""
    physics = {"system": system.to_dict(), "grid": grid.to_dict(),
               "A": EXPONENTIAL_AMPLITUDE, "kappa": EXPONENTIAL_KAPPA}
    physics["settings"] = {k: v for k, v in settings.to_dict().items() if k not in ("checkpoint_every", "max_sweeps")}
    return hashlib.sha256(json.dumps(physics, sort_keys=True).encode()).hexdigest()[:16]


def save_checkpoint(path: str | os.PathLike, psi: MPS, history: SweepHistory, fingerprint: str) -> None:
    """Atomically write the MPS and sweep history to ``path`` (npz, no pickle)."""
    arrays = mps_to_arrays(psi)
    arrays.update(history.to_arrays())
    arrays["format"] = np.array(CHECKPOINT_FORMAT)
    arrays["fingerprint"] = np.array(fingerprint)
    atomic_savez(path, arrays)


def load_checkpoint(path: str | os.PathLike, sites: list, fingerprint: str) -> tuple[MPS, SweepHistory] | None:
    """Load a checkpoint written by :func:`save_checkpoint`; None if absent. Refuses a different problem."""
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if str(arrays.get("format")) != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an sksr DMRG checkpoint (format {arrays.get('format')!r})")
    if str(arrays["fingerprint"]) != fingerprint:
        raise ValueError(
            f"{path}: checkpoint belongs to a different system/grid/settings (fingerprint "
            f"{arrays['fingerprint']} != {fingerprint}); delete it to start over"
        )
    return mps_from_arrays(sites, arrays), SweepHistory.from_arrays(arrays)


class WindowedTwoSiteDMRGEngine(TwoSiteDMRGEngine):
    """TwoSiteDMRGEngine whose sweeps can be restricted to the sites ``window = (first, last)``.

    Sites outside the window keep their tensors; their environments stay valid. ``window = None``
    sweeps the whole chain (TeNPy's schedule).
    """

    window: tuple[int, int] | None = None

    def set_window(self, window: tuple[int, int] | None) -> None:
        """Change the swept sites; drops cached environments that the new schedule might misuse."""
        if window is not None and (window[0] <= 0 and window[1] >= self.psi.L - 1):
            window = None
        if window != self.window:
            self.env.clear()
        self.window = window

    def get_sweep_schedule(self):
        if self.window is None:
            return super().get_sweep_schedule()
        first, last = self.window
        i0s = list(range(first, last - 1)) + list(range(last - 1, first, -1))
        move_right = [True] * (last - 1 - first) + [False] * (last - 1 - first)
        update_lp_rp = [[True, False]] * (last - 1 - first) + [[False, True]] * (last - 1 - first)
        return zip(i0s, move_right, update_lp_rp)


def active_window(occupation: np.ndarray, threshold: float, margin: int) -> tuple[int, int] | None:
    """Sites (first, last) where ``occupation`` (electrons per site, shape (G,)) exceeds ``threshold``, widened
    by ``margin``; None for the whole chain."""
    if threshold <= 0:
        return None
    num_sites = len(occupation)
    active = np.flatnonzero(np.asarray(occupation) > threshold)
    if active.size == 0:
        return None
    first, last = max(0, active[0] - margin), min(num_sites - 1, active[-1] + margin)
    if last - first < 3 or (first == 0 and last == num_sites - 1):
        return None
    return int(first), int(last)


def window_occupation(psi: MPS, system: System, grid: Grid, settings: DMRGSettings, fresh: bool) -> np.ndarray:
    """Occupation per site that sets the window, shape (G,): the start state's, and for a fresh start at least
    the Hartree-Fock one (a product or randomized start is far more compact than the ground state)."""
    occupation = np.real(psi.expectation_value("Ntot"))
    if fresh and settings.window_threshold > 0:
        up, down, _ = cached_hartree_fock_orbitals(system, grid, settings.hartree_fock_iterations)
        occupation = np.maximum(occupation, np.sum(up**2, axis=1) + np.sum(down**2, axis=1))
    return occupation


def _engine_options(settings: DMRGSettings, first_sweep: int) -> dict:
    """TeNPy TwoSiteDMRGEngine options; the mixer is set up for the sweeps still ahead of ``first_sweep``."""
    options = {
        "trunc_params": {"chi_max": settings.chi_at(first_sweep), "svd_min": settings.svd_min},  # reset per sweep
        "lanczos_params": {
            "N_max": settings.lanczos_max_iterations,
            "N_min": settings.lanczos_min_iterations,
            "E_tol": settings.lanczos_energy_tolerance,
        },
        "N_sweeps_check": 1,
        "combine": True,
        "mixer": False,
    }
    remaining_mixer_sweeps = settings.mixer_sweeps - first_sweep
    if settings.mixer and remaining_mixer_sweeps > 0:
        options["mixer"] = "SubspaceExpansion"
        options["mixer_params"] = {
            "amplitude": settings.mixer_amplitude / settings.mixer_decay**first_sweep,
            "decay": settings.mixer_decay,
            "disable_after": remaining_mixer_sweeps,
        }
    return options


def densities(psi: MPS, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Spin densities <n_{j,s}> / h, shapes (G,), 1/bohr."""
    return (np.real(psi.expectation_value("Nu")) / grid.spacing,
            np.real(psi.expectation_value("Nd")) / grid.spacing)


def run_dmrg(
    system: System,
    grid: Grid,
    settings: DMRGSettings | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    log: logging.Logger = LOGGER,
    after_sweep: Callable[[int], None] | None = None,
    start: MPS | None = None,
) -> DMRGOutcome:
    """Ground state of ``system`` on ``grid`` by two-site DMRG with the protocol of this module.

    Args:
      system, grid: the problem (nuclei on grid points).
      settings: convergence protocol (default DMRGSettings()).
      checkpoint_path: npz written every ``settings.checkpoint_every`` sweeps; resumed from when it exists.
      log: logger for progress (one line per sweep).
      after_sweep: called with the number of sweeps of this call after each sweep (and its checkpoint);
        tests raise from it to interrupt a run at a chosen sweep.
      start: an explicit start MPS (on the model's sites) instead of ``settings.start_state`` (tests and
        experiments: e.g. a deliberately wrong occupation pattern).

    Raises:
      DMRGNotConvergedError: not converged after ``settings.max_sweeps`` sweeps.
    """
    settings = settings or DMRGSettings()
    system.check_on_grid(grid)
    clock = time.perf_counter()
    model = build_model(system, grid)
    log.info("%s: TeNPy model (MPO bond dimension %d) built in %.1f s", system.name, max(model.H_MPO.chi),
             time.perf_counter() - clock)
    sites = model.lat.mps_sites()
    fingerprint = problem_fingerprint(system, grid, settings)
    loaded = load_checkpoint(checkpoint_path, sites, fingerprint) if checkpoint_path else None
    if loaded is not None:
        psi, history = loaded
        log.info("%s: resuming from %s after %d sweeps (E = %.12f Ha)", system.name, checkpoint_path,
                 len(history), history.energy[-1])
    else:
        start_clock = time.perf_counter()
        psi = start.copy() if start is not None else start_mps(model, system, grid, settings, log)
        history = SweepHistory()
        log.info("%s: start state %s, <H> = %.10f Ha, max chi %d, built in %.1f s", system.name,
                 "given" if start is not None else settings.start_state,
                 model.H_MPO.expectation_value(psi), max(psi.chi),
                 time.perf_counter() - start_clock)
    resumed_from = len(history)
    window = active_window(window_occupation(psi, system, grid, settings, fresh=loaded is None),
                           settings.window_threshold, settings.window_margin)
    if window is not None:
        log.info("%s: window sweeps over sites %d..%d (x = %.2f..%.2f bohr) of %d", system.name, window[0],
                 window[1], grid.coordinates[window[0]], grid.coordinates[window[1]], grid.num_points)
    engine = None
    if not (resumed_from and _is_converged(history, settings)):
        engine = WindowedTwoSiteDMRGEngine(psi, model, _engine_options(settings, resumed_from))
        engine.pre_run_initialize()
    sweeps_this_call = 0
    while engine is not None and not _is_converged(history, settings, engine):
        sweep = len(history)
        if sweep >= settings.max_sweeps:
            raise DMRGNotConvergedError(
                f"{system.name}: DMRG ({settings.start_state} start) not converged after {sweep} sweeps: "
                f"last energy change {history.last_change:.3e} Ha (tolerance {settings.energy_tolerance:.1e}), "
                f"last max truncation error {history.truncation_error[-1]:.2e} "
                f"(limit {settings.max_truncation_error:.1e}), "
                f"last energy {history.energy[-1]:.10f} Ha, chi_max {history.chi_limit[-1]}"
            )
        # Window sweeps until converged there, then full-chain sweeps until converged on the whole grid.
        full_chain = window is None or (len(history) > 0 and (history.full_chain[-1] or _is_converged(
            history, settings, engine, require_full_chain=False)))
        engine.set_window(None if full_chain else window)
        chi_limit = settings.chi_for(sweep, system.n_electrons)
        engine.trunc_params["chi_max"] = chi_limit
        mixer_on = engine.mixer is not None
        _sweep(engine, history, chi_limit, full_chain)
        log.info("%s: sweep %3d %s E = %.12f Ha  dE = %+.3e  chi = %4d (max %4d)  trunc_err = %.2e  mixer %s  %.1f s",
                 system.name, sweep + 1, "full  " if full_chain else "window", history.energy[-1], history.last_change,
                 history.bond_dim[-1], history.chi_limit[-1], history.truncation_error[-1],
                 "on" if mixer_on else "off", history.seconds[-1])
        sweeps_this_call += 1
        if checkpoint_path and (len(history) % settings.checkpoint_every == 0):
            save_checkpoint(checkpoint_path, engine.psi, history, fingerprint)
        if after_sweep is not None:
            after_sweep(sweeps_this_call)
    if engine is not None:
        engine.post_run_cleanup()
        psi = engine.psi
        if checkpoint_path:
            save_checkpoint(checkpoint_path, psi, history, fingerprint)
    outcome = _measured_outcome(model, psi, grid, history, clock, resumed_from)
    log.info("%s: converged after %d sweeps, E = %.12f Ha, |dE| = %.1e, max chi %d, %.1f s", system.name,
             len(history), outcome.energy, abs(history.last_change), max(psi.chi), outcome.wall_seconds)
    return outcome


def _sweep(engine: TwoSiteDMRGEngine, history: SweepHistory, chi_limit: int, full_chain: bool) -> None:
    """One DMRG sweep of ``engine``, recorded in ``history``."""
    clock = time.perf_counter()
    truncation_error = engine.sweep(meas_E_trunc=False)
    history.append(engine.update_stats["E_total"][-1], chi_limit, max(engine.psi.chi), truncation_error,
                   time.perf_counter() - clock, full_chain)


def _measured_outcome(model, psi: MPS, grid: Grid, history: SweepHistory, clock: float,
                      resumed_from: int) -> DMRGOutcome:
    """DMRGOutcome of the final state ``psi``: <H> (Ha) and spin densities measured on it."""
    energy = float(np.real(model.H_MPO.expectation_value(psi)))
    density_up, density_down = densities(psi, grid)
    return DMRGOutcome(energy, density_up, density_down, history, time.perf_counter() - clock,
                       resumed_from, psi, model)


def refinement_truncation(settings: DMRGSettings, factor: float) -> tuple[int, float]:
    """(chi_max, svd_min) of the refinement: the schedule's largest chi times ``factor``, svd_min / factor^2."""
    return int(round(settings.chi_max * factor)), settings.svd_min / factor**2


def refine_bond_dimension(
    outcome: DMRGOutcome,
    grid: Grid,
    settings: DMRGSettings,
    factor: float = 2.0,
    max_sweeps: int = 4,
    log: logging.Logger = LOGGER,
    name: str = "",
) -> tuple[DMRGOutcome, float, bool]:
    """Continue a converged run at chi_max * factor and svd_min / factor^2 (mixer off) until a full-chain
    sweep changes the energy by less than ``settings.energy_tolerance`` (at most ``max_sweeps`` sweeps), and
    extrapolate the energy to zero discarded weight.

    With E_1, w_1 the energy and largest discarded weight of the converged run and E_2, w_2 those of the
    refined state, the linear extrapolation in the discarded weight is
    E_inf = E_2 - (E_1 - E_2) w_2 / (w_1 - w_2) (E_2 when w_2 >= w_1).

    Returns:
      (refined outcome: energy and densities of the refined state and ``outcome.history`` extended by the
      refinement sweeps, E_inf in Ha, whether the last refinement sweep met the energy tolerance).
      ``outcome`` itself is left unchanged.
    """
    clock = time.perf_counter()
    options = _engine_options(settings, first_sweep=settings.mixer_sweeps)  # mixer off
    chi_limit, svd_min = refinement_truncation(settings, factor)
    options["trunc_params"] = {"chi_max": chi_limit, "svd_min": svd_min}
    engine = WindowedTwoSiteDMRGEngine(outcome.psi.copy(), outcome.model, options)
    engine.pre_run_initialize()
    history = SweepHistory.from_arrays(outcome.history.to_arrays())
    converged = False
    for sweep in range(max_sweeps):
        _sweep(engine, history, chi_limit, full_chain=True)
        log.info("%s: refinement sweep %d at chi_max %d, svd_min %.1e: E = %.12f Ha  dE = %+.3e  chi = %d  "
                 "trunc_err = %.2e  %.1f s", name, sweep + 1, chi_limit, svd_min, history.energy[-1],
                 history.last_change, history.bond_dim[-1], history.truncation_error[-1], history.seconds[-1])
        converged = abs(history.last_change) < settings.energy_tolerance
        if converged:
            break
    engine.post_run_cleanup()
    refined = _measured_outcome(outcome.model, engine.psi, grid, history, clock, 0)
    extrapolated = extrapolate_to_zero_truncation(outcome.energy, outcome.history.truncation_error[-1],
                                                  refined.energy, history.truncation_error[-1])
    return refined, extrapolated, converged


def extrapolate_to_zero_truncation(energy_1: float, weight_1: float, energy_2: float, weight_2: float) -> float:
    """Linear extrapolation of E(w) through (w_1, E_1), (w_2, E_2) to w = 0 (E_2 when w_2 >= w_1)."""
    if not weight_1 > weight_2:
        return energy_2
    return energy_2 - (energy_1 - energy_2) * weight_2 / (weight_1 - weight_2)


def _is_converged(history: SweepHistory, settings: DMRGSettings, engine=None, require_full_chain=True) -> bool:
    """Energy change below tolerance AND truncation error small AND mixer off AND min_sweeps done
    (AND, with ``require_full_chain``, the last sweep covered the whole chain)."""
    if len(history) < max(2, settings.min_sweeps):
        return False
    if require_full_chain and not history.full_chain[-1]:
        return False
    if engine is not None and engine.mixer is not None:
        return False
    if settings.mixer and len(history) <= settings.mixer_sweeps:
        return False  # the last sweep still had the mixer on
    return (abs(history.last_change) < settings.energy_tolerance
            and history.truncation_error[-1] < settings.max_truncation_error)
