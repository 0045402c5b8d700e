"""The reference file format (``results/references/<system>.npz``), readable with NumPy alone.

``sksr.references.self_checked`` writes and fully reads these files (it needs TeNPy for the DMRG records); everything
downstream that only needs a reference's energy and density (datasets, tables, figures) reads them here,
so those jobs never import TeNPy.
"""

from __future__ import annotations

import json
import os

import numpy as np

from sksr.io.atomic import read_npz

FORMAT = "sksr-reference-2"


class SpinDensities:
    """Total and magnetization densities of a ground state holding ``density_up`` and ``density_down``
    (shape (G,), 1/bohr): shared by the exact-diagonalization and the self-checked reference results."""

    density_up: np.ndarray
    density_down: np.ndarray

    @property
    def density(self) -> np.ndarray:
        """Total density n_up + n_dn, shape (G,), 1/bohr."""
        return self.density_up + self.density_down

    @property
    def spin_density(self) -> np.ndarray:
        """Magnetization n_up - n_dn, shape (G,), 1/bohr."""
        return self.density_up - self.density_down


def reference_arrays(npz_path: str | os.PathLike) -> tuple[dict, dict]:
    """(arrays, metadata) of a reference npz; ValueError naming the file if it is not one of ours."""
    arrays = read_npz(npz_path)
    if "metadata_json" not in arrays:
        raise ValueError(f"{npz_path}: not an sksr reference file (no metadata_json)")
    metadata = json.loads(str(arrays["metadata_json"]))
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{npz_path}: unknown reference format {metadata.get('format')!r} (expected {FORMAT})")
    return arrays, metadata


def reference_energy_and_density(npz_path: str | os.PathLike) -> tuple[float, np.ndarray]:
    """(electronic energy in Ha, total density (G,) in 1/bohr) of a reference npz."""
    arrays, _ = reference_arrays(npz_path)
    density = np.asarray(arrays["density_up"], np.float64) + np.asarray(arrays["density_down"], np.float64)
    return float(arrays["total_energy"]), density
