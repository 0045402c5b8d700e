"""DMRG settings: the knobs of the convergence protocol (:class:`DMRGSettings`), checked on construction.

NumPy only (no TeNPy), so the workflow's config checks can build them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np


START_STATES = ("hartree_fock", "noninteracting", "product", "random")


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
