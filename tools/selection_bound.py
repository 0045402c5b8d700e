#!/usr/bin/env python3
"""How low can any seed-selection or committee rule go on a run's seeds? (issue 8; numbers in docs/results.md)

    .venv/bin/python tools/selection_bound.py RUN_DIR [RUN_DIR ...] [--model global] [--seeds 0-9]

RUN_DIR is a checkout in which the paper config ran. The pool is the model's eligible seeds (finished,
validation loss below the paper's threshold: the seed table's ``eligible``), optionally only those in
``--seeds``; each is represented by its selected checkpoint's K = 30 predictions
(results/training/<model>/predictions/seed<N>.npz). The tool prints two *oracle* numbers, which look
at the test molecules' reference energies and so are lower bounds on rules, not rules:

- the best single seed: no rule that selects one seed of that run can score below it;
- the best weighted committee: the lowest test MAE of any average of the seeds' predictions with fixed
  non-negative weights summing to 1 (a linear program, solved exactly), so no committee rule of that run
  (mean, weighted mean, ensemble of the N best-validated, ...) can score below it.

and one rule that uses no test molecule: the same weighted committee with its weights fitted to the
systems outside training and test (Be+ and the other ions), scored on the test molecules.

It also prints the median signed error per test molecule over the pool, next to the published model's
(systematic errors that every seed shares cannot be removed by selecting or averaging). Test molecules
and references are the run's (its config/config.yaml split and results/references/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import linprog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sksr.evaluation.prediction_files import load_predictions  # noqa: E402


def reference_energies(run: Path, names: list[str]) -> np.ndarray:
    """Electronic reference energies (Ha), shape (T,), read raw: older runs' files predate the current
    reader's format check (``sksr.references.files``)."""
    return np.array([float(np.load(run / "results" / "references" / f"{n}.npz")["total_energy"]) for n in names])


def errors_mha(final: dict, names: list[str], reference: np.ndarray) -> np.ndarray:
    """Signed K = 30 errors (mHa) on ``names``, shape (T,), from a predictions file's ``load_predictions``."""
    return 1000 * (np.array([final[n][0] for n in names]) - reference)


def seed_predictions(run: Path, model: str, pool: set[int]) -> dict[int, dict]:
    """``load_predictions`` of every eligible seed in ``pool`` that has a predictions file (read once)."""
    seeds = pd.read_csv(run / "figures" / "tables" / "seeds.csv")
    finals = {}
    for seed in seeds[(seeds.model == model) & seeds.eligible.astype(bool) & seeds.seed.isin(pool)].seed:
        path = run / "results" / "training" / model / "predictions" / f"seed{int(seed)}.npz"
        if path.is_file():  # older seed tables have no predictions_ok column
            finals[int(seed)] = load_predictions(path)
    return finals


def seed_errors_mha(run: Path, finals: dict[int, dict], names: list[str]) -> dict[int, np.ndarray]:
    """Signed errors (mHa) on ``names``, shape (T,), of the seeds whose predictions there are finite."""
    reference = reference_energies(run, names)
    errors = {seed: errors_mha(final, names, reference) for seed, final in finals.items()}
    return {seed: values for seed, values in errors.items() if np.all(np.isfinite(values))}


def single_seed_mae(errors: dict[int, np.ndarray], seed: int) -> float:
    return float(np.mean(np.abs(errors[seed])))


def best_weighted_committee(errors: dict[int, np.ndarray]) -> tuple[dict[int, float], float]:
    """min over w >= 0, sum w = 1 of mean_t |sum_s w_s e_st| (mHa), by linear programming.

    Variables (w_1..w_S, u_1..u_T): minimize sum_t u_t / T subject to -u_t <= sum_s w_s e_st <= u_t.
    Returns the weights above 1e-6 by seed and the minimum.
    """
    seeds = sorted(errors)
    e = np.array([errors[s] for s in seeds]).T  # (T, S)
    t, n = e.shape
    cost = np.concatenate([np.zeros(n), np.full(t, 1.0 / t)])
    upper = np.block([[e, -np.eye(t)], [-e, -np.eye(t)]])
    result = linprog(cost, A_ub=upper, b_ub=np.zeros(2 * t), A_eq=np.concatenate([np.ones(n), np.zeros(t)])[None, :],
                     b_eq=[1.0], bounds=[(0, None)] * (n + t), method="highs")
    if not result.success:
        raise RuntimeError(f"the committee linear program failed: {result.message}")
    weights = {s: float(w) for s, w in zip(seeds, result.x[:n]) if w > 1e-6}
    return weights, float(result.fun)


def committee_mae(errors: dict[int, np.ndarray], weights: dict[int, float]) -> float:
    """Test MAE (mHa) of the weighted mean prediction."""
    return float(np.mean(np.abs(sum(w * errors[s] for s, w in weights.items()))))


def outside_systems(finals: dict[int, dict], config: dict) -> list[str]:
    """The predicted systems that are neither trained on nor test molecules (Be+, the ions)."""
    excluded = set(config["split"]["train"]) | set(config["split"]["test"]) | {"_spacing"}
    return [n for n in next(iter(finals.values())) if n not in excluded]


def report(run: Path, model: str, pool: set[int]) -> list[str]:
    config = yaml.safe_load((run / "config" / "config.yaml").read_text())
    test = list(config["split"]["test"])
    finals = seed_predictions(run, model, pool)
    errors = seed_errors_mha(run, finals, test)
    outside = outside_systems(finals, config)
    outside_errors = seed_errors_mha(run, {s: finals[s] for s in errors}, outside)
    single = min(errors, key=lambda s: single_seed_mae(errors, s))
    weights, committee = best_weighted_committee(errors)
    fitted, fitted_outside = best_weighted_committee(outside_errors)
    median = np.median(np.array(list(errors.values())), axis=0)
    published = run / "results" / "predictions" / f"published-{model}.npz"
    pub = (errors_mha(load_predictions(published), test, reference_energies(run, test)) if published.is_file()
           else np.full(len(test), np.nan))
    members = ", ".join(f"{s}: {w:.2f}" for s, w in sorted(weights.items(), key=lambda item: -item[1]))
    fitted_members = ", ".join(f"{s}: {w:.2f}" for s, w in sorted(fitted.items(), key=lambda item: -item[1]))
    return [f"## {run} ({model}, {len(errors)} eligible seeds with finite predictions: {sorted(errors)})", "",
            f"- best single seed (oracle): seed {single}, test MAE {single_seed_mae(errors, single):.2f} mHa",
            f"- best weighted committee (oracle, exact): test MAE {committee:.2f} mHa, weights {{{members}}}",
            f"- committee fitted on {', '.join(outside)} (a rule): their MAE {fitted_outside:.2f} mHa, test MAE "
            f"{committee_mae(errors, fitted):.2f} mHa, weights {{{fitted_members}}}",
            f"- plain mean of the pool: {committee_mae(errors, {s: 1 / len(errors) for s in errors}):.2f} mHa", "",
            "| molecule | median signed error over these seeds (mHa) | published model (mHa) |", "|---|---:|---:|",
            *[f"| {n} | {m:+.1f} | {q:+.1f} |" for n, m, q in zip(test, median, pub)], ""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="checkouts in which the paper config ran")
    parser.add_argument("--model", default="global", choices=["lsda", "gga", "global"])
    parser.add_argument("--seeds", default="0-1000", help="seed range of the pool, e.g. 0-9 (default: all)")
    args = parser.parse_args(argv)
    first, _, last = args.seeds.partition("-")
    pool = set(range(int(first), int(last or first) + 1))
    for run in args.runs:
        print("\n".join(report(run, args.model, pool)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
