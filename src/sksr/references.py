"""Exact reference results: compute (DMRG), save/load (npz + JSON metadata), summary table.

Files per system (paths chosen by the caller, e.g. Snakemake):

- ``<system>.npz`` (no pickle): ``total_energy`` (electronic, no E_NN, Ha), ``nuclear_repulsion`` (Ha),
  ``density`` and ``spin_density`` (n_up +- n_dn on the grid, shape (G,), 1/bohr), ``density_up``,
  ``density_down``, ``grid_coordinates`` (bohr), per-sweep ``sweep_energy`` (Ha), ``sweep_bond_dim``,
  ``sweep_chi_limit``, ``sweep_truncation_error``, ``sweep_seconds``, ``wall_seconds``, ``converged``, and
  ``metadata_json`` (the JSON record below, so the npz alone is self-describing).
- ``<system>.json``: system definition, grid, DMRG settings, package versions, energies, convergence.

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
from typing import Iterable, Mapping

import numpy as np

from sksr.atomic_io import atomic_savez, atomic_write_text
from sksr.dmrg import DMRGSettings, SweepHistory, run_dmrg
from sksr.grid import Grid
from sksr.hamiltonian import nuclear_repulsion
from sksr.provenance import package_versions
from sksr.systems import System

LOGGER = logging.getLogger(__name__)

FORMAT = "sksr-reference-1"
SUMMARY_COLUMNS = (
    "system", "n_electrons", "n_unpaired", "total_energy", "nuclear_repulsion", "converged", "sweeps",
    "max_bond_dim", "final_energy_change", "max_truncation_error", "wall_seconds",
)


@dataclasses.dataclass
class ReferenceResult:
    """Exact (DMRG) reference of one system.

    Attributes:
      system, grid, settings: what was computed and how.
      total_energy: electronic energy T + V_ee + V_ext (no E_NN), Ha.
      nuclear_repulsion: E_NN, Ha.
      density_up, density_down: spin densities, shape (G,), 1/bohr; h * sum(n_up + n_dn) = N.
      history: per-sweep energy (Ha), chi limit, bond dimension, truncation error, seconds.
      converged: whether the convergence criteria were met (compute_reference raises otherwise).
      wall_seconds: wall time of the computation (s), including any resumed part's sweeps.
      versions: package versions.
      method: "dmrg".
    """

    system: System
    grid: Grid
    settings: DMRGSettings
    total_energy: float
    nuclear_repulsion: float
    density_up: np.ndarray
    density_down: np.ndarray
    history: SweepHistory
    converged: bool
    wall_seconds: float
    versions: dict
    method: str = "dmrg"

    @property
    def density(self) -> np.ndarray:
        """n_up + n_dn, shape (G,), 1/bohr."""
        return self.density_up + self.density_down

    @property
    def spin_density(self) -> np.ndarray:
        """n_up - n_dn, shape (G,), 1/bohr."""
        return self.density_up - self.density_down

    @property
    def sweeps(self) -> int:
        return len(self.history)

    @property
    def max_bond_dim(self) -> int:
        return max(self.history.bond_dim) if self.history.bond_dim else 0

    @property
    def final_energy_change(self) -> float:
        return self.history.last_change

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
            "converged": self.converged,
            "sweeps": self.sweeps,
            "max_bond_dim": self.max_bond_dim,
            "final_energy_change": self.final_energy_change,
            "max_truncation_error_last_sweep": self.history.truncation_error[-1] if self.sweeps else None,
            "wall_seconds": self.wall_seconds,
            "versions": self.versions,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        }


def compute_reference(
    system: System,
    grid: Grid,
    settings: DMRGSettings | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    log: logging.Logger = LOGGER,
) -> ReferenceResult:
    """Converged DMRG reference of ``system`` on ``grid``.

    Resumes from ``checkpoint_path`` when it exists (and writes it while running). Raises
    sksr.dmrg.DMRGNotConvergedError (message gives the last energy change) if not converged in max_sweeps.
    """
    settings = settings or DMRGSettings()
    outcome = run_dmrg(system, grid, settings, checkpoint_path=checkpoint_path, log=log)
    return ReferenceResult(
        system=system,
        grid=grid,
        settings=settings,
        total_energy=outcome.energy,
        nuclear_repulsion=nuclear_repulsion(system),
        density_up=outcome.density_up,
        density_down=outcome.density_down,
        history=outcome.history,
        converged=outcome.converged,
        wall_seconds=float(np.sum(outcome.history.seconds)) if outcome.resumed_from_sweep else outcome.wall_seconds,
        versions=package_versions(),
    )


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
        "converged": np.array(result.converged),
        "metadata_json": np.array(json.dumps(metadata, sort_keys=True)),
    }
    arrays.update(result.history.to_arrays())
    atomic_savez(npz_path, arrays)
    atomic_write_text(json_path, json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def load_reference(npz_path: str | os.PathLike) -> ReferenceResult:
    """Read a ``<system>.npz`` written by :func:`save_reference` (the metadata travels inside it)."""
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if "metadata_json" not in arrays:
        raise ValueError(f"{npz_path}: not an sksr reference file (no metadata_json)")
    metadata = json.loads(str(arrays["metadata_json"]))
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{npz_path}: unknown reference format {metadata.get('format')!r} (expected {FORMAT})")
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
        converged=bool(arrays["converged"]),
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
    system = record["system"]
    return {
        "system": system["name"],
        "n_electrons": system["n_electrons"],
        "n_unpaired": system["n_unpaired"],
        "total_energy": f"{record['total_energy']:.10f}",
        "nuclear_repulsion": f"{record['nuclear_repulsion']:.10f}",
        "converged": str(bool(record["converged"])).lower(),
        "sweeps": record["sweeps"],
        "max_bond_dim": record["max_bond_dim"],
        "final_energy_change": f"{record['final_energy_change']:.3e}",
        "max_truncation_error": f"{record['max_truncation_error_last_sweep']:.3e}",
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
