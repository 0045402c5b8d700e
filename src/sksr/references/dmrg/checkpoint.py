"""DMRG checkpoints: the MPS and its sweep history as plain arrays in an npz (no pickle, atomic write); a
checkpoint only resumes the same problem (:func:`problem_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Mapping

import numpy as np
import tenpy.linalg.np_conserved as npc
from tenpy.linalg.charges import LegCharge
from tenpy.networks.mps import MPS

from sksr.core.constants import EXPONENTIAL_AMPLITUDE, EXPONENTIAL_KAPPA
from sksr.core.grid import Grid
from sksr.core.systems import System
from sksr.io.atomic import atomic_savez
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.dmrg.sweeps import SweepHistory


CHECKPOINT_FORMAT = "sksr-dmrg-checkpoint-1"


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
