#!/usr/bin/env python3
"""Is the published sKSR-global a minimum of our training loss? (issue 8; numbers in docs/results.md)

    .venv/bin/python tools/published_start_experiment.py RUN_DIR OUT_DIR --configfile A.yaml [B.yaml]
        [--model global] [--noise 0.03 0.1 0.3] [--replicas 2] [--random-seeds 0-3]

Our atom-trained seeds overbind HBeH, LiH, H4 and H3 by 6-25 mHa; the published parameters, trained on
the same five atoms, do not. This tool trains with the run's own settings (the paper protocol) from
three kinds of start, on the run's training and validation sets (RUN_DIR/results/datasets/):

- ``published``: the published parameters themselves (a warm start, ``train_seed(initial_params=...)``);
- ``published+s#r``: the published parameters with Gaussian noise, each array W -> W + s rms(W) xi,
  xi ~ N(0, 1) from ``numpy.random.default_rng(r)`` (how far the published basin reaches);
- ``seed k``: the paper protocol's random initialization (the comparison, same code and machine).

Every checkpoint of every start is then run with K = ``scf.eval_iterations`` on the test molecules
(errors against RUN_DIR's references). If training from the published point keeps its 2.7 mHa while the
training loss falls, the five atoms admit minima of equal quality that bond differently, and the paper's
number is a matter of which basin a seed reaches; if the molecules' errors grow towards our seeds'
overbinding, the published model is an unfinished point of a loss that itself favours overbinding.

Writes OUT_DIR/<start>/ (a seed's training directory; a finished one is not retrained),
OUT_DIR/checkpoints.csv (one row per start and checkpoint) and OUT_DIR/summary.csv (evaluation 0, the
checkpoint with the lowest validation loss, and the last one, per start), and prints the summary.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkpoint_validation_experiment import experiment_parser  # noqa: E402
from longer_budget_experiment import seed_range  # noqa: E402
from selection_bound import reference_energies  # noqa: E402
from sksr.core.grid import Grid  # noqa: E402
from sksr.core.systems import System  # noqa: E402
from sksr.evaluation.prediction import checkpoint_energies  # noqa: E402
from sksr.functionals.published import load_published  # noqa: E402
from sksr.io.atomic import atomic_write_text  # noqa: E402
from sksr.pipeline.config_files import load_files  # noqa: E402
from sksr.pipeline.workflow_config import TRAINING_JOB_KEYS  # noqa: E402
from sksr.training.objective import load_training_data  # noqa: E402
from sksr.training.optimizer import train_seed  # noqa: E402
from sksr.training.selection import RUN_RECORD  # noqa: E402
from sksr.training.settings import TrainingSettings  # noqa: E402

LOG = logging.getLogger("published_start")


def perturbed(params: dict, scale: float, replica: int) -> dict[str, np.ndarray]:
    """``params`` with each array W -> W + scale * rms(W) * xi, xi ~ N(0, 1) (rng seeded by ``replica``)."""
    rng = np.random.default_rng(replica)
    out = {}
    for name in sorted(params):
        value = np.asarray(params[name], dtype=np.float64)
        rms = float(np.sqrt(np.mean(value**2)))
        out[name] = value + scale * rms * rng.standard_normal(value.shape)
    return out


def starts(published: dict, noise: list[float], replicas: int, random_seeds) -> list[tuple[str, int, dict | None]]:
    """(name, seed label, initial parameters or None for the seed's random initialization)."""
    out = [("published", 0, dict(published))]
    out += [(f"published+{s:g}#{r}", r, perturbed(published, s, r)) for s in noise for r in range(replicas)]
    out += [(f"seed {k}", k, None) for k in random_seeds]
    return out


def checkpoint_rows(name: str, run: Path, test: list[System], grid: Grid, k: int, reference: np.ndarray) -> list[dict]:
    """One row per checkpoint: training and validation loss (K = 10), test MAE and signed errors (mHa)."""
    validation = pd.read_csv(run / "validation.csv").set_index("evaluation")
    evaluations, energies = checkpoint_energies(run, test, grid, k)
    rows = []
    for evaluation, row in zip(evaluations, 1000 * (energies - reference)):
        rows.append({"start": name, "evaluation": int(evaluation),
                     "train_loss": float(validation.loc[evaluation, "train_loss"]),
                     "validation_loss": float(validation.loc[evaluation, "loss"]),
                     "test_mae": float(np.mean(np.abs(row))), "test_max": float(np.max(np.abs(row))),
                     **{f"err:{s.name}": float(e) for s, e in zip(test, row)}})
    return rows


def summary_rows(table: pd.DataFrame, show: list[str]) -> pd.DataFrame:
    """Per start: evaluation 0, the lowest-validation checkpoint (the paper's per-seed rule), the last one."""
    rows = []
    for name, group in table.groupby("start", sort=False):
        picks = {"start": group.iloc[0], "selected": group.loc[group.validation_loss.idxmin()], "last": group.iloc[-1]}
        for which, r in picks.items():
            rows.append({"start": name, "checkpoint": which, "evaluation": int(r.evaluation),
                         "train_loss": r.train_loss, "validation_loss": r.validation_loss,
                         "test_mae": r.test_mae, **{m: r[f"err:{m}"] for m in show}})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = experiment_parser(__doc__)
    parser.add_argument("--noise", type=float, nargs="*", default=[0.03, 0.1, 0.3])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--random-seeds", type=seed_range, default=seed_range("0-3"))
    parser.add_argument("--show", nargs="*", default=["HBeH", "LiH", "H4", "H3", "HHeHeH2+"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    config = load_files(args.configfile).config
    grid = Grid.from_dict(config["grid"])
    test = [System.from_dict(config["systems"][n], name=n) for n in config["split"]["test"]]
    settings = TrainingSettings.from_config(
        {**config["training"], "num_iterations": config["scf"]["train_iterations"]}, ignore=TRAINING_JOB_KEYS)
    data = load_training_data(args.run / "results/datasets/train.npz", args.run / "results/datasets/validation.npz")
    _, published, _ = load_published(f"sksr_{args.model}")

    runs = {}
    for name, seed, initial in starts(published, args.noise, args.replicas, args.random_seeds):
        runs[name] = args.out / name.replace(" ", "").replace("#", "-")
        if not (runs[name] / RUN_RECORD).is_file():
            LOG.info("training from %s", name)
            train_seed(args.model, seed, *data, settings, out_dir=runs[name], log=LOG, initial_params=initial)
    # scored after all training, so that the test references may still be computing while it trains
    reference = reference_energies(args.run, [s.name for s in test])
    rows = []
    for name, run in runs.items():
        LOG.info("scoring the checkpoints of %s", name)
        rows += checkpoint_rows(name, run, test, grid, config["scf"]["eval_iterations"], reference)
    table = pd.DataFrame(rows)
    atomic_write_text(args.out / "checkpoints.csv", table.to_csv(index=False))
    summary = summary_rows(table, args.show)
    atomic_write_text(args.out / "summary.csv", summary.to_csv(index=False))
    print(summary.to_markdown(index=False, floatfmt=".3g"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
