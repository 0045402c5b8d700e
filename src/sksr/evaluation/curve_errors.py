"""Errors along dissociation curves (the original KSR study, docs/physics.md section 11).

A curve is one molecule at a series of separations R (config ``curves``; ``sksr.core.curves.curve_members``
gives ``{molecule: [(R, system name), ...]}``). For every method this module lines up the predicted
and exact electronic energies along each curve and summarizes the errors per split: the mean absolute
error, the largest error and the separation where it occurs, and whether every geometry is within
chemical accuracy (1.6 mHa). NumPy and pandas only.

Table ``curve_errors`` (``figures/tables/curve_errors.csv``, energies in mHa): one row per (method,
curve, scope) with scope ``test`` (the curve's geometries in the test split), ``validation``, ``train``
and ``all`` (every geometry of the curve).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.io.atomic import atomic_write_text

MHA = 1000.0
SCOPES = ("test", "validation", "train", "all")
SUMMARY_COLUMNS = [
    "method", "curve", "scope", "count", "mae_mha", "max_abs_error_mha", "at_separation", "within_chemical_accuracy",
]


def curve_error_rows(
    methods: Mapping[str, Mapping], references: Mapping, members: Mapping[str, Sequence], splits: Mapping
) -> pd.DataFrame:
    """One row per (method, curve, geometry): R (bohr), energies and error (Ha).

    ``methods``: label -> ``sksr.evaluation.prediction_files.final_values`` of its predictions; ``references``: system ->
    (energy, density); ``members``: ``curve_members``; ``splits``: system -> split (``split_of``).
    """
    rows = []
    for method, values in methods.items():
        for curve, geometries in members.items():
            for separation, name in geometries:
                energy, reference = values[name][0], references[name][0]
                rows.append({"method": method, "curve": curve, "separation": separation, "system": name,
                             "split": splits.get(name, "other"), "energy": energy,
                             "reference_energy": reference, "error": energy - reference})
    return pd.DataFrame(rows, columns=["method", "curve", "separation", "system", "split", "energy",
                                       "reference_energy", "error"])


def _scope_row(method: str, curve: str, scope: str, part: pd.DataFrame) -> dict:
    errors = np.abs(part["error"].to_numpy(dtype=float))
    if not len(errors):
        return {"method": method, "curve": curve, "scope": scope, "count": 0, "mae_mha": np.nan,
                "max_abs_error_mha": np.nan, "at_separation": np.nan, "within_chemical_accuracy": None}
    worst = int(np.nanargmax(errors)) if np.isfinite(errors).any() else 0
    return {
        "method": method, "curve": curve, "scope": scope, "count": len(errors),
        "mae_mha": float(np.mean(errors)) * MHA,
        "max_abs_error_mha": float(errors[worst]) * MHA,
        "at_separation": float(part["separation"].to_numpy()[worst]),
        "within_chemical_accuracy": bool(np.all(errors <= CHEMICAL_ACCURACY)),
    }


def curve_error_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Per (method, curve, scope): count, MAE and largest |error| (mHa), where (R), all within 1.6 mHa."""
    rows = []
    for (method, curve), group in long.groupby(["method", "curve"], sort=False):
        for scope in SCOPES:
            part = group if scope == "all" else group[group["split"] == scope]
            if scope == "all" or len(part):
                rows.append(_scope_row(method, curve, scope, part))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def curve_errors_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (mHa, R in bohr)."""
    header = ["method", "curve", "scope", "geometries", "MAE (mHa)", "largest |error| (mHa)", "at R (bohr)",
              "all within 1.6 mHa"]
    lines = ["**Errors along the dissociation curves (KS minus exact)**", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in summary.itertuples(index=False):
        within = {True: "yes", False: "no"}.get(row.within_chemical_accuracy, "-")
        lines.append(f"| {row.method} | {row.curve} | {row.scope} | {row.count} | {row.mae_mha:.3f} | "
                     f"{row.max_abs_error_mha:.3f} | {row.at_separation:.2f} | {within} |")
    return "\n".join(lines) + "\n"


def curve_errors_latex(summary: pd.DataFrame) -> str:
    """The summary as a LaTeX tabular (mHa, R in bohr)."""
    lines = [r"\begin{tabular}{lllrrrrl}", r"\hline",
             r"method & curve & scope & $n$ & MAE & max $|\Delta E|$ & at $R$ & all $\le 1.6$ \\ \hline"]
    for row in summary.itertuples(index=False):
        within = {True: "yes", False: "no"}.get(row.within_chemical_accuracy, "-")
        method = row.method.replace("_", r"\_").replace("&", r"\&")
        lines.append(f"{method} & {row.curve} & {row.scope} & {row.count} & {row.mae_mha:.3f} & "
                     f"{row.max_abs_error_mha:.3f} & {row.at_separation:.2f} & {within} " + r"\\")
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def write_curve_errors(summary: pd.DataFrame, paths: Mapping[str, str]) -> None:
    """Write the summary to ``paths`` (format -> path: csv, md, tex), each atomically."""
    writers = {"csv": lambda: summary.to_csv(index=False), "md": lambda: curve_errors_markdown(summary),
               "tex": lambda: curve_errors_latex(summary)}
    for fmt, path in paths.items():
        atomic_write_text(path, writers[fmt]())
