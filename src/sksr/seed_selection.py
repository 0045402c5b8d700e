"""Seed selection: the paper's rule, and rules beyond it chosen without looking at the test molecules.

The paper keeps, per model, the one seed with the lowest validation loss on Be+ (``select_best_seed``,
reading the run directories that ``sksr.training`` writes; no SciPy or TeNPy needed). Be+ predicts the molecules weakly (docs/physics.md section 10 and our seed table), so
the workflow also offers, as documented config choices (``selection.alternatives``), rules that use
only data outside the test split:

- ``ensemble-N``: the committee of the N eligible seeds with the lowest validation losses; its energy
  (every KS iteration) and density are the means of the members' Kohn-Sham predictions (K = 30).
- ``ions``: the eligible seed with the lowest total-energy MAE (K = 30) over the *selection systems*: the
  validation split plus ``selection.extra_validation`` (by default the ions outside the training set).

"Eligible" is the paper's rule: status ok and validation loss below ``selection.max_validation_loss``.
Every rule works on per-seed predictions (``evaluate_seed`` outputs), so none retrains anything.
``robustness_rows`` applies every rule to disjoint subsets of the seeds, to show whether a rule's result
survives a rerun with other seeds.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sksr.atomic_io import atomic_write_json

RUN_RECORD = "run.json"  # file names of a training run directory (written by sksr.training)
BEST_STEM = "best"


class SelectionError(RuntimeError):
    """No seed can be selected (every run failed or none finished)."""


def load_run_record(run_dir: str | os.PathLike) -> dict:
    """The ``run.json`` of a run directory; SelectionError naming the file if it is missing or unreadable."""
    path = Path(run_dir) / RUN_RECORD
    if not path.exists():
        raise SelectionError(f"{path}: missing (the run did not finish, or its record was removed)")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SelectionError(f"{path}: unreadable run record ({error})") from error
    if not isinstance(record, dict) or "status" not in record or "seed" not in record:
        raise SelectionError(f"{path}: not a run record (no 'status' or 'seed')")
    return record


DEFAULT_MAX_VALIDATION_LOSS = 0.1
"""Seeds whose selected validation loss is not below this are never selected (the published runs)."""


def exclusion_reason(record: Mapping, max_validation_loss: float = DEFAULT_MAX_VALIDATION_LOSS) -> str:
    """Why selection never picks the seed of a run record ("" when it is eligible): it failed, has no
    finite validation loss, or its loss is not below ``max_validation_loss``."""
    selected = record.get("selected")
    if record.get("status") != "ok" or not selected:
        return record.get("failure_reason") or "no selected checkpoint"
    loss = selected.get("validation_loss")
    if not isinstance(loss, (int, float)) or not math.isfinite(loss):
        return "no finite validation loss"
    if loss >= max_validation_loss:
        return f"validation loss {loss:.3g} is not below {max_validation_loss:g}"
    return ""


def _candidate_or_reason(run_dir, record: dict, max_validation_loss: float) -> tuple[dict | None, str]:
    """A run's candidate entry, or None and why it is excluded."""
    reason = exclusion_reason(record, max_validation_loss)
    if reason:
        return None, reason
    selected = record["selected"]
    loss = selected["validation_loss"]
    return {
        "run_dir": str(run_dir),
        "seed": record["seed"],
        "model_kind": record["model_kind"],
        "evaluation": selected["evaluation"],
        "validation_loss": loss,
        "train_loss": selected["train_loss"],
        "num_evaluations": record.get("num_evaluations"),
        "params": str(Path(run_dir) / selected["params"]),
    }, ""


