"""Figure ``learning_curve``: the generalization experiment's test MAE against N_train (the KSR poster).

One panel per test set; one line per method (full KSR, energy-only KSR, direct ML) on a log MAE axis,
with the chemical-accuracy band. Reads the ``learning_curve`` table only. NumPy, pandas and matplotlib.
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.evaluation.figures.common import GENERALIZATION_COLORS as COLORS
from sksr.evaluation.figures.common import MHA, _as_list
from sksr.training.training_sets import METHOD_LABELS

MARKERS = {"ksr": "o", "ksr-energy": "s", "direct-ml": "^"}
FLOOR_MHA = 1e-3  # MAEs below this (e.g. exact one-electron systems) are drawn on it


def plot_learning_curve(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Test MAE (mHa) against N_train, one panel per test set (see the module docstring); MAEs below
    ``FLOOR_MHA`` are drawn on the floor (hollow markers)."""
    table = pd.read_csv(_as_list(inputs["table"])[0])
    tests = list(dict.fromkeys(table["test_set"]))
    fig, axes = plt.subplots(1, len(tests), figsize=(3.6 * len(tests), 3.4), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, test in zip(axes[0], tests):
        part = table[table["test_set"] == test]
        for method, group in part.groupby("method", sort=False):
            group = group.sort_values("n_train")
            mae = group["mae_mha"].to_numpy(dtype=float)
            floored = mae < FLOOR_MHA
            ax.plot(group["n_train"], np.maximum(mae, FLOOR_MHA), marker=MARKERS.get(method, "o"),
                    color=COLORS.get(method), label=METHOD_LABELS.get(method, method),
                    markerfacecolor="none" if floored.all() else None)
        ax.axhspan(FLOOR_MHA / 2, CHEMICAL_ACCURACY * MHA, color="0.88", zorder=0)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{test} test set")
        ax.set_xlabel("N_train (geometries per curve)")
    axes[0, 0].set_ylabel("test MAE (mHa)")
    axes[0, 0].set_ylim(bottom=FLOOR_MHA / 2)
    axes[0, 0].legend(fontsize=7)
    return fig
