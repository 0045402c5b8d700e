"""Figure ``dissociation_curves``: the curves of the original KSR study (docs/physics.md section 11).

One column per curve (H2, H2+, ...). Top: ``E + E_NN`` against the separation R for the exact reference,
the baselines, the selected models, and (thin grey) every checkpoint of the last trained model's selected
seed; triangles mark the training geometries. Bottom: errors in mHa on a symmetric-log axis with the
chemical-accuracy band. NumPy, pandas and matplotlib only.
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
from sksr.evaluation.figures.common import MHA, _as_list
from sksr.evaluation.prediction_files import load_predictions, load_reference_arrays


def _curve_data(inputs: Mapping, settings: Mapping, methods: Mapping):
    """(members, E_NN by system, exact energies by system, {label: {system: energy}})."""
    members = curve_members(settings["curves"], settings["grid"]["spacing"])
    names = [name for geometries in members.values() for _, name in geometries]
    repulsion = {n: nuclear_repulsion(System.from_dict(settings["systems"][n], name=n)) for n in names}
    exact = {Path(p).stem: load_reference_arrays(p)[0] for p in _as_list(inputs["references"])}
    predicted = {}
    for path in _as_list(inputs["predictions"]):
        values = load_predictions(path)
        predicted[methods[Path(path).stem]] = {n: values[n][0] for n in names}
    return members, repulsion, exact, predicted


def _checkpoint_curves(inputs: Mapping) -> tuple[dict, str]:
    """{system: energies (C,)} of the checkpoint file (empty without one) and a legend label."""
    paths = _as_list(inputs.get("checkpoints", []))
    if not paths:
        return {}, ""
    with np.load(paths[0]) as data:
        curves = {str(n): data["energies"][:, i] for i, n in enumerate(data["names"])}
        label = f"checkpoints (seed {int(data['seed'])})"
    return curves, label


def plot_dissociation_curves(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Energy and error along every configured curve (see the module docstring)."""
    members, repulsion, exact, predicted = _curve_data(inputs, settings, methods)
    checkpoints, checkpoint_label = _checkpoint_curves(inputs)
    train = set(settings["split"]["train"])
    fig, axes = plt.subplots(2, len(members), figsize=(5.2 * len(members), 6.4), squeeze=False,
                             sharex="col", height_ratios=(3, 2), layout="constrained")
    colors = dict(zip(predicted, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    for column, (curve, geometries) in enumerate(members.items()):
        top, bottom = axes[0, column], axes[1, column]
        r = np.array([sep for sep, _ in geometries])
        names = [name for _, name in geometries]
        nn = np.array([repulsion[n] for n in names])
        reference = np.array([exact[n] for n in names])
        if checkpoints:
            stack = np.array([checkpoints[n] for n in names]).T  # (C, R)
            for i, energies in enumerate(stack):
                top.plot(r, energies + nn, color="0.7", lw=0.6, label=checkpoint_label if i == 0 else None)
                bottom.plot(r, (energies - reference) * MHA, color="0.7", lw=0.6)
        top.plot(r, reference + nn, color="black", lw=2.0, label="exact")
        for label, energies in predicted.items():
            values = np.array([energies[n] for n in names])
            top.plot(r, values + nn, color=colors[label], lw=1.2, label=label)
            bottom.plot(r, (values - reference) * MHA, color=colors[label], lw=1.2)
        marked = [i for i, n in enumerate(names) if n in train]
        top.plot(r[marked], reference[marked] + nn[marked], "v", color="crimson", ms=8, label="training")
        bottom.axhspan(-CHEMICAL_ACCURACY * MHA, CHEMICAL_ACCURACY * MHA, color="0.85", zorder=0)
        bottom.axhline(0.0, color="0.5", lw=0.8)
        bottom.set_yscale("symlog", linthresh=CHEMICAL_ACCURACY * MHA)
        top.set_title(curve)
        top.set_ylabel("E + E_NN (Ha)")
        bottom.set_ylabel("E - E_exact (mHa)")
        bottom.set_xlabel("R (bohr)")
    axes[0, 0].legend(fontsize=7)
    return fig
