#!/usr/bin/env python3
"""Does a longer L-BFGS budget help the paper's seed rule? (issue 8; the numbers are in docs/results.md)

    .venv/bin/python tools/longer_budget_experiment.py RUN_DIR OUT_DIR [--model global] [--maxfun 600]
        [--seeds 0-29]

RUN_DIR is a checkout in which the paper config ran (its results/datasets/ and results/references/ are
read, nothing there is written). Each seed is trained again with the run's training settings (the paper
protocol in config/config.yaml) except ``max_evaluations = --maxfun``, into OUT_DIR/seed<N>/ (a killed run
resumes from its replay log under OUT_DIR/.replay/). L-BFGS-B does not look at its budget before it
runs out, so the first 300 evaluations of such a run are the paper protocol's run at this commit: the
paired comparison selects, within the same run, the checkpoint with the lowest validation loss among
evaluations <= 300 (the paper's budget) and among all of them, and scores both by the K = 30 test-molecule
MAE. Then the paper's seed rule (lowest validation loss below the config's threshold) on all seeds and on
the robustness subsets. Prints a Markdown table; writes OUT_DIR/paired.csv.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sksr.core.grid import Grid  # noqa: E402
from sksr.core.systems import System  # noqa: E402
from sksr.evaluation.prediction import predict  # noqa: E402
from sksr.functionals.neural import build_xc, load_params  # noqa: E402
from sksr.training.objective import load_training_data  # noqa: E402
from sksr.pipeline.workflow_config import TRAINING_JOB_KEYS  # noqa: E402
from sksr.training.optimizer import train_seed  # noqa: E402
from sksr.training.selection import checkpoint_stem, load_run_record  # noqa: E402
from sksr.training.settings import TrainingSettings  # noqa: E402

LOG = logging.getLogger("longer_budget")


def seed_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def test_mae_mha(stem: Path, systems: list[System], grid: Grid, reference: np.ndarray, iterations: int) -> float:
    """K-iteration test-molecule MAE (mHa) of the parameters saved at ``stem`` (.npz + .json)."""
    spec, params, _ = load_params(stem)
    energies = predict(systems, grid, build_xc(spec, params, grid), iterations)["energies"][:, -1]
    return float(np.mean(np.abs(1000 * (energies - reference))))


def paired_row(seed: int, run: Path, score, paper_budget: int) -> dict:
    """The paper-budget and the long-budget selection of one finished run, with their test MAEs."""
    record = load_run_record(run)
    empty = dict(seed=seed, status=record["status"], eval_paper=-1, val_paper=np.nan, test_paper=np.nan,
                 eval_long=-1, val_long=np.nan, test_long=np.nan)
    if not (run / "validation.csv").is_file():  # a seed that failed before any checkpoint was validated
        return empty
    validation = pd.read_csv(run / "validation.csv").dropna(subset=["loss"])
    early = validation[validation.evaluation <= paper_budget]
    if early.empty:
        return empty
    best_early = early.loc[early.loss.idxmin()]
    best_all = validation.loc[validation.loss.idxmin()]
    eval_paper, eval_long = int(best_early.evaluation), int(best_all.evaluation)
    test_paper = score(checkpoint_stem(run, eval_paper))
    test_long = test_paper if eval_long == eval_paper else score(checkpoint_stem(run, eval_long))
    return dict(seed=seed, status=record["status"], eval_paper=eval_paper, val_paper=float(best_early.loss),
                test_paper=test_paper, eval_long=eval_long, val_long=float(best_all.loss), test_long=test_long)


def seed_rule(table: pd.DataFrame, budget: str, threshold: float) -> int | None:
    """Lowest validation loss among finished seeds below the threshold (the paper's rule)."""
    eligible = table[(table.status == "ok") & (table[f"val_{budget}"] < threshold)]
    return None if eligible.empty else int(eligible[f"val_{budget}"].idxmin())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--model", default="global")
    parser.add_argument("--maxfun", type=int, default=600)
    parser.add_argument("--seeds", type=seed_range, default=range(30))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    config = yaml.safe_load((args.run_dir / "config" / "config.yaml").read_text())
    grid = Grid.from_dict(config["grid"])
    test = [System.from_dict(config["systems"][name], name=name) for name in config["split"]["test"]]
    references = args.run_dir / "results" / "references"
    # the raw array, not load_reference: earlier runs' reference files are in an older format version
    reference = np.array([float(np.load(references / f"{s.name}.npz")["total_energy"]) for s in test])
    iterations = config["scf"]["eval_iterations"]
    data = load_training_data(args.run_dir / "results/datasets/train.npz",
                              args.run_dir / "results/datasets/validation.npz")
    # the run's own training settings (the paper protocol in config/config.yaml), only the budget changed
    settings = TrainingSettings.from_config(
        {**config["training"], "num_iterations": config["scf"]["train_iterations"], "max_evaluations": args.maxfun},
        ignore=TRAINING_JOB_KEYS)
    paper_budget = config["training"]["max_evaluations"]

    rows = []
    for seed in args.seeds:
        run = args.out_dir / f"seed{seed}"
        if not (run / "run.json").is_file():
            train_seed(args.model, seed, *data, settings, out_dir=run, log=LOG,
                       replay_dir=args.out_dir / ".replay" / f"seed{seed}")
        rows.append(paired_row(seed, run, lambda stem: test_mae_mha(stem, test, grid, reference, iterations),
                               paper_budget))
    table = pd.DataFrame(rows).set_index("seed")
    table.to_csv(args.out_dir / "paired.csv")

    threshold = config["selection"]["max_validation_loss"]
    subset = config["selection"]["robustness_subset"]
    print(f"sKSR-{args.model}, maxfun {paper_budget} (paper) against {args.maxfun}, K = {iterations} test MAE (mHa)\n")
    print(f"seeds: {len(table)}; the long budget selects another checkpoint for "
          f"{int((table.eval_paper != table.eval_long).sum())}, a better one for "
          f"{int((table.test_long < table.test_paper).sum())}; median test MAE "
          f"{table.test_paper.median():.2f} -> {table.test_long.median():.2f}\n")
    print(f"| seeds | paper rule, maxfun {paper_budget}: seed, test MAE | paper rule, maxfun {args.maxfun}: seed, test MAE |")
    print("|---|---|---|")
    groups = [("all", table.index)] + [
        (f"{a}-{a + subset - 1}", [s for s in table.index if a <= s < a + subset])
        for a in range(min(table.index), max(table.index) + 1, subset)]
    for name, members in groups:
        part = table.loc[list(members)]
        cells = []
        for budget in ("paper", "long"):
            seed = seed_rule(part, budget, threshold)
            cells.append("none eligible" if seed is None else f"{seed}, {part.loc[seed, f'test_{budget}']:.2f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
