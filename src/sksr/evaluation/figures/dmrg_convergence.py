"""Figure ``dmrg_convergence``: the energy change along the DMRG sweeps of every reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import matplotlib.ticker
import matplotlib.pyplot as plt
import numpy as np

from sksr.evaluation.figures.common import _as_list


def sweep_energies(path: str) -> np.ndarray:
    """Energy after every DMRG sweep from a reference's JSON (``history.energy``) or npz (``sweep_energy``)."""
    path = Path(path)
    if path.suffix == ".json":
        record = json.loads(path.read_text())
        history = record.get("history") or record.get("sweeps") or {}
        energies = history.get("energy") if isinstance(history, Mapping) else None
        if energies is not None:
            return np.asarray(energies, dtype=float)
        path = path.with_suffix(".npz")
    with np.load(path) as data:
        for key in ("sweep_energy", "history_energy", "energies"):
            if key in data.files:
                return np.asarray(data[key], dtype=float)
    return np.array([])


def plot_dmrg_convergence(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """|E_sweep - E_final| against the sweep number for every reference (log scale)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    for path in _as_list(inputs["references"]):
        energies = sweep_energies(path)
        if energies.size < 2:
            continue
        change = np.abs(energies[:-1] - energies[-1])
        ax.semilogy(np.arange(1, energies.size), np.maximum(change, 1e-16), marker=".", label=Path(path).stem)
    ax.set_xlabel("DMRG sweep")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("|E_sweep - E_final| (Ha)")
    ax.legend(fontsize=6, ncol=2)
    return fig
