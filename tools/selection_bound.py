#!/usr/bin/env python3
"""How low can any seed-selection or committee rule go on a run's seeds? (issue 8; numbers in docs/results.md)

    .venv/bin/python tools/selection_bound.py RUN_DIR [RUN_DIR ...] [--model global]

RUN_DIR is a checkout in which the paper config ran. For the model's finished seeds (their selected
checkpoints' K = 30 predictions, results/training/<model>/predictions/seed<N>.npz) this prints two
*oracle* numbers, which look at the test molecules and are therefore bounds, not rules:

- the best single seed: no selection rule on that run can score below it;
- the best committee found by greedy forward selection (mean prediction of the members, a member may
  count more than once): a bound, in practice, for rules that average the seeds' predictions.

It also prints the median signed error per test molecule over the seeds, next to the published model's
(systematic errors that every seed shares cannot be removed by selecting or averaging). Test molecules and references are the run's
(its config/config.yaml split and results/references/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sksr.evaluation.prediction_files import final_values, read_predictions  # noqa: E402


def test_errors_mha(run: Path, model: str, test: list[str]) -> dict[int, np.ndarray]:
    """Signed K = 30 errors (mHa) on the test molecules, shape (T,), of every seed with predictions."""
    # Raw energies: older runs' reference files predate the current reader's format check.
    reference = np.array([float(np.load(run / "results" / "references" / f"{n}.npz")["total_energy"]) for n in test])
    seeds = pd.read_csv(run / "figures" / "tables" / "seeds.csv")
    errors = {}
    for seed in seeds[(seeds.model == model) & (seeds.status == "ok")].seed:
        path = run / "results" / "training" / model / "predictions" / f"seed{int(seed)}.npz"
        if not path.is_file():
            continue
        final = final_values(read_predictions(path))
        errors[int(seed)] = 1000 * (np.array([final[n][0] for n in test]) - reference)
    return errors


def committee_mae(errors: dict[int, np.ndarray], members: list[int]) -> float:
    """Test MAE (mHa) of the mean prediction of ``members``."""
    return float(np.mean(np.abs(np.mean([errors[s] for s in members], axis=0))))


def greedy_committee(errors: dict[int, np.ndarray]) -> tuple[list[int], float]:
    """Forward selection from the best single seed, adding the seed that lowers the committee's MAE most."""
    members = [min(errors, key=lambda s: committee_mae(errors, [s]))]
    best = committee_mae(errors, members)
    while True:
        candidate = min(errors, key=lambda s: committee_mae(errors, members + [s]))
        value = committee_mae(errors, members + [candidate])
        if value >= best - 1e-12:
            return members, best
        members, best = members + [candidate], value


def report(run: Path, model: str) -> list[str]:
    config = yaml.safe_load((run / "config" / "config.yaml").read_text())
    test = list(config["split"]["test"])
    errors = test_errors_mha(run, model, test)
    finite = {s: e for s, e in errors.items() if np.all(np.isfinite(e)) and np.mean(np.abs(e)) < 1000}
    single = min(finite, key=lambda s: committee_mae(finite, [s]))
    members, committee = greedy_committee(finite)
    median = np.median(np.array(list(finite.values())), axis=0)
    published = run / "results" / "predictions" / f"published-{model}.npz"
    reference = np.array([float(np.load(run / "results" / "references" / f"{n}.npz")["total_energy"]) for n in test])
    if published.is_file():
        final = final_values(read_predictions(published))
        pub = 1000 * (np.array([final[n][0] for n in test]) - reference)
    else:
        pub = np.full(len(test), np.nan)
    return [f"## {run} ({model}, {len(finite)} seeds with finite predictions)", "",
            f"- best single seed (oracle): seed {single}, test MAE {committee_mae(finite, [single]):.2f} mHa",
            f"- best greedy committee (oracle): {len(members)} members {members}, test MAE {committee:.2f} mHa",
            f"- mean of all seeds: {committee_mae(finite, list(finite)):.2f} mHa", "",
            "| molecule | median signed error over our seeds (mHa) | published model (mHa) |", "|---|---:|---:|",
            *[f"| {n} | {m:+.1f} | {q:+.1f} |" for n, m, q in zip(test, median, pub)], ""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="checkouts in which the paper config ran")
    parser.add_argument("--model", default="global", choices=["lsda", "gga", "global"])
    args = parser.parse_args(argv)
    for run in args.runs:
        print("\n".join(report(run, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
