"""Figures of the study, drawn only from computed results (never recomputing anything).

``make_figure(name, inputs, outputs, settings, methods)`` is what the workflow's ``figure`` rule calls;
each figure has its own small function reading plain files (predictions/references npz, CSV tables, run
directories). Restyling a figure therefore reruns only the figure rule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sksr.atomic_io import atomic_savefig  # noqa: E402
from sksr.constants import CHEMICAL_ACCURACY  # noqa: E402

MHA = 1000.0
REFERENCE_STYLE = dict(color="black", lw=2.0, label="DMRG")


def _as_list(value) -> list[str]:
    return [str(value)] if isinstance(value, (str, os.PathLike)) else [str(v) for v in value]


def _save(fig, outputs: Sequence[str], dpi: int) -> None:
    """Save to every output path (format from the suffix), atomically."""
    for path in outputs:
        atomic_savefig(fig, path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def _grid_coordinates(num_points: int, spacing: float) -> np.ndarray:
    return (np.arange(num_points) - (num_points - 1) // 2) * spacing


def _load_reference_density(path: str) -> np.ndarray:
    from sksr.evaluation import load_reference_arrays

    return load_reference_arrays(path)[1]


def plot_densities(inputs: Mapping, settings: Mapping, methods: Mapping, dpi: int):
    """Total densities of the density-split systems: DMRG against every method."""
    from sksr.evaluation import load_predictions, prediction_ok

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


FIGURES = {
    "densities": plot_densities,
    "energy_errors": plot_energy_errors,
    "training_curves": plot_training_curves,
    "seed_spread": plot_seed_spread,
    "dmrg_convergence": plot_dmrg_convergence,
}


def make_figure(name: str, inputs: Mapping, outputs: Sequence[str], settings: Mapping, methods: Mapping) -> None:
    """Draw figure ``name`` from ``inputs`` and save it to every path in ``outputs``."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    dpi = int(settings.get("figures", {}).get("dpi", 150))
    fig = FIGURES[name](inputs, settings, methods, dpi)
    _save(fig, outputs, dpi)
