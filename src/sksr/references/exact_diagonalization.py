"""Exact diagonalization (ED) of the lattice Hamiltonian used by DMRG (docs/physics.md section 4).

    H = sum_{ij,s} t_ij c+_{is} c_{js} + sum_i A n_{i,up} n_{i,dn} + sum_{i<j} A lambda^|i-j| N_i N_j,
    t = T + diag(v_ext),  lambda = exp(-kappa h).

Site amplitudes are grid amplitudes times sqrt(h): matrix elements carry no h and the lattice occupation
``<N_j>`` relates to the density by ``n(x_j) = <N_j> / h``. Two solvers:

- :func:`two_electron_ground_state`: the two-electron problem in first quantization, a (G, G) amplitude
  matrix, symmetric (singlet) or antisymmetric (triplet); cheap even on the 513-point paper grid.
- :func:`fock_space_ground_state`: any N_up, N_dn in the occupation-number basis (small grids: up to a few
  tens of millions of states); it tests the many-electron terms, in particular the exponentially decaying
  density-density coupling, and checks DMRG on coarse grids.

Everything is float64, energies in Ha, densities in 1/bohr.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from sksr.core.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.core.grid import Grid
from sksr.core.hamiltonian import one_electron_hamiltonian
from sksr.core.systems import System
from sksr.references.files import SpinDensities

# Fock-space dimension above which the ED refuses (the Lanczos vectors would not fit in a few GB).
MAX_FOCK_DIMENSION = 40_000_000


@dataclasses.dataclass(frozen=True)
class LatticeHamiltonian:
    """The lattice Hamiltonian in the site basis.

    Attributes:
      hopping: t = T + diag(v_ext), shape (G, G), Ha, symmetric (pentadiagonal for the 5-point stencil).
      amplitude: A, Ha; the on-site Hubbard term is A n_up n_dn.
      decay: lambda = exp(-kappa h), dimensionless; the coupling of sites i != j is A lambda^|i-j|.
    """

    hopping: np.ndarray
    amplitude: float
    decay: float

    @property
    def num_sites(self) -> int:
        return self.hopping.shape[0]

    def pair_interaction(self) -> np.ndarray:
        """V_ij = A lambda^|i-j| for all i, j (the diagonal is the Hubbard A), shape (G, G), Ha."""
        index = np.arange(self.num_sites)
        return self.amplitude * self.decay ** np.abs(index[:, None] - index[None, :])


def lattice_hamiltonian(system: System, grid: Grid) -> LatticeHamiltonian:
    """The lattice Hamiltonian of ``system`` on ``grid`` (docs/physics.md section 4)."""
    return LatticeHamiltonian(
        hopping=one_electron_hamiltonian(system, grid),
        amplitude=EXPONENTIAL_AMPLITUDE,
        decay=float(np.exp(-EXPONENTIAL_KAPPA * grid.spacing)),
    )


@dataclasses.dataclass(frozen=True)
class EDResult(SpinDensities):
    """Ground state from exact diagonalization.

    Attributes:
      energy: electronic energy (no E_NN), Ha.
      density_up, density_down: spin densities on the grid, shape (G,), 1/bohr.
      residual: ||H psi - E psi|| of the normalized eigenvector, Ha.
    """

    energy: float
    density_up: np.ndarray
    density_down: np.ndarray
    residual: float


def one_electron_ground_state(system: System, grid: Grid) -> EDResult:
    """Exact ground state of one (spin-up) electron: lowest eigenpair of T + diag(v_ext)."""
    if system.n_electrons != 1:
        raise ValueError(f"system {system.name!r}: one_electron_ground_state needs N = 1, got {system.n_electrons}")
    hamiltonian = one_electron_hamiltonian(system, grid)
    energies, orbitals = np.linalg.eigh(hamiltonian)
    density = orbitals[:, 0] ** 2 / grid.spacing
    residual = _residual(hamiltonian.__matmul__, energies[0], orbitals[:, 0])
    return EDResult(float(energies[0]), density, np.zeros_like(density), residual)


def _residual(matvec, energy: float, vector: np.ndarray) -> float:
    """||H v - E v|| for a normalized eigenvector estimate v, Ha."""
    return float(np.linalg.norm(matvec(vector) - energy * vector))


def _pair_operator(ham: LatticeHamiltonian, antisymmetric: bool) -> tuple[spla.LinearOperator, np.ndarray]:
    """H on two-electron amplitudes stored as the strict (antisymmetric) or full (symmetric) upper triangle.

    The vector holds sqrt(2) * psi_ij for i < j (and psi_ii for the symmetric case), so the map from vector
    to the (G, G) matrix ``psi`` is an isometry and the restricted operator is symmetric.
    """
    g = ham.num_sites
    rows, cols = np.triu_indices(g, k=1 if antisymmetric else 0)
    off = rows != cols
    scale = np.where(off, np.sqrt(0.5), 1.0)
    sign = -1.0 if antisymmetric else 1.0
    t = sp.csr_matrix(ham.hopping)  # banded: sparse products are much cheaper than dense ones
    v = ham.pair_interaction()

    def to_matrix(vector):
        psi = np.zeros((g, g))
        psi[rows, cols] = scale * vector
        psi[cols[off], rows[off]] = sign * scale[off] * vector[off]
        return psi

    def matvec(vector):
        psi = to_matrix(np.ravel(vector))
        h_psi = t @ psi + (t @ psi.T).T + v * psi
        return h_psi[rows, cols] / scale

    dim = rows.size
    return spla.LinearOperator((dim, dim), matvec=matvec, dtype=float), to_matrix


def two_electron_ground_state(
    system: System, grid: Grid, spin: str | None = None, tol: float = 1e-13, start: str = "orbitals", seed: int = 0
) -> EDResult:
    """Exact lowest two-electron state on the lattice by sparse Lanczos (scipy eigsh).

    Args:
      system: a system with N = 2.
      grid: the grid; G up to the paper's 513 is fine (the singlet space has G(G+1)/2 states).
      spin: "singlet" (S_z = 0; default when system.n_unpaired = 0) or "triplet" (both spin up; default
        when system.n_unpaired = 2).
      tol: eigsh tolerance.
      start: Lanczos start vector: "orbitals" (product of the lowest orbitals of t) or "random" (Gaussian
        entries drawn with ``seed``); two different starts that agree show that the lowest state was found.
      seed: seed of the random start vector.

    Returns:
      EDResult with the energy (Ha) and spin densities (1/bohr).
    """
    if system.n_electrons != 2:
        raise ValueError(f"system {system.name!r}: two_electron_ground_state needs N = 2, got {system.n_electrons}")
    if spin is None:
        spin = "singlet" if system.n_unpaired == 0 else "triplet"
    if spin not in ("singlet", "triplet"):
        raise ValueError(f"spin must be 'singlet' or 'triplet', got {spin!r}")
    ham = lattice_hamiltonian(system, grid)
    operator, to_matrix = _pair_operator(ham, antisymmetric=(spin == "triplet"))
    if start == "random":
        v0 = np.random.default_rng(seed).standard_normal(operator.shape[0])
    elif start == "orbitals":  # product of the lowest orbitals of t, projected on the space
        _, orbitals = np.linalg.eigh(ham.hopping)
        start_vector = np.outer(orbitals[:, 0], orbitals[:, 1 if spin == "triplet" else 0])
        start_vector = start_vector - start_vector.T if spin == "triplet" else start_vector
        rows, cols = np.triu_indices(ham.num_sites, k=1 if spin == "triplet" else 0)
        v0 = start_vector[rows, cols] * np.where(rows != cols, np.sqrt(2.0), 1.0)
    else:
        raise ValueError(f"start must be 'orbitals' or 'random', got {start!r}")
    energies, vectors = spla.eigsh(operator, k=1, which="SA", v0=v0, tol=tol, ncv=40, maxiter=20000)
    residual = _residual(operator.matvec, energies[0], vectors[:, 0])
    psi = to_matrix(vectors[:, 0])
    psi /= np.linalg.norm(psi)
    h = grid.spacing
    if spin == "singlet":
        # psi_ij: amplitude of (up at i, down at j).
        density_up = np.sum(psi**2, axis=1) / h
        density_down = np.sum(psi**2, axis=0) / h
    else:
        # State sum_{i<j} u_ij c+_i c+_j |0>, psi_ij = u_ij / sqrt(2) (antisymmetric), n_k = 2 sum_j psi_kj^2.
        density_up = 2.0 * np.sum(psi**2, axis=1) / h
        density_down = np.zeros(ham.num_sites)
    return EDResult(float(energies[0]), density_up, density_down, residual)


def _spin_basis(num_sites: int, n_particles: int) -> np.ndarray:
    """Occupation bitmasks of ``n_particles`` fermions on ``num_sites`` sites, sorted, shape (D,)."""
    states = [sum(1 << i for i in occ) for occ in itertools.combinations(range(num_sites), n_particles)]
    return np.array(sorted(states), dtype=np.int64 if num_sites < 63 else object)  # Python ints beyond 62 sites


def _occupations(states: np.ndarray, num_sites: int) -> np.ndarray:
    """0/1 occupations, shape (D, G)."""
    shifts = np.arange(num_sites, dtype=states.dtype)
    return ((states[:, None] >> shifts[None, :]) & 1).astype(float)


def _one_body_matrix(hopping: np.ndarray, states: np.ndarray) -> sp.csr_matrix:
    """sum_ij t_ij c+_i c_j for one spin species in the basis ``states`` (fermionic signs included)."""
    g = hopping.shape[0]
    index = {int(s): k for k, s in enumerate(states)}
    rows, cols, vals = [], [], []
    occ = _occupations(states, g)
    diagonal = occ @ np.diag(hopping)
    pairs = [(i, j) for i in range(g) for j in range(g) if i != j and hopping[i, j] != 0.0]
    for k, s in enumerate(states):
        s = int(s)
        for i, j in pairs:
            if not (s >> j) & 1 or (s >> i) & 1:
                continue
            lo, hi = min(i, j), max(i, j)
            between = bin(s & (((1 << hi) - 1) ^ ((1 << (lo + 1)) - 1))).count("1")
            new = (s ^ (1 << j)) | (1 << i)
            rows.append(index[new])
            cols.append(k)
            vals.append(hopping[i, j] * (-1.0) ** between)
    dim = len(states)
    off = sp.csr_matrix((vals, (rows, cols)), shape=(dim, dim))
    return off + sp.diags(diagonal)


def fock_space_ground_state(
    ham: LatticeHamiltonian, n_up: int, n_down: int, spacing: float, tol: float = 1e-12
) -> EDResult:
    """Exact ground state with fixed N_up, N_dn in the occupation-number basis.

    The state is stored as a (D_up, D_dn) amplitude matrix Psi, and H acts as
    ``H_up Psi + Psi H_dn^T + W * Psi`` (W: the diagonal interaction), so no Fock-space matrix is built;
    dimensions of tens of millions (e.g. 4 electrons on 65 sites) fit in memory.

    Args:
      ham: lattice Hamiltonian (G sites).
      n_up, n_down: electron numbers per spin.
      spacing: h in bohr, to turn occupations into densities.
      tol: Lanczos (scipy eigsh) tolerance.

    Returns:
      EDResult (energy in Ha, spin densities in 1/bohr, shape (G,)).
    """
    g = ham.num_sites
    dim = math.comb(g, n_up) * math.comb(g, n_down)
    if dim > MAX_FOCK_DIMENSION:
        raise ValueError(
            f"Fock-space ED dimension {dim} (G = {g}, N_up = {n_up}, N_dn = {n_down}) exceeds "
            f"MAX_FOCK_DIMENSION = {MAX_FOCK_DIMENSION}; use a smaller grid"
        )
    up_states, down_states = _spin_basis(g, n_up), _spin_basis(g, n_down)
    occ_up, occ_down = _occupations(up_states, g), _occupations(down_states, g)
    h_up = _one_body_matrix(ham.hopping, up_states)
    h_down = _one_body_matrix(ham.hopping, down_states)
    interaction = _diagonal_interaction(ham, occ_up, occ_down)
    shape = (len(up_states), len(down_states))

    def matvec(vector):
        psi = np.reshape(vector, shape)
        return (h_up @ psi + (h_down @ psi.T).T + interaction * psi).ravel()

    if dim <= 2000:
        dense = np.stack([matvec(column) for column in np.eye(dim)], axis=1)
        energies, vectors = np.linalg.eigh(dense)
    else:
        operator = spla.LinearOperator((dim, dim), matvec=matvec, dtype=float)
        v0 = np.ones(dim) / np.sqrt(dim)
        energies, vectors = spla.eigsh(operator, k=1, which="SA", v0=v0, tol=tol, ncv=12, maxiter=5000)
    amplitudes = vectors[:, 0].reshape(shape) ** 2
    density_up = amplitudes.sum(axis=1) @ occ_up / spacing
    density_down = amplitudes.sum(axis=0) @ occ_down / spacing
    return EDResult(float(energies[0]), density_up, density_down, _residual(matvec, energies[0], vectors[:, 0]))


def _diagonal_interaction(ham: LatticeHamiltonian, occ_up: np.ndarray, occ_down: np.ndarray) -> np.ndarray:
    """A sum_i nu_i nd_i + sum_{i<j} V_ij N_i N_j for every (up, down) basis pair, shape (D_up, D_dn), Ha."""
    v = ham.pair_interaction()  # diagonal A: the cross term below includes the Hubbard term
    v_offdiag = np.triu(v, k=1)
    same_up = np.einsum("ai,ij,aj->a", occ_up, v_offdiag, occ_up)
    same_down = np.einsum("bi,ij,bj->b", occ_down, v_offdiag, occ_down)
    return (occ_up @ v) @ occ_down.T + same_up[:, None] + same_down[None, :]


def system_fock_space_ground_state(system: System, grid: Grid) -> EDResult:
    """:func:`fock_space_ground_state` for ``system`` on ``grid`` (small grids only)."""
    return fock_space_ground_state(lattice_hamiltonian(system, grid), system.n_up, system.n_down, grid.spacing)
