"""Exact reference results: compute (DMRG or exact diagonalization), self-check, save/load, summary table.

How a reference proves itself (:func:`compute_reference`, settings :class:`SelfCheckSettings`):

- N <= ``exact_max_electrons`` (default 2): exact diagonalization of the same lattice Hamiltonian (one
  electron: dense; two: Lanczos in the pair space), from two different Lanczos start vectors, which must
  agree to ``start_tolerance``; the eigenvector residual is recorded.
- otherwise DMRG from every start state in ``starts`` (at least two, e.g. the Hartree-Fock determinant and
  the non-interacting one): the energies must agree to ``start_tolerance`` (1e-7 Ha);
  the lowest is refined by sweeps at ``chi_factor`` times the bond dimension (and svd_min / chi_factor^2)
  until converged there, and the energy is extrapolated linearly in the discarded weight through the
  converged and the refined state: the extrapolation must move the refined energy by less than
  ``extrapolation_tolerance`` (1e-7 Ha). The refined state is the reference.

A failed check raises :class:`ReferenceSelfCheckError` naming the system and the numbers.

Files per system (paths chosen by the caller, e.g. Snakemake):

- ``<system>.npz`` (no pickle): ``total_energy`` (electronic, no E_NN, Ha), ``nuclear_repulsion`` (Ha),
  ``density`` and ``spin_density`` (n_up +- n_dn on the grid, shape (G,), 1/bohr), ``density_up``,
  ``density_down``, ``grid_coordinates`` (bohr), per-sweep ``sweep_energy`` (Ha), ``sweep_bond_dim``,
  ``sweep_chi_limit``, ``sweep_truncation_error``, ``sweep_seconds`` (the kept DMRG run and its
  refinement sweeps; empty for exact diagonalization), ``wall_seconds``, and ``metadata_json`` (the JSON record
  below, so the npz alone is self-describing).
- ``<system>.json``: system definition, grid, method, DMRG and self-check settings, the self-check
  (energy per start, spread, refinement and extrapolation shifts, ED residual), package versions, energies.

Every write goes to a temporary file in the target directory and is moved in place with os.replace, so an
interrupted job never leaves a complete-looking half-written output.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import platform
import time
from typing import Iterable, Mapping

import numpy as np

from sksr.core.grid import Grid
from sksr.core.hamiltonian import nuclear_repulsion
from sksr.core.systems import System
from sksr.io.atomic import atomic_savez, atomic_write_text
from sksr.io.provenance import package_versions
from sksr.references.dmrg.checkpoint import problem_fingerprint
from sksr.references.dmrg.driver import refine_bond_dimension, refinement_truncation, run_dmrg
from sksr.references.dmrg.settings import START_STATES, DMRGSettings, settings_from_mapping
from sksr.references.dmrg.sweeps import SweepHistory
from sksr.references.exact_diagonalization import one_electron_ground_state, two_electron_ground_state
from sksr.references.files import FORMAT, SpinDensities, reference_arrays

LOGGER = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "system", "n_electrons", "n_unpaired", "method", "total_energy", "nuclear_repulsion", "starts",
    "start_spread", "chi_shift", "extrapolation_shift", "residual", "sweeps", "max_bond_dim", "max_truncation_error",
    "wall_seconds",
)
"""``start_spread``: largest minus smallest energy over the independent starts (Ha); ``chi_shift``: energy
change of the refinement at the larger bond dimension (Ha, DMRG only); ``extrapolation_shift``: what the
extrapolation to zero discarded weight adds to the refined energy (Ha, DMRG only); ``residual``:
||H psi - E psi|| (exact diagonalization only); ``sweeps``: DMRG sweeps of all starts and the refinement."""


class ReferenceSelfCheckError(RuntimeError):
    """A reference failed its self-check (independent starts disagree, or the extrapolation in the bond
    dimension still moves it)."""


@dataclasses.dataclass(frozen=True)
class SelfCheckSettings:
    """How every reference proves that it is the ground state (config ``references.self_check``).

    Attributes:
      starts: DMRG start states (names of sksr.references.dmrg.settings.START_STATES), at least two, all
        different; default ("hartree_fock", "noninteracting"): the determinants of the mean-field and of the bare Hamiltonian,
        whose charge distributions differ (the bare one piles the electrons onto the highest nuclear charge).
      start_tolerance: the energies of the independent starts must agree to this, Ha; default 1e-7.
      chi_factor: the lowest state is refined at chi_max * chi_factor and svd_min / chi_factor^2; default 2.
      refinement_sweeps: at most this many refinement sweeps (they stop once a sweep changes the energy by
        less than dmrg.energy_tolerance); default 4.
      extrapolation_tolerance: the linear extrapolation of the energy to zero discarded weight (through the
        converged and the refined state) must move the refined energy by less than this, Ha; default 1e-7.
      exact_max_electrons: systems with at most this many electrons (0, 1 or 2) are solved by exact
        diagonalization instead of DMRG; default 2.
    """

    starts: tuple = ("hartree_fock", "noninteracting")
    start_tolerance: float = 1e-7
    chi_factor: float = 2.0
    refinement_sweeps: int = 4
    extrapolation_tolerance: float = 1e-7
    exact_max_electrons: int = 2

    def __post_init__(self):
        starts = tuple(self.starts) if isinstance(self.starts, (list, tuple)) else None
        if starts is None or len(starts) < 2 or len(set(starts)) != len(starts):
            raise ValueError(f"references.self_check.starts must list at least two different start states, "
                             f"got {self.starts!r}")
        unknown = [start for start in starts if start not in START_STATES]
        if unknown:
            raise ValueError(f"references.self_check.starts: unknown start states {unknown}; "
                             f"known: {list(START_STATES)}")
        object.__setattr__(self, "starts", starts)
        for name in ("start_tolerance", "extrapolation_tolerance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"references.self_check.{name} must be a positive number (Ha), got {value!r}")
        if isinstance(self.chi_factor, bool) or not isinstance(self.chi_factor, (int, float)) or not (
                self.chi_factor >= 1.25 and np.isfinite(self.chi_factor)):
            raise ValueError(f"references.self_check.chi_factor must be a number >= 1.25, got {self.chi_factor!r}")
        for name, low in (("refinement_sweeps", 1), ("exact_max_electrons", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"references.self_check.{name} must be an integer >= {low}, got {value!r}")
        if self.exact_max_electrons > 2:
            raise ValueError("references.self_check.exact_max_electrons must be 0, 1 or 2 (exact "
                             f"diagonalization of more electrons does not fit the paper grid), got "
                             f"{self.exact_max_electrons}")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["starts"] = list(self.starts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping | None) -> "SelfCheckSettings":
        """Build from a config mapping; unknown keys raise ValueError naming them."""
        return settings_from_mapping(cls, data, "references.self_check")


@dataclasses.dataclass
class ReferenceResult(SpinDensities):
    """Exact reference of one system.

    Attributes:
      system, grid, settings: what was computed and how (settings: the DMRG protocol).
      total_energy: electronic energy T + V_ee + V_ext (no E_NN), Ha.
      nuclear_repulsion: E_NN, Ha.
      density_up, density_down: spin densities, shape (G,), 1/bohr; h * sum(n_up + n_dn) = N.
      history: per-sweep energy (Ha), chi limit, bond dimension, truncation error, seconds of the kept DMRG
        run followed by its refinement sweeps (empty for exact diagonalization).
      self_check: the evidence (see :func:`compute_reference`): ``starts`` {name: {energy, sweeps,
        wall_seconds}}, ``start_spread``, ``chi_shift`` (refinement), ``extrapolated_energy``,
        ``extrapolation_shift``, ``residual`` (ED), the tolerances, ``passed``.
      wall_seconds: wall time of the computation (s), all starts and checks, including the sweeps an
        interrupted earlier attempt left in the checkpoints.
      versions: package versions.
      method: "dmrg" or "exact_diagonalization".
    """

    system: System
    grid: Grid
    settings: DMRGSettings
    total_energy: float
    nuclear_repulsion: float
    density_up: np.ndarray
    density_down: np.ndarray
    history: SweepHistory
    self_check: dict
    wall_seconds: float
    versions: dict
    method: str = "dmrg"

    @property
    def sweeps(self) -> int:
        """DMRG sweeps of every start and the refinement sweeps (0 for exact diagonalization)."""
        return int(sum(start.get("sweeps", 0) for start in self.self_check.get("starts", {}).values())
                   + self.self_check.get("refinement_sweeps", 0))

    @property
    def max_bond_dim(self) -> int:
        return max(self.history.bond_dim) if self.history.bond_dim else 0

    def metadata(self) -> dict:
        """The JSON metadata record."""
        return {
            "format": FORMAT,
            "method": self.method,
            "system": self.system.to_dict(),
            "grid": self.grid.to_dict(),
            "dmrg_settings": self.settings.to_dict(),
            "total_energy": self.total_energy,
            "nuclear_repulsion": self.nuclear_repulsion,
            "energy_units": "Ha (electronic, without nuclear repulsion)",
            "density_units": "1/bohr",
            "self_check": self.self_check,
            "sweeps": self.sweeps,
            "max_bond_dim": self.max_bond_dim,
            "max_truncation_error_last_sweep": self.history.truncation_error[-1] if len(self.history) else None,
            "wall_seconds": self.wall_seconds,
            "versions": self.versions,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        }


def compute_reference(
    system: System,
    grid: Grid,
    settings: DMRGSettings | None = None,
    check: SelfCheckSettings | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    log: logging.Logger = LOGGER,
) -> ReferenceResult:
    """Ground state of ``system`` on ``grid`` that has passed its self-check (module docstring).

    Args:
      settings: DMRG protocol of every start (its ``start_state`` is replaced by each of ``check.starts``).
      check: self-check settings (default SelfCheckSettings()).
      checkpoint_dir: DMRG checkpoints go to ``<dir>/<system>-<fingerprint>.npz``, one per start (the
        fingerprint includes the start); a rerun resumes every start from there.

    Raises:
      ReferenceSelfCheckError: the independent starts disagree, the refinement does not converge, or the
        extrapolation to zero discarded weight moves the energy.
      sksr.references.dmrg.driver.DMRGNotConvergedError: a start did not converge within max_sweeps.
    """
    settings = settings or DMRGSettings()
    check = check or SelfCheckSettings()
    clock = time.perf_counter()
    if system.n_electrons <= check.exact_max_electrons:
        energy, up, down, evidence = _exact_reference(system, grid, check, log)
        history, method = SweepHistory(), "exact_diagonalization"
    else:
        energy, up, down, history, evidence = _dmrg_reference(system, grid, settings, check, checkpoint_dir, log)
        method = "dmrg"
        settings = dataclasses.replace(settings, start_state=evidence["kept_start"])
    evidence["settings"] = check.to_dict()
    return ReferenceResult(
        system=system,
        grid=grid,
        settings=settings,
        total_energy=energy,
        nuclear_repulsion=nuclear_repulsion(system),
        density_up=up,
        density_down=down,
        history=history,
        self_check=evidence,
        wall_seconds=time.perf_counter() - clock + evidence.get("resumed_sweep_seconds", 0.0),
        versions=package_versions(),
        method=method,
    )


def _exact_reference(system: System, grid: Grid, check: SelfCheckSettings, log: logging.Logger):
    """Exact diagonalization (N <= 2) from two Lanczos start vectors; returns (E, n_up, n_dn, evidence)."""
    runs = {}
    for start in ("orbitals",) if system.n_electrons == 1 else ("orbitals", "random"):  # one electron: dense
        clock = time.perf_counter()
        if system.n_electrons == 1:
            result = one_electron_ground_state(system, grid)
        else:
            result = two_electron_ground_state(system, grid, start=start)
        runs[start] = (result, time.perf_counter() - clock)
        log.info("%s: exact diagonalization (%s start) E = %.12f Ha, residual %.1e, %.1f s", system.name, start,
                 result.energy, result.residual, runs[start][1])
    energies = {start: result.energy for start, (result, _) in runs.items()}
    best = min(runs, key=lambda start: energies[start])
    evidence = {
        "starts": {start: {"energy": result.energy, "residual": result.residual, "wall_seconds": seconds}
                   for start, (result, seconds) in runs.items()},
        "start_spread": max(energies.values()) - min(energies.values()),
        "chi_shift": None,
        "extrapolation_shift": None,
        "residual": runs[best][0].residual,
    }
    _judge(system.name, evidence, check)
    result = runs[best][0]
    return result.energy, result.density_up, result.density_down, evidence


def _dmrg_reference(system, grid, settings, check, checkpoint_dir, log):
    """DMRG from every start, then the refinement and extrapolation of the lowest; returns (E, n_up, n_dn,
    history, evidence)."""
    outcomes = {}
    for start in check.starts:
        start_settings = dataclasses.replace(settings, start_state=start)
        path = None
        if checkpoint_dir is not None:
            fingerprint = problem_fingerprint(system, grid, start_settings)
            path = os.path.join(checkpoint_dir, f"{system.name}-{fingerprint}.npz")
        log.info("%s: DMRG from the %s start", system.name, start)
        outcomes[start] = run_dmrg(system, grid, start_settings, checkpoint_path=path, log=log)
    best = min(outcomes, key=lambda start: outcomes[start].energy)
    energies = [outcome.energy for outcome in outcomes.values()]
    evidence = {
        "starts": {start: {"energy": outcome.energy, "sweeps": len(outcome.history),
                           "wall_seconds": float(np.sum(outcome.history.seconds))}
                   for start, outcome in outcomes.items()},
        "kept_start": best,
        "start_spread": max(energies) - min(energies),
        "extrapolation_shift": None,
        "residual": None,
    }
    _judge(system.name, evidence, check)  # disagreeing starts fail before the costly refinement
    refined, extrapolated, converged = refine_bond_dimension(outcomes[best], grid, settings, check.chi_factor,
                                                             check.refinement_sweeps, log, system.name)
    evidence.update({
        "refinement_sweeps": len(refined.history) - len(outcomes[best].history),
        "refinement_converged": converged,
        "refinement_chi_max": refined.history.chi_limit[-1],
        "refinement_svd_min": refinement_truncation(settings, check.chi_factor)[1],
        "chi_shift": refined.energy - outcomes[best].energy,
        "extrapolated_energy": extrapolated,
        "extrapolation_shift": extrapolated - refined.energy,
    })
    log.info("%s: starts %s, spread %.1e Ha; refined at chi_max %d: shift %.1e Ha, extrapolation to zero "
             "discarded weight moves it by %.1e Ha", system.name,
             ", ".join(f"{s} {o.energy:.10f}" for s, o in outcomes.items()), evidence["start_spread"],
             evidence["refinement_chi_max"], evidence["chi_shift"], evidence["extrapolation_shift"])
    _judge(system.name, evidence, check)
    resumed_seconds = sum(float(np.sum(o.history.seconds[:o.resumed_from_sweep])) for o in outcomes.values())
    evidence["resumed_sweep_seconds"] = resumed_seconds
    return refined.energy, refined.density_up, refined.density_down, refined.history, evidence


def _judge(name: str, evidence: dict, check: SelfCheckSettings) -> None:
    """Record the tolerances and the verdict in ``evidence``; raise ReferenceSelfCheckError on failure."""
    evidence.update(start_tolerance=check.start_tolerance, extrapolation_tolerance=check.extrapolation_tolerance)
    problems = []
    if evidence.get("refinement_converged") is False:
        problems.append(f"the refinement at chi_max {evidence['refinement_chi_max']} did not converge in "
                        f"{evidence['refinement_sweeps']} sweeps (energy still changing; raise "
                        f"references.self_check.refinement_sweeps)")
    if evidence["start_spread"] > check.start_tolerance:
        energies = ", ".join(f"{start} {run['energy']:.10f} Ha" for start, run in evidence["starts"].items())
        problems.append(f"independent starts disagree by {evidence['start_spread']:.2e} Ha > "
                        f"start_tolerance {check.start_tolerance:.2g} ({energies})")
    shift = evidence.get("extrapolation_shift")
    if shift is not None and abs(shift) > check.extrapolation_tolerance:
        problems.append(f"after refinement at chi_max {evidence['refinement_chi_max']} (which moved the energy by "
                        f"{evidence['chi_shift']:.2e} Ha) the extrapolation to zero discarded weight still moves it "
                        f"by {shift:.2e} Ha > extrapolation_tolerance {check.extrapolation_tolerance:.2g}")
    evidence["passed"] = not problems
    if problems:
        raise ReferenceSelfCheckError(
            f"{name}: reference failed its self-check: " + "; ".join(problems) + ". The converged starts are "
            f"kept as checkpoints (results/.checkpoints/references/{name}-*.npz): change references.dmrg or "
            f"references.self_check, or delete them, before rerunning")


def save_reference(result: ReferenceResult, npz_path: str | os.PathLike, json_path: str | os.PathLike) -> None:
    """Write ``<system>.npz`` and ``<system>.json`` atomically (npz first, JSON last)."""
    metadata = result.metadata()
    arrays = {
        "total_energy": np.array(result.total_energy),
        "nuclear_repulsion": np.array(result.nuclear_repulsion),
        "density": result.density,
        "spin_density": result.spin_density,
        "density_up": result.density_up,
        "density_down": result.density_down,
        "grid_coordinates": result.grid.coordinates,
        "wall_seconds": np.array(result.wall_seconds),
        "metadata_json": np.array(json.dumps(metadata, sort_keys=True)),
    }
    arrays.update(result.history.to_arrays())
    atomic_savez(npz_path, arrays)
    atomic_write_text(json_path, json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def load_reference(npz_path: str | os.PathLike) -> ReferenceResult:
    """Read a ``<system>.npz`` written by :func:`save_reference` (the metadata travels inside it)."""
    arrays, metadata = reference_arrays(npz_path)
    system_data = dict(metadata["system"])
    return ReferenceResult(
        system=System.from_dict(system_data),
        grid=Grid.from_dict(metadata["grid"]),
        settings=DMRGSettings.from_dict(metadata["dmrg_settings"]),
        total_energy=float(arrays["total_energy"]),
        nuclear_repulsion=float(arrays["nuclear_repulsion"]),
        density_up=arrays["density_up"],
        density_down=arrays["density_down"],
        history=SweepHistory.from_arrays(arrays),
        self_check=metadata["self_check"],
        wall_seconds=float(arrays["wall_seconds"]),
        versions=metadata.get("versions", {}),
        method=metadata.get("method", "dmrg"),
    )


def _summary_row(path: str | os.PathLike) -> dict:
    """One summary row from a reference npz or JSON file."""
    path = os.fspath(path)
    if path.endswith(".json"):
        with open(path) as stream:
            record = json.load(stream)
        if record.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown reference format {record.get('format')!r} (expected {FORMAT})")
    elif path.endswith(".npz"):
        record = load_reference(path).metadata()
    else:
        raise ValueError(f"{path}: summary inputs must be .json or .npz reference files")
    system, evidence = record["system"], record["self_check"]

    def number(value, spec):
        return "" if value is None else format(value, spec)

    return {
        "system": system["name"],
        "n_electrons": system["n_electrons"],
        "n_unpaired": system["n_unpaired"],
        "method": record["method"],
        "total_energy": f"{record['total_energy']:.10f}",
        "nuclear_repulsion": f"{record['nuclear_repulsion']:.10f}",
        "starts": "+".join(evidence["starts"]),
        "start_spread": f"{evidence['start_spread']:.1e}",
        "chi_shift": number(evidence.get("chi_shift"), ".1e"),
        "extrapolation_shift": number(evidence.get("extrapolation_shift"), ".1e"),
        "residual": number(evidence.get("residual"), ".1e"),
        "sweeps": record["sweeps"],
        "max_bond_dim": record["max_bond_dim"],
        "max_truncation_error": number(record["max_truncation_error_last_sweep"], ".1e"),
        "wall_seconds": f"{record['wall_seconds']:.1f}",
    }


def write_summary(paths: Iterable[str | os.PathLike], csv_path: str | os.PathLike) -> list[dict]:
    """Write ``summary.csv`` (one row per system, columns SUMMARY_COLUMNS, energies in Ha) atomically.

    Rows keep the order of ``paths``; a system appearing twice is an error. Returns the rows.
    """
    rows = [_summary_row(path) for path in paths]
    names = [row["system"] for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"write_summary: systems listed more than once: {duplicates}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_path, buffer.getvalue())
    return rows


def read_summary(csv_path: str | os.PathLike) -> list[dict]:
    """Rows of a summary.csv as dicts of strings."""
    with open(csv_path, newline="") as stream:
        return list(csv.DictReader(stream))


def load_systems_from_config(config: Mapping) -> list[System]:
    """Systems of a parsed config.yaml (``systems: {name: {...}}``), in file order."""
    systems = config.get("systems")
    if not isinstance(systems, Mapping) or not systems:
        raise ValueError("config: 'systems' must be a non-empty mapping of name -> system definition")
    return [System.from_dict(data, name=name) for name, data in systems.items()]
