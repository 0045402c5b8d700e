"""Seed selection and combination rules beyond the paper's, chosen without looking at the test molecules.

The paper keeps, per model, the one seed with the lowest validation loss on Be+ (``sksr.training.selection
.select_best_seed``). Be+ predicts the molecules weakly (docs/physics.md section 10 and our seed table), so
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

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd


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
      seeds: seed-table rows of one model (``sksr.evaluation.tables.SEED_TABLE_COLUMNS``).
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
      arrays: seed -> the arrays of its predictions file (``sksr.evaluation.prediction_files.read_predictions``).
    """
    from sksr.evaluation.prediction_files import final_values

    values = {s: final_values(a) for s, a in arrays.items()} if rule == "ions" else {}
    chosen = choose_seeds(rule, seeds, values, references, selection_systems)
    return chosen, committee([arrays[s] for s in chosen])


def robustness_rows(model: str, rules: Sequence[str], seeds: pd.DataFrame, arrays, references,
                    selection_systems, subset_size: int, summarize) -> list[dict]:
    """Every rule (``"paper"`` first) on all seeds and on disjoint subsets of ``subset_size`` seeds.

    ``summarize(predictions arrays) -> dict`` gives the error summary (``sksr.evaluation.tables.error_summary``).
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
