#!/usr/bin/env python3
"""Issue 8 experiment: select checkpoints (not only seeds) on validation molecules outside the test set.

    .venv/bin/python tools/checkpoint_validation_experiment.py RUN_DIR OUT_DIR --configfile A.yaml [B.yaml]
        [--model global] [--selection NAME ...] [--subset 10] [--committees 3 5]

RUN_DIR is a checkout in which the ``--configfile`` files ran (its seeds' training directories, its
references, and its seed table, or before that table exists the seeds' run records). For every
checkpoint of every eligible seed the tool runs K = ``scf.eval_iterations`` Kohn-Sham iterations on the
test molecules and on the selection systems (the validation split plus ``selection.extra_validation``,
or ``--selection``), caching one file per seed in OUT_DIR (a rerun resumes). Then, on all seeds and on
disjoint subsets of ``--subset`` seeds (reruns with other seeds), it compares, by test-molecule MAE:

- ``paper``: the seed with the lowest validation loss, at its selected checkpoint;
- ``checkpoint``: the (seed, checkpoint) with the lowest K = 30 total-energy MAE on the selection systems;
- ``checkpoint-committee-N``: the mean energies of the N best such pairs, one per seed;
- ``fitted checkpoint committee``: non-negative weights (sum 1) over all candidates that minimize the
  selection systems' MAE (a linear program), applied to the test molecules;
- ``oracle``: the (seed, checkpoint) with the lowest test MAE (it looks at the test answers: a bound on
  every single-checkpoint rule, not a rule).

Every rule but the oracle is chosen without the test molecules' references. Writes
OUT_DIR/<model>-candidates.csv (one row per candidate) and OUT_DIR/<model>-rules.csv, and prints the
rules as a Markdown table. Results: docs/results.md, "Validation molecules, and bonding data in training".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from selection_bound import best_weighted_committee, reference_energies  # noqa: E402
from sksr.core.grid import Grid  # noqa: E402
from sksr.core.systems import System  # noqa: E402
from sksr.evaluation.seed_selection import seed_subsets  # noqa: E402
from sksr.io.atomic import atomic_savez  # noqa: E402
from sksr.pipeline.config_files import load_files  # noqa: E402
from sksr.training.selection import exclusion_reason, load_run_record  # noqa: E402


def selection_energies(run: Path, model: str, seed: int, systems: list[System], grid: Grid, k: int,
                       out: Path) -> dict:
    """{'evaluations' (C,), 'energies' (C, B) Ha} of one seed's checkpoints, from OUT_DIR's cache or computed."""
    from sksr.evaluation.prediction import checkpoint_energies

    cache = out / f"{model}-seed{seed}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            if list(data["names"]) == [s.name for s in systems]:
                return {"evaluations": data["evaluations"], "energies": data["energies"]}
    evaluations, energies = checkpoint_energies(run / "results" / "training" / model / f"seed{seed}", systems, grid, k)
    atomic_savez(cache, {"evaluations": evaluations, "energies": energies, "names": np.array([s.name for s in systems])})
    return {"evaluations": evaluations, "energies": energies}


def candidate_table(run: Path, model: str, seeds: pd.DataFrame, systems, grid, k, out, test, selection) -> pd.DataFrame:
    """One row per (eligible seed, checkpoint): test MAE, selection MAE (mHa), per-molecule test errors."""
    names = [s.name for s in systems]
    reference = reference_energies(run, names)
    test_idx = [names.index(n) for n in test]
    sel_idx = [names.index(n) for n in selection]
    rows = []
    for seed in seeds.seed:
        data = selection_energies(run, model, int(seed), systems, grid, k, out)
        errors = 1000 * (data["energies"] - reference)  # (C, B) mHa
        for evaluation, row in zip(data["evaluations"], errors):
            if not np.all(np.isfinite(row)):
                continue
            on_test, on_selection = row[test_idx], row[sel_idx]
            rows.append({"seed": int(seed), "evaluation": int(evaluation),
                         "test_mae": float(np.mean(np.abs(on_test))), "test_max": float(np.max(np.abs(on_test))),
                         "selection_mae": float(np.mean(np.abs(on_selection))),
                         **{f"err:{n}": float(e) for n, e in zip(test, on_test)},
                         **{f"sel:{n}": float(e) for n, e in zip(selection, on_selection)}})
    return pd.DataFrame(rows)


def eligible_seeds(run: Path, model: str, cache: Path, max_validation_loss: float) -> pd.DataFrame:
    """Seed, selected evaluation and validation loss of the eligible seeds: the run's seed table, or, before
    it exists, the finished seeds' run records (``exclusion_reason``) whose checkpoint energies are cached."""
    table = run / "figures" / "tables" / "seeds.csv"
    if table.is_file():
        seeds = pd.read_csv(table)
        return seeds[(seeds.model == model) & seeds.eligible.astype(bool)]
    rows = []
    for path in sorted((run / "results" / "training" / model).glob("seed*/run.json")):
        record = load_run_record(path.parent)
        if not exclusion_reason(record, max_validation_loss) and (cache / f"{model}-seed{record['seed']}.npz").is_file():
            rows.append({"seed": record["seed"], "selected_evaluation": record["selected"]["evaluation"],
                         "validation_loss": record["selected"]["validation_loss"]})
    return pd.DataFrame(rows)


