"""Figure ``energy_errors``: per-system total-energy errors of the baselines and the selected models."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.evaluation.figures.common import MHA, _as_list


def _alternative_labels(methods: Mapping) -> set:
    """Labels of the selection rules beyond the paper (method ids ``sksr-<model>-<rule>``)."""
    return {label for key, label in methods.items() if key.startswith("sksr-") and key.count("-") >= 2}


def _paired_colors(labels: Sequence[str]) -> dict:
    """One hue per model, dark for ours and light for its published counterpart (tab20 pairs)."""
    families = list(dict.fromkeys(label.removeprefix("published ") for label in labels))
    return {
        label: plt.cm.tab20((2 * families.index(label.removeprefix("published ")) + label.startswith("published "))
                            % 20)
        for label in labels
    }


def plot_energy_errors(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Per-system total-energy error of the baselines and the selected models, with the chemical-accuracy
    band (the rules beyond the paper are in the tables and the selection study, not here)."""
    table = pd.read_csv(_as_list(inputs["table"])[0])
    table = table[~table["method"].isin(_alternative_labels(methods))]
    systems = list(dict.fromkeys(table["system"]))
    method_names = list(dict.fromkeys(table["method"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(systems) + 2), 3.6), layout="constrained")
    ax.axhspan(-CHEMICAL_ACCURACY * MHA, CHEMICAL_ACCURACY * MHA, color="0.85", label="chemical accuracy")
    ax.axhline(0.0, color="0.5", lw=0.8)
    width = 0.8 / max(1, len(method_names))
    colors = _paired_colors(method_names)
    for i, method in enumerate(method_names):
        part = table[table["method"] == method].set_index("system").reindex(systems)
        ax.bar(np.arange(len(systems)) + (i - (len(method_names) - 1) / 2) * width,
               part["error"].to_numpy() * MHA, width=width, label=method, color=colors[method])
    ax.set_xticks(np.arange(len(systems)), systems, rotation=60, fontsize=8)
    ax.set_ylabel("E - E_DMRG (mHa)")
    ax.set_yscale("symlog", linthresh=CHEMICAL_ACCURACY * MHA)
    ax.legend(fontsize=7, ncol=2)
    return fig
