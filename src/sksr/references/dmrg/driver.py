"""The DMRG driver: :func:`run_dmrg` (start state, window then full-chain sweeps, checkpoints, the
convergence protocol of ``sksr.references.dmrg``) and the refinement at a larger bond dimension with the
extrapolation to zero discarded weight.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable

import numpy as np
from tenpy.networks.mps import MPS

from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.references.dmrg.checkpoint import load_checkpoint, problem_fingerprint, save_checkpoint
from sksr.references.dmrg.model import ExponentialInteractionChain, build_model
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.dmrg.start_states import start_mps
from sksr.references.dmrg.sweeps import (
    SweepHistory,
    WindowedTwoSiteDMRGEngine,
    _engine_options,
    _is_converged,
    _sweep,
    active_window,
    window_occupation,
)


LOGGER = logging.getLogger(__name__)


class DMRGNotConvergedError(RuntimeError):
    """DMRG reached the sweep limit without meeting the convergence criteria."""


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
