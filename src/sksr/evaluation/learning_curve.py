"""The learning curve of the KSR generalization experiment (docs/physics.md section 11).

For every N_train and method (full KSR, energy-only KSR, direct ML) the selected model's predictions are
scored on every test set (``sksr.training.training_sets.test_sets``): mean absolute error and largest
error of the electronic energy against the exact reference, where it occurs, and whether the whole set
is within chemical accuracy (1.6 mHa). NumPy and pandas only.

Table ``learning_curve`` (``figures/tables/learning_curve.csv``, energies in mHa): one row per (N_train,
method, test set).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.io.atomic import atomic_write_text
from sksr.training.training_sets import METHODS

MHA = 1000.0
COLUMNS = ["n_train", "method", "test_set", "count", "mae_mha", "max_abs_error_mha", "at_system",
           "within_chemical_accuracy"]


def score_test_set(energies: Mapping[str, float], exact: Mapping[str, float], names: Sequence[str]) -> dict:
    """MAE and largest |error| (mHa) of ``energies`` (Ha, by system) over ``names``, and where."""
    errors = np.abs(np.array([energies[n] - exact[n] for n in names], dtype=float))
    worst = int(np.nanargmax(errors)) if np.isfinite(errors).any() else 0
    return {
        "count": len(names),
        "mae_mha": float(np.mean(errors)) * MHA,
        "max_abs_error_mha": float(errors[worst]) * MHA,
        "at_system": names[worst],
        "within_chemical_accuracy": bool(np.all(errors <= CHEMICAL_ACCURACY)),
    }


def learning_curve_table(
    predictions: Mapping[tuple[int, str], Mapping[str, float]],
    exact: Mapping[str, float],
    tests: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """One row per (N_train, method, test set), sorted by method (``METHODS`` order) then N_train.

    ``predictions``: ``(N_train, method) -> {system: energy (Ha)}``; ``exact``: ``{system: energy}``;
    ``tests``: ``{test set: [system names]}``.
    """
    rows = [
        {"n_train": n, "method": method, "test_set": test, **score_test_set(energies, exact, names)}
        for (n, method), energies in predictions.items()
        for test, names in tests.items()
    ]
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {m: i for i, m in enumerate(METHODS)}
    rank = table["method"].map(lambda m: order.get(m, len(order)))
    return table.assign(_rank=rank).sort_values(["_rank", "n_train"], kind="stable").drop(columns="_rank") \
        .reset_index(drop=True)


def first_within_chemical_accuracy(table: pd.DataFrame, test_set: str) -> dict[str, int | None]:
    """Per method: the smallest N_train from which every larger N_train has ``test_set`` MAE <= 1.6 mHa."""
    result = {}
    for method, group in table[table["test_set"] == test_set].groupby("method", sort=False):
        group = group.sort_values("n_train")
        good = group["mae_mha"].to_numpy() <= CHEMICAL_ACCURACY * MHA
        ns = group["n_train"].to_numpy()
        first = None
        for i in range(len(ns)):
            if good[i:].all():
                first = int(ns[i])
                break
        result[method] = first
    return result


def learning_curve_markdown(table: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """Test MAE (mHa) per N_train (rows) and (method, test set) (columns), then where each reaches 1.6 mHa."""
    wide = table.pivot_table(index="n_train", columns=["method", "test_set"], values="mae_mha")
    columns = list(dict.fromkeys(zip(table["method"], table["test_set"])))  # the table's order
    header = ["N_train"] + [f"{labels.get(m, m)}: {t}" for m, t in columns]
    lines = ["**Learning curve: test MAE (mHa) against N_train (geometries per training curve)**", "",
             "| " + " | ".join(header) + " |", "|---|" + "|".join(["---:"] * len(columns)) + "|"]
    for n, row in wide.iterrows():
        lines.append(f"| {n} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
    lines += ["", "Smallest N_train from which the test MAE stays within chemical accuracy (1.6 mHa):", ""]
    for test in table["test_set"].unique():
        reached = first_within_chemical_accuracy(table, test)
        parts = [f"{labels.get(m, m)} {'never' if n is None else n}" for m, n in reached.items()]
        lines.append(f"- {test}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def learning_curve_latex(table: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """The long table as a LaTeX tabular (mHa)."""
    lines = [r"\begin{tabular}{rllrrrl}", r"\hline",
             r"$N_\mathrm{train}$ & method & test set & $n$ & MAE & max $|\Delta E|$ & all $\le 1.6$ \\ \hline"]
    for row in table.itertuples(index=False):
        within = "yes" if row.within_chemical_accuracy else "no"
        lines.append(f"{row.n_train} & {labels.get(row.method, row.method)} & {row.test_set} & {row.count} & "
                     f"{row.mae_mha:.2f} & {row.max_abs_error_mha:.2f} & {within} " + r"\\")
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def write_learning_curve(table: pd.DataFrame, paths: Mapping[str, str], labels: Mapping[str, str]) -> None:
    """Write the table to ``paths`` (format -> path: csv, md, tex), each atomically."""
    writers = {"csv": lambda: table.to_csv(index=False), "md": lambda: learning_curve_markdown(table, labels),
               "tex": lambda: learning_curve_latex(table, labels)}
    for fmt, path in paths.items():
        atomic_write_text(path, writers[fmt]())