def select_best_seed(
    run_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    max_validation_loss: float = DEFAULT_MAX_VALIDATION_LOSS,
    require_records: bool = False,
) -> dict:
    """Pick the run whose selected checkpoint has the lowest validation loss (ties: lowest seed).

    Runs that failed (non-finite loss, no finite validation loss) or whose loss is not below
    ``max_validation_loss`` are excluded and listed with their reasons. A run directory without a
    readable ``run.json`` is excluded too, unless ``require_records`` (the workflow's setting: every
    seed job finished, so a missing record is damage, not a failed seed), where it raises
    ``SelectionError`` naming the file. Raises ``SelectionError`` naming every run's reason when no run
    is left. With ``out_dir``, writes ``out_dir/selection.json`` (the returned record) and copies the
    winner's parameters to ``out_dir/params.npz`` + ``out_dir/params.json``.

    Returns:
      ``{"selected": {seed, run_dir, model_kind, evaluation, validation_loss, train_loss, params},
      "candidates": [...], "failed": [{run_dir, seed, reason}, ...], "max_validation_loss": float}``.
    """
    if len(run_dirs) == 0:
        raise SelectionError("no runs to select from")
    candidates, failed = [], []
    for run_dir in run_dirs:
        try:
            record = load_run_record(run_dir)
        except SelectionError as error:
            if require_records:
                raise
            failed.append({"run_dir": str(run_dir), "seed": None, "reason": str(error)})
            continue
        candidate, reason = _candidate_or_reason(run_dir, record, max_validation_loss)
        if candidate is None:
            failed.append({"run_dir": str(run_dir), "seed": record.get("seed"), "reason": reason})
        else:
            candidates.append(candidate)
    if not candidates:
        reasons = "; ".join(f"seed {f['seed']} ({f['run_dir']}): {f['reason']}" for f in failed)
        raise SelectionError(
            f"no seed can be selected from {len(run_dirs)} runs (every seed failed or has a validation "
            f"loss not below {max_validation_loss:g}): {reasons}"
        )
    kinds = {c["model_kind"] for c in candidates}
    if len(kinds) > 1:
        raise SelectionError(f"runs of different model kinds cannot be compared: {sorted(kinds)}")
    best = min(candidates, key=lambda c: (c["validation_loss"], c["seed"]))
    selection = {
        "selected": best,
        "candidates": candidates,
        "failed": failed,
        "max_validation_loss": max_validation_loss,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        from sksr.functionals.neural import load_params, save_params  # JAX only where parameters are copied

        spec, params, metadata = load_params(Path(best["run_dir"]) / BEST_STEM)
        save_params(out_dir / "params", spec, params, {**metadata, "selected_from": len(run_dirs)})
        atomic_write_json(out_dir / "selection.json", selection)
    return selection

RULE_PATTERN = re.compile(r"^(ensemble-([1-9][0-9]*)|ions)$")


def parse_rule(rule: str) -> tuple[str, int]:
    """``"ensemble-5"`` -> ("ensemble", 5); ``"ions"`` -> ("ions", 0); ValueError otherwise."""
    match = RULE_PATTERN.match(rule)
    if not match:
        raise ValueError(f"unknown selection rule {rule!r}: use 'ensemble-N' (N >= 1) or 'ions'")
    return ("ensemble", int(match.group(2))) if match.group(2) else ("ions", 0)


def rule_label(model_label: str, rule: str) -> str:
    """Table label of a model under a rule, e.g. 'sKSR-global (ensemble of 5)'."""
    kind, size = parse_rule(rule)
    return f"{model_label} (ensemble of {size})" if kind == "ensemble" else f"{model_label} (ion-validated)"


def eligible_by_validation(seeds: pd.DataFrame) -> pd.DataFrame:
    """Eligible seeds with usable predictions (never judged by test errors), lowest validation loss first
    (ties: lower seed)."""
    usable = seeds[seeds["eligible"].astype(bool) & seeds["predictions_ok"].astype(bool)]
    return usable.sort_values(["validation_loss", "seed"], kind="stable")


def selection_mae(predictions: Mapping, references: Mapping, names: Sequence[str]) -> float:
    """Mean |E - E_ref| (Ha) of final energies over ``names`` (``load_predictions`` / reference dicts)."""
    return float(np.mean([abs(predictions[n][0] - references[n][0]) for n in names]))


def committee(arrays: Sequence[Mapping]) -> dict:
    """Mean of several predictions files' arrays (energies (B, K), densities (B, 2, G)); names must agree."""
    first = arrays[0]
    for other in arrays[1:]:
        if list(other["names"]) != list(first["names"]):
            raise ValueError("committee members must predict the same systems in the same order")
    return {
        "names": np.asarray(first["names"]),
        "n_electrons": np.asarray(first["n_electrons"]),
        "energies": np.mean([np.asarray(a["energies"]) for a in arrays], axis=0),
        "densities": np.mean([np.asarray(a["densities"]) for a in arrays], axis=0),
        "spacing": np.float64(first["spacing"]),
    }


def choose_seeds(rule: str, seeds: pd.DataFrame, predictions: Mapping[int, Mapping], references: Mapping,
                 selection_systems: Sequence[str]) -> list[int]:
    """Seeds a rule combines: one for ``paper`` (the lowest validation loss) and ``ions``, up to N for
    ``ensemble-N``.

    Args:
      seeds: seed-table rows of one model (``sksr.evaluation.SEED_TABLE_COLUMNS``).
      predictions: seed -> ``final_values`` of its predictions (read only by ``ions``).
      references: system -> (energy, density).
      selection_systems: the systems the ``ions`` rule scores (never test systems).
    """
    ranked = eligible_by_validation(seeds)
    if ranked.empty:
        raise ValueError("no eligible seed (status ok, validation loss below the threshold, usable predictions)")
    if rule == "paper":
        return [int(ranked["seed"].iloc[0])]
    kind, size = parse_rule(rule)
    if kind == "ensemble":
        return [int(s) for s in ranked["seed"].iloc[:size]]
    scores = {int(s): selection_mae(predictions[int(s)], references, selection_systems) for s in ranked["seed"]}
    return [min(scores, key=lambda s: (scores[s], s))]


def seed_subsets(seeds: Sequence[int], size: int) -> list[list[int]]:
    """Disjoint consecutive subsets of ``size`` seeds (a shorter remainder is dropped), as reruns would be."""
    seeds = sorted(seeds)
    return [seeds[i : i + size] for i in range(0, len(seeds) - size + 1, size)]


def apply_rule(rule: str, seeds: pd.DataFrame, arrays: Mapping[int, Mapping], references: Mapping,
               selection_systems: Sequence[str]) -> tuple[list[int], dict]:
    """(chosen seeds, predictions arrays of the chosen seed or committee) of a rule (``choose_seeds``).

    Args:
      arrays: seed -> the arrays of its predictions file (``sksr.evaluation.read_predictions``).
    """
    from sksr.evaluation import final_values

    values = {s: final_values(a) for s, a in arrays.items()} if rule == "ions" else {}
    chosen = choose_seeds(rule, seeds, values, references, selection_systems)
    return chosen, committee([arrays[s] for s in chosen])


def robustness_rows(model: str, rules: Sequence[str], seeds: pd.DataFrame, arrays, references,
                    selection_systems, subset_size: int, summarize) -> list[dict]:
    """Every rule (``"paper"`` first) on all seeds and on disjoint subsets of ``subset_size`` seeds.

    ``summarize(predictions arrays) -> dict`` gives the error summary (``sksr.evaluation.error_summary``).
    Returns one row per (subset, rule): model, subset, rule, chosen seeds and the summary's MAEs.
    """
    usable = set(int(s) for s in eligible_by_validation(seeds)["seed"])
    all_seeds = sorted(int(s) for s in seeds["seed"])
    subsets = [("all", all_seeds)] + [(f"{s[0]}-{s[-1]}", s) for s in seed_subsets(all_seeds, subset_size)]
    rows = []
    for name, members in subsets:
        part = seeds[seeds["seed"].isin(members)]
        for rule in ["paper", *rules]:
            try:
                chosen, predictions = apply_rule(rule, part, arrays, references, selection_systems)
            except ValueError as error:
                rows.append({"model": model, "subset": name, "rule": rule, "seeds": "", "note": str(error)})
                continue
            rows.append({"model": model, "subset": name, "rule": rule, "seeds": " ".join(map(str, chosen)),
                         "eligible_seeds": len(usable.intersection(members)), **summarize(predictions),
                         "note": ""})
    return rows
