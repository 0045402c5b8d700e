"""Figure ``seed_spread``: the test MAE of every seed, and how well the validation loss predicts it."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.evaluation.figures.common import MHA, _as_list


def _published_test_mae(table: pd.DataFrame, label: str) -> float | None:
    """Test-split MAE (mHa) of one method of the total-energy table (None when absent)."""
    part = table[(table["method"] == label) & (table["split"] == "test")]
    return float(part["error"].abs().mean() * MHA) if len(part) else None


def plot_seed_spread(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Left: test MAE of every seed per model, the selected seed (star), the published model (diamond),
    chemical accuracy. Right: each seed's validation loss against its test MAE (how well the validation
    set predicts the test molecules)."""
    seeds = pd.read_csv(_as_list(inputs["seeds"])[0])
    energies = pd.read_csv(_as_list(inputs["table"])[0])
    seeds = seeds[np.isfinite(seeds["test_mae"])].assign(test_mha=lambda f: f["test_mae"] * MHA)
    models = list(dict.fromkeys(seeds["model"]))
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(1.6 * len(models) + 7.5, 3.8), layout="constrained",
        gridspec_kw={"width_ratios": [max(1.0, 0.5 * len(models)), 1.4]},
    )
    rng = np.random.default_rng(0)
    published_label = "published model (our engine)"
    for i, model in enumerate(models):
        part = seeds[seeds["model"] == model]
        color = f"C{i}"
        jitter = rng.uniform(-0.15, 0.15, len(part))
        left.plot(i + jitter, part["test_mha"], "o", color=color, ms=4, alpha=0.6)
        chosen = part[part["selected"]]
        left.plot([i] * len(chosen), chosen["test_mha"], "*", ms=15, color="black",
                  label="selected seed" if i == 0 else None, zorder=4)
        published = _published_test_mae(energies, methods.get(f"published-{model}", ""))
        if published is not None:
            left.plot([i + 0.3], [published], "D", ms=7, mfc="white", mec="black", label=published_label, zorder=4)
            published_label = None  # one legend entry
        right.plot(part["validation_loss"], part["test_mha"], "o", color=color, ms=4, alpha=0.7,
                   label=methods.get(f"sksr-{model}", model))
        right.plot(chosen["validation_loss"], chosen["test_mha"], "*", ms=15, color="black", zorder=4)
    for ax in (left, right):
        ax.axhline(CHEMICAL_ACCURACY * MHA, color="0.5", ls=":", label="chemical accuracy")
        ax.set_yscale("log")
    left.set_xticks(range(len(models)), [methods.get(f"sksr-{m}", m) for m in models])
    left.set_xlim(-0.6, len(models) - 0.4)
    left.set_ylabel("test-molecule MAE of total energies (mHa)")
    left.set_title("spread over seeds")
    left.legend(fontsize=7)
    right.set_xscale("log")
    right.set_xlabel("validation loss of the seed's selected checkpoint")
    right.set_title("does validation predict the test molecules?")
    right.legend(fontsize=7)
    return fig
