"""Figure ``training_curves``: the validation loss along training of every seed of every model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import matplotlib.pyplot as plt
import pandas as pd

from sksr.evaluation.figures.common import _as_list


def _read_run(run_dir: str) -> tuple[dict, pd.DataFrame | None]:
    record = json.loads((Path(run_dir) / "run.json").read_text())
    validation = Path(run_dir) / "validation.csv"
    return record, (pd.read_csv(validation) if validation.exists() else None)


def plot_training_curves(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Validation loss along training for every seed; each seed's selected checkpoint as a dot and the
    model's selected seed as a star."""
    selections = {}
    for path in _as_list(inputs["selections"]):
        selected = json.loads(Path(path).read_text())["selected"]
        selections[Path(path).parent.name] = selected
    runs = _as_list(inputs["runs"])
    models = list(dict.fromkeys(Path(r).parent.name for r in runs))
    fig, axes = plt.subplots(
        1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, layout="constrained"
    )
    for ax, model in zip(axes[0], models):
        chosen = selections.get(model, {})
        for run_dir in (r for r in runs if Path(r).parent.name == model):
            record, validation = _read_run(run_dir)
            if validation is None or record.get("selected") is None:
                continue
            is_chosen = record["seed"] == chosen.get("seed")
            line, = ax.plot(validation["evaluation"], validation["loss"], lw=2.0 if is_chosen else 0.8,
                            alpha=1.0 if is_chosen else 0.5, zorder=3 if is_chosen else 2)
            best = record["selected"]
            ax.plot(best["evaluation"], best["validation_loss"], "o", ms=4, color=line.get_color())
            if is_chosen:
                ax.plot(best["evaluation"], best["validation_loss"], "*", ms=14, color="black",
                        label=f"selected: seed {record['seed']}", zorder=4)
        ax.set_yscale("log")
        ax.set_xlabel("loss evaluations")
        ax.set_title(methods.get(f"sksr-{model}", model))
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("validation loss")
    return fig
