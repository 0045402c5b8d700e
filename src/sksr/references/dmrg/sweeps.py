"""DMRG sweeps: TeNPy's two-site engine restricted to a window of occupied sites, its options (bond
dimension, Lanczos, mixer), the per-sweep record and the convergence test.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Mapping

import numpy as np
from tenpy.algorithms.dmrg import TwoSiteDMRGEngine
from tenpy.networks.mps import MPS

from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.dmrg.start_states import cached_hartree_fock_orbitals


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


def _sweep(engine: TwoSiteDMRGEngine, history: SweepHistory, chi_limit: int, full_chain: bool) -> None:
    """One DMRG sweep of ``engine``, recorded in ``history``."""
    clock = time.perf_counter()
    truncation_error = engine.sweep(meas_E_trunc=False)
    history.append(engine.update_stats["E_total"][-1], chi_limit, max(engine.psi.chi), truncation_error,
                   time.perf_counter() - clock, full_chain)


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
