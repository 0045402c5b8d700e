"""The TeNPy model of the lattice Hamiltonian (docs/physics.md section 4): one site per grid point."""

from __future__ import annotations

import numpy as np
from tenpy.models.lattice import Chain
from tenpy.models.model import CouplingMPOModel
from tenpy.networks.site import SpinHalfFermionSite

from sksr.core.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.core.grid import Grid
from sksr.core.hamiltonian import one_electron_hamiltonian
from sksr.core.systems import System


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