def committee_row(table: pd.DataFrame, size: int, test: list[str]) -> dict:
    """Mean prediction of the ``size`` best (lowest selection MAE) candidates, one per seed."""
    best = table.sort_values(["selection_mae", "seed", "evaluation"]).drop_duplicates("seed").head(size)
    errors = best[[f"err:{n}" for n in test]].to_numpy().mean(axis=0)
    members = " ".join(f"{s}@{e}" for s, e in zip(best.seed, best.evaluation))
    return {"chosen": members, "test_mae": float(np.mean(np.abs(errors))), "test_max": float(np.max(np.abs(errors)))}


def fitted_committee_row(table: pd.DataFrame, test: list[str]) -> dict:
    """The committee of candidates whose non-negative weights (sum 1) minimize the selection systems' MAE
    (a linear program, ``selection_bound.best_weighted_committee``), scored on the test molecules."""
    selection = [c for c in table.columns if c.startswith("sel:")]
    errors = {i: row for i, row in zip(table.index, table[selection].to_numpy())}
    weights, _ = best_weighted_committee(errors)
    test_errors = sum(w * table.loc[i, [f"err:{n}" for n in test]].to_numpy(dtype=float) for i, w in weights.items())
    members = " ".join(f"{table.seed[i]}@{table.evaluation[i]}:{w:.2f}" for i, w in
                       sorted(weights.items(), key=lambda item: -item[1]))
    return {"chosen": members, "test_mae": float(np.mean(np.abs(test_errors))),
            "test_max": float(np.max(np.abs(test_errors)))}


def rule_rows(table: pd.DataFrame, seeds: pd.DataFrame, test: list[str], sizes: list[int]) -> list[dict]:
    """paper / checkpoint / committees / oracle on one pool of seeds."""
    paper_seed = seeds.sort_values(["validation_loss", "seed"]).iloc[0]
    paper = table[(table.seed == paper_seed.seed) & (table.evaluation == int(paper_seed.selected_evaluation))]
    checkpoint = table.sort_values(["selection_mae", "seed", "evaluation"]).iloc[0]
    oracle = table.sort_values(["test_mae", "seed", "evaluation"]).iloc[0]
    pick = lambda r: {"chosen": f"{int(r.seed)}@{int(r.evaluation)}", "test_mae": r.test_mae, "test_max": r.test_max}
    rows = [{"rule": "paper", **pick(paper.iloc[0])}, {"rule": "checkpoint", **pick(checkpoint)}]
    rows += [{"rule": f"checkpoint-committee-{n}", **committee_row(table, n, test)} for n in sizes]
    rows.append({"rule": "fitted checkpoint committee", **fitted_committee_row(table, test)})
    rows.append({"rule": "oracle (test answers)", **pick(oracle)})
    return rows


def experiment_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments issue 8's experiment tools share: RUN_DIR, OUT_DIR, --configfile, --model."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--configfile", nargs="+", required=True)
    parser.add_argument("--model", default="global")
    return parser


def main(argv=None) -> int:
    parser = experiment_parser(__doc__)
    parser.add_argument("--selection", nargs="+", help="selection systems (default: validation + extra_validation)")
    parser.add_argument("--subset", type=int, default=10)
    parser.add_argument("--committees", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args(argv)
    config = load_files(args.configfile).config
    grid = Grid.from_dict(config["grid"])
    test = list(config["split"]["test"])
    selection = args.selection or [*config["split"]["validation"], *config["selection"]["extra_validation"]]
    names = list(dict.fromkeys(test + selection))
    systems = [System.from_dict(config["systems"][n], name=n) for n in names]
    seeds = eligible_seeds(args.run, args.model, args.out, config["selection"]["max_validation_loss"])
    args.out.mkdir(parents=True, exist_ok=True)
    table = candidate_table(args.run, args.model, seeds, systems, grid, config["scf"]["eval_iterations"], args.out,
                            test, selection)
    table.to_csv(args.out / f"{args.model}-candidates.csv", index=False)
    # the selection study's subsets: consecutive seed numbers (0-9, 10-19, ...), each a rerun's seeds
    first, count = config["training"]["first_seed"], config["training"]["num_seeds"]
    pools = [("all", list(range(first, first + count)))] + [
        (f"{s[0]}-{s[-1]}", s) for s in seed_subsets(list(range(first, first + count)), args.subset)]
    rows = []
    for name, members in pools:
        pool = seeds[seeds.seed.isin(members)]
        rows += [{"seeds": name, "eligible": len(pool), **r}
                 for r in rule_rows(table[table.seed.isin(members)], pool, test, args.committees)]
    result = pd.DataFrame(rows)
    result.to_csv(args.out / f"{args.model}-rules.csv", index=False)
    print(f"selection systems: {', '.join(selection)}; {len(table)} candidates of {table.seed.nunique()} seeds")
    print(result.to_markdown(index=False, floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
