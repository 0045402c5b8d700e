"""The paper's tables (docs/physics.md sections 9-10) and the seed table, built from predictions files
(``sksr.evaluation.prediction_files``; NumPy and pandas, no JAX Kohn-Sham, no TeNPy).

Tables (``figures/tables/``): per-system rows in CSV (Ha), and a wide view in Markdown / LaTeX (mHa) with
mean-error and MAE rows over the test split and over all systems. The density loss of a system is
``h sum_i (n_i - n_ref,i)^2`` on the total density (1/bohr).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sksr.core.constants import CHEMICAL_ACCURACY
from sksr.core.hamiltonian import nuclear_repulsion
from sksr.core.systems import PROTON, System
from sksr.io.atomic import atomic_write_text


TABLE_COLUMNS = {
    "total_energies": ["method", "system", "split", "energy", "reference_energy", "error", "density_loss"],
    "ionization_potentials": ["method", "system", "split", "ip", "reference_ip", "error"],
    "atomization_energies": ["method", "system", "split", "ae", "reference_ae", "error"],
    "density_losses": ["method", "system", "split", "density_loss"],
}
TABLE_TITLES = {
    "total_energies": "Total energy errors E - E_DMRG (mHa)",
    "ionization_potentials": "Ionization potential errors IP - IP_DMRG (mHa)",
    "atomization_energies": "Atomization energy errors AE - AE_DMRG (mHa)",
    "density_losses": "Density losses h sum (n - n_DMRG)^2 (1/bohr)",
}


def split_of(config_split: Mapping[str, Sequence[str]]) -> dict:
    """system -> split name ("other" for systems in no split)."""
    return {name: part for part, names in config_split.items() for name in names}


def total_energy_rows(
    methods: Mapping[str, Mapping], references: Mapping, splits: Mapping, spacing: float
) -> pd.DataFrame:
    """One row per (method, system): energy, reference, error (Ha) and density loss (1/bohr)."""
    rows = []
    for method, predictions in methods.items():
        for name, (ref_energy, ref_density) in references.items():
            energy, density = predictions[name]
            rows.append(
                {
                    "method": method,
                    "system": name,
                    "split": splits.get(name, "other"),
                    "energy": energy,
                    "reference_energy": ref_energy,
                    "error": energy - ref_energy,
                    "density_loss": float(spacing * np.sum((density - ref_density) ** 2)),
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["total_energies"])


def ionization_potential(energies: Mapping[str, float], ion: str, partner: str | None) -> float:
    """IP = E(N-1) - E(N); a null partner is the bare nucleus (energy 0)."""
    return (0.0 if partner is None else energies[partner]) - energies[ion]


def atomization_energy(
    energies: Mapping[str, float], molecule: System, fragments: Mapping[str, int]
) -> float:
    """AE = |E_NN + E_mol - sum_f count_f E_f| (bare protons have energy 0)."""
    fragment_sum = sum(
        count * (0.0 if name == PROTON else energies[name]) for name, count in fragments.items()
    )
    return abs(nuclear_repulsion(molecule) + energies[molecule.name] - fragment_sum)


def _energies(values: Mapping) -> dict:
    return {name: value[0] for name, value in values.items() if not name.startswith("_")}


def ionization_rows(methods, references, splits, pairs: Mapping) -> pd.DataFrame:
    """One row per (method, ion) with IP, reference IP and error (Ha)."""
    ref = _energies(references)
    rows = []
    for method, predictions in methods.items():
        energies = _energies(predictions)
        for ion, partner in pairs.items():
            value = ionization_potential(energies, ion, partner)
            ref_value = ionization_potential(ref, ion, partner)
            rows.append(
                {"method": method, "system": ion, "split": splits.get(ion, "other"), "ip": value,
                 "reference_ip": ref_value, "error": value - ref_value}
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["ionization_potentials"])


def atomization_rows(methods, references, splits, fragments: Mapping, systems: Mapping) -> pd.DataFrame:
    """One row per (method, molecule) with AE, reference AE and error (Ha)."""
    ref = _energies(references)
    rows = []
    for method, predictions in methods.items():
        energies = _energies(predictions)
        for molecule, parts in fragments.items():
            value = atomization_energy(energies, systems[molecule], parts)
            ref_value = atomization_energy(ref, systems[molecule], parts)
            rows.append(
                {"method": method, "system": molecule, "split": splits.get(molecule, "other"),
                 "ae": value, "reference_ae": ref_value, "error": value - ref_value}
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["atomization_energies"])


def build_tables(
    methods: Mapping[str, Mapping],
    references: Mapping,
    systems: Mapping[str, System],
    config_split: Mapping,
    fragments: Mapping,
    pairs: Mapping,
    spacing: float,
) -> dict[str, pd.DataFrame]:
    """All four tables as long DataFrames (one row per method and system), keyed by table name."""
    splits = split_of(config_split)
    energies = total_energy_rows(methods, references, splits, spacing)
    return {
        "total_energies": energies,
        "ionization_potentials": ionization_rows(methods, references, splits, pairs),
        "atomization_energies": atomization_rows(methods, references, splits, fragments, systems),
        "density_losses": energies[TABLE_COLUMNS["density_losses"]].copy(),
    }


def value_column(table: str) -> str:
    """The column summarized in the wide view: errors, or the density loss."""
    return "density_loss" if table == "density_losses" else "error"


def summary_rows(long: pd.DataFrame, table: str) -> pd.DataFrame:
    """Mean error (signed) and MAE per method over the test split and over all systems."""
    column = value_column(table)
    rows = []
    for method, group in long.groupby("method", sort=False):
        for scope, part in (("test", group[group["split"] == "test"]), ("all", group)):
            values = part[column].to_numpy(dtype=float)
            rows.append(
                {"table": table, "method": method, "scope": scope, "count": len(values),
                 "mean_error": float(np.mean(values)) if len(values) else np.nan,
                 "mae": float(np.mean(np.abs(values))) if len(values) else np.nan}
            )
    return pd.DataFrame(rows)


def wide_view(long: pd.DataFrame, table: str) -> pd.DataFrame:
    """Systems as rows, methods as columns (mHa for energies), then ME / MAE rows (test, all)."""
    column = value_column(table)
    scale = 1.0 if table == "density_losses" else 1000.0
    wide = long.pivot(index=["system", "split"], columns="method", values=column) * scale
    wide = wide.reindex(columns=list(dict.fromkeys(long["method"])))
    order = list(dict.fromkeys(long["system"]))
    wide = wide.reindex(order, level="system").reset_index()
    extra = []
    summary = summary_rows(long, table)
    for scope in ("test", "all"):
        if not summary[summary["scope"] == scope]["count"].any():
            continue  # e.g. no ion is a test system: an empty row would only read as missing data
        for stat, label in (("mean_error", "ME"), ("mae", "MAE")):
            row = {"system": f"{label} ({scope})", "split": ""}
            part = summary[summary["scope"] == scope].set_index("method")[stat] * scale
            row.update(part.to_dict())
            extra.append(row)
    return pd.concat([wide, pd.DataFrame(extra)], ignore_index=True)


def _format(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"


def to_markdown(wide: pd.DataFrame, title: str) -> str:
    """A GitHub-flavoured Markdown table with a title line."""
    header = [str(c) for c in wide.columns]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    for _, row in wide.iterrows():
        lines.append("| " + " | ".join(_format(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                          ("#", r"\#"), ("^", r"\^{}")):
        text = text.replace(char, escaped)
    return text


def to_latex(wide: pd.DataFrame, title: str) -> str:
    """A booktabs tabular (no pandas/jinja dependency), with the summary rows after a midrule."""
    columns = [_latex_escape(str(c)) for c in wide.columns]
    lines = [f"% {title}", r"\begin{tabular}{ll" + "r" * (len(columns) - 2) + "}", r"\toprule",
             " & ".join(columns) + r" \\", r"\midrule"]
    first_summary = True
    for _, row in wide.iterrows():
        if row["split"] == "" and first_summary:
            lines.append(r"\midrule")
            first_summary = False
        lines.append(" & ".join(_latex_escape(_format(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(long: pd.DataFrame, table: str, paths: Mapping[str, str]) -> None:
    """Write one table in every requested format (``{"csv": path, "md": path, "tex": path}``)."""

    wide = wide_view(long, table)
    title = TABLE_TITLES[table]
    writers = {
        "csv": lambda: long.to_csv(index=False, float_format="%.10g"),
        "md": lambda: to_markdown(wide, title),
        "tex": lambda: to_latex(wide, title),
    }
    for fmt, path in paths.items():
        atomic_write_text(path, writers[fmt]())


def within_chemical_accuracy(errors) -> np.ndarray:
    """|error| <= 1.6 mHa, elementwise."""
    return np.abs(np.asarray(errors, dtype=float)) <= CHEMICAL_ACCURACY


def seed_error_rows(
    model: str, seed: int, predictions: Mapping, references: Mapping, splits: Mapping, selected: bool
) -> pd.DataFrame:
    """Per-system total-energy errors of one seed (for the seed-spread figure)."""
    rows = [
        {"model": model, "seed": seed, "selected": selected, "system": name,
         "split": splits.get(name, "other"), "error": predictions[name][0] - ref[0]}
        for name, ref in references.items()
    ]
    return pd.DataFrame(rows)


SEED_TABLE_COLUMNS = [
    "model", "seed", "status", "num_evaluations", "selected_evaluation", "validation_loss", "eligible",
    "selected", "predictions_ok", "test_mae", "all_mae", "ip_mae", "ae_mae", "test_density_loss", "note",
]
"""Columns of the seed table; MAEs in Ha (test_mae: total energies of the test split). ``eligible``: the
paper's rule (status ok, validation loss below the threshold); ``predictions_ok``: the K = 30 evaluation of
the selected checkpoint converged for every system."""


def error_summary(tables: Mapping[str, pd.DataFrame]) -> dict:
    """MAEs (Ha) of one method from its ``build_tables`` output: test and all total energies, IPs, AEs,
    and the mean density loss of the test systems (1/bohr)."""
    energies = tables["total_energies"]
    test = energies[energies["split"] == "test"]
    mean_abs = lambda frame, column: float(np.mean(np.abs(frame[column]))) if len(frame) else np.nan  # noqa: E731
    return {
        "test_mae": mean_abs(test, "error"),
        "all_mae": mean_abs(energies, "error"),
        "ip_mae": mean_abs(tables["ionization_potentials"], "error"),
        "ae_mae": mean_abs(tables["atomization_energies"], "error"),
        "test_density_loss": float(test["density_loss"].mean()) if len(test) else np.nan,
    }


def method_error_summary(values: Mapping, references: Mapping, systems: Mapping, settings: Mapping) -> dict:
    """``error_summary`` of one method's ``final_values``; ``settings`` holds the config's ``split``,
    ``atomization_fragments``, ``ionization_pairs`` and ``grid`` (a job's settings slice)."""
    tables = build_tables(
        {"method": values}, references, systems, settings["split"], settings["atomization_fragments"],
        settings["ionization_pairs"], settings["grid"]["spacing"],
    )
    return error_summary(tables)


def seed_row(model: str, record: Mapping, summary: Mapping | None, chosen_seed, exclusion: str,
             note: str = "") -> dict:
    """One row of the seed table from a seed's run record (run.json), its error summary (None: no usable
    predictions) and why selection excludes it (``sksr.training.selection.exclusion_reason``; "" when eligible)."""
    selected = record.get("selected") or {}
    loss = selected.get("validation_loss", np.nan)
    row = {
        "model": model,
        "seed": int(record["seed"]),
        "status": record.get("status"),
        "num_evaluations": record.get("num_evaluations"),
        "selected_evaluation": selected.get("evaluation"),
        "validation_loss": loss,
        "eligible": not exclusion,
        "selected": int(record["seed"]) == chosen_seed,
        "predictions_ok": summary is not None,
        "note": note or exclusion,
    }
    row.update(summary or {key: np.nan for key in ("test_mae", "all_mae", "ip_mae", "ae_mae", "test_density_loss")})
    return row


def seed_table_markdown(table: pd.DataFrame) -> str:
    """The seed table in Markdown (losses in scientific notation, MAEs in mHa)."""
    view = table.copy()
    for column in ("test_mae", "all_mae", "ip_mae", "ae_mae"):
        view[column] = view[column] * 1000.0
    view = view.rename(columns={c: f"{c} (mHa)" for c in ("test_mae", "all_mae", "ip_mae", "ae_mae")})
    header = list(view.columns)
    lines = ["**Every trained seed: status, selected checkpoint, validation loss, errors**", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for _, row in view.iterrows():
        cells = []
        for column, value in row.items():
            if column in ("validation_loss", "test_density_loss") and isinstance(value, float):
                cells.append("-" if np.isnan(value) else f"{value:.3e}")
            elif isinstance(value, (bool, np.bool_)):
                cells.append("yes" if value else "")
            else:
                cells.append(_format(value) if not isinstance(value, (int, np.integer)) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
