"""``make_figure(name, inputs, outputs, settings, methods)``: what the workflow's ``figure`` rule calls.

Every figure has its own module in this package (``FIGURES``); the rule's code inputs of one figure leave
the other figures' modules out, so restyling one figure reruns only that figure's job.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt

from sksr.evaluation.figures.densities import plot_densities
from sksr.evaluation.figures.dissociation_curves import plot_dissociation_curves
from sksr.evaluation.figures.dmrg_convergence import plot_dmrg_convergence
from sksr.evaluation.figures.energy_errors import plot_energy_errors
from sksr.evaluation.figures.generalization_curves import plot_generalization_curves
from sksr.evaluation.figures.learning_curve import plot_learning_curve
from sksr.evaluation.figures.seed_spread import plot_seed_spread
from sksr.evaluation.figures.training_curves import plot_training_curves
from sksr.io.atomic import atomic_savefig


def _save(fig, outputs: Sequence[str], dpi: int) -> None:
    """Save to every output path (format from the suffix), atomically."""
    for path in outputs:
        atomic_savefig(fig, path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


FIGURES = {
    "densities": plot_densities,
    "energy_errors": plot_energy_errors,
    "training_curves": plot_training_curves,
    "seed_spread": plot_seed_spread,
    "dmrg_convergence": plot_dmrg_convergence,
    "dissociation_curves": plot_dissociation_curves,
    "learning_curve": plot_learning_curve,
    "generalization_curves": plot_generalization_curves,
}


def make_figure(name: str, inputs: Mapping, outputs: Sequence[str], settings: Mapping, methods: Mapping) -> None:
    """Draw figure ``name`` from ``inputs`` and save it to every path in ``outputs``."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    dpi = int(settings.get("figures", {}).get("dpi", 150))
    fig = FIGURES[name](inputs, settings, methods, dpi)
    _save(fig, outputs, dpi)
