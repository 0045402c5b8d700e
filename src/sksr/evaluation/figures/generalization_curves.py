"""Figure ``generalization_curves``: the generalization experiment's models at N_train =
``generalization.curves_at`` along every test curve (H2, H4, H2+, H2-H2), against the exact curve.

One column per test curve. Top: ``E + E_NN`` (Ha) against the curve coordinate R; bottom: the error (mHa)
on a symmetric-log axis with the chemical-accuracy band; triangles mark the training geometries.
NumPy and matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.core.curves import curve_members
from sksr.core.hamiltonian import nuclear_repulsion
from sksr.core.systems import System
from sksr.evaluation.figures.common import GENERALIZATION_COLORS as COLORS
from sksr.evaluation.figures.common import MHA, _as_list
from sksr.evaluation.prediction_files import load_predictions, load_reference_arrays
from sksr.training.training_sets import METHOD_LABELS, training_set


def _curve(settings: Mapping, molecule: str):
    """(R (n,), names, E_NN (n,)) of ``molecule``'s whole configured curve."""
    members = curve_members({molecule: settings["curves"][molecule]}, settings["grid"]["spacing"])[molecule]
    names = [name for _, name in members]
    repulsion = [nuclear_repulsion(System.from_dict(settings["systems"][n], name=n)) for n in names]
    return np.array([r for r, _ in members]), names, np.array(repulsion)


def plot_generalization_curves(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Energies and errors along every test curve at N_train = curves_at (see the module docstring)."""
    section = settings["generalization"]
    n_train = int(section["curves_at"])
    train = set(training_set(section, n_train))
    exact = {Path(p).stem: load_reference_arrays(p)[0] for p in _as_list(inputs["references"])}
    predicted = {Path(p).stem: load_predictions(p) for p in _as_list(inputs["predictions"])}
    curves = list(section["test"])
    fig, axes = plt.subplots(2, len(curves), figsize=(4.6 * len(curves), 6.0), squeeze=False, sharex="col",
                             height_ratios=(3, 2), layout="constrained")
    for column, molecule in enumerate(curves):
        top, bottom = axes[0, column], axes[1, column]
        r, names, nn = _curve(settings, molecule)
        reference = np.array([exact[n] for n in names])
        top.plot(r, reference + nn, color="black", lw=2.0, label="exact")
        for method, values in predicted.items():
            energies = np.array([values[n][0] for n in names])
            style = dict(lw=1.2, color=COLORS.get(method))
            top.plot(r, energies + nn, label=METHOD_LABELS.get(method, method), **style)
            bottom.plot(r, (energies - reference) * MHA, **style)
        marked = [i for i, n in enumerate(names) if n in train]
        if marked:
            top.plot(r[marked], reference[marked] + nn[marked], "v", color="crimson", ms=6, label="training")
        bottom.axhspan(-CHEMICAL_ACCURACY * MHA, CHEMICAL_ACCURACY * MHA, color="0.85", zorder=0)
        bottom.axhline(0.0, color="0.5", lw=0.8)
        bottom.set_yscale("symlog", linthresh=CHEMICAL_ACCURACY * MHA)
        top.set_title(f"{molecule} (N_train = {n_train})")
        bottom.set_xlabel("gap R (bohr)" if molecule == "H2-H2" else "R (bohr)")
    axes[0, 0].set_ylabel("E + E_NN (Ha)")
    axes[1, 0].set_ylabel("E - E_exact (mHa)")
    axes[0, 0].legend(fontsize=7)
    return fig
