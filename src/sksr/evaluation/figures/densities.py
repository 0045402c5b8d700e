"""Figure ``densities``: total densities of the density-split systems, the exact reference against every method."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from sksr.evaluation.figures.common import _as_list


REFERENCE_STYLE = dict(color="black", lw=2.0, label="DMRG")


def _grid_coordinates(num_points: int, spacing: float) -> np.ndarray:
    return (np.arange(num_points) - (num_points - 1) // 2) * spacing


def _load_reference_density(path: str) -> np.ndarray:
    from sksr.evaluation.prediction_files import load_reference_arrays

    return load_reference_arrays(path)[1]


def plot_densities(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Total densities of the density-split systems: DMRG against every method."""
    from sksr.evaluation.prediction_files import load_predictions, prediction_ok

    references = {Path(p).stem: _load_reference_density(p) for p in _as_list(inputs["references"])}
    predictions = {
        methods.get(Path(p).stem, Path(p).stem): load_predictions(p)
        for p in _as_list(inputs["predictions"])
        if prediction_ok(p)
    }
    names = list(references)
    cols = min(5, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes.flat, names):
        reference = references[name]
        spacing = next(iter(predictions.values()))["_spacing"] if predictions else 1.0
        x = _grid_coordinates(reference.size, spacing)
        ax.plot(x, reference, **REFERENCE_STYLE)
        for label, values in predictions.items():
            ax.plot(x, values[name][1], lw=1.0, ls="--", label=label)
        ax.set_title(name)
        ax.set_xlabel("x (bohr)")
        extent = x[reference > 1e-3 * reference.max()]
        if extent.size:
            ax.set_xlim(extent.min() - 1, extent.max() + 1)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("n(x) (1/bohr)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Densities of the " + settings["figures"]["density_split"] + " systems")
    return fig
