#!/usr/bin/env python3
"""Write the results page (Markdown) of a finished workflow run, side by side with the paper.

    .venv/bin/python tools/results_page.py RUN_DIR [--pauses FILE] > docs/results.md

RUN_DIR is a checkout in which the paper config ran (it holds results/, figures/). Every number comes
from the run's tables (figures/tables/*.csv) and provenance records; the paper's numbers are those of
docs/physics.md section 10 (the paper quotes MAEs for sKSR-global only). For a run made in parts,
``--pauses FILE`` lists the intervals during which its jobs were suspended (``read_pauses``); they are
left out of the busy wall times.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sksr.evaluation.tables import error_summary  # noqa: E402

PAPER = {"sKSR-global": {"test_mae": 2.7, "all_mae": 1.7, "ip_mae": 1.0, "ae_mae": 3.5}}
STAGES = {
    "reference": "references", "reference_summary": "references", "dataset": "datasets",
    "baseline": "datasets", "direct_ml": "datasets", "train_seed": "training", "evaluate_seed": "training",
    "select_seed": "training", "checkpoint_predictions": "training",
    "seed_errors": "evaluation", "tables": "evaluation", "alternative_selection": "evaluation",
    "selection_study": "evaluation", "figure": "figures",
    "generalization_dataset": "generalization", "generalization_train_seed": "generalization",
    "generalization_evaluate_seed": "generalization", "generalization_select_seed": "generalization",
    "generalization_direct_ml": "generalization", "learning_curve": "generalization",
}
MODELS = [("LSDA", None), ("sKSR-LSDA", "lsda"), ("sKSR-GGA", "gga"), ("sKSR-global", "global")]


def method_summary(tables: dict, method: str) -> dict:
    """MAEs in mHa and the mean test density loss of one method label (``sksr.evaluation.tables.error_summary``)."""
    summary = error_summary({name: table[table["method"] == method] for name, table in tables.items()})
    return {**{k: 1000 * summary[k] for k in ("test_mae", "all_mae", "ip_mae", "ae_mae")},
            "density": summary["test_density_loss"]}


def _cell(value, digits=2) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def comparison_table(tables: dict, methods: list[str]) -> list[str]:
    lines = ["| model | variant | test-molecule MAE | all-20 MAE | IP MAE | AE MAE | test density loss |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for label, model in MODELS:
        variants = [(label, "ours" if model else "baseline")]
        if model:
            variants += [(m, m.removeprefix(label).strip(" ()") or "ours") for m in methods
                         if m.startswith(label + " (")]
            variants.append((f"published {label}", "published model, our engine"))
        for method, variant in variants:
            if method not in methods:
                continue
            s = method_summary(tables, method)
            lines.append(f"| {label} | {variant} | {_cell(s['test_mae'])} | {_cell(s['all_mae'])} | "
                         f"{_cell(s['ip_mae'])} | {_cell(s['ae_mae'])} | {s['density']:.2e} |")
        if label in PAPER:
            p = PAPER[label]
            lines.append(f"| {label} | paper | {p['test_mae']} | {p['all_mae']} | {p['ip_mae']} | {p['ae_mae']} | - |")
    return lines


def seed_distribution(seeds: pd.DataFrame) -> list[str]:
    lines = ["| model | seeds ok / run | eligible | test MAE min / median / max (mHa) | seeds <= 2.7 mHa | "
             "selected seed (checkpoint, validation loss, test MAE) |", "|---|---|---|---|---|---|"]
    for model, part in seeds.groupby("model", sort=False):
        mae = part["test_mae"].dropna() * 1000
        chosen = part[part["selected"].astype(bool)]
        pick = chosen.iloc[0] if len(chosen) else None
        picked = (f"{int(pick['seed'])} ({int(pick['selected_evaluation'])}, {pick['validation_loss']:.2e}, "
                  f"{pick['test_mae'] * 1000:.2f})") if pick is not None else "-"
        lines.append(f"| {model} | {int((part['status'] == 'ok').sum())} / {len(part)} | {int(part['eligible'].sum())} | "
                     f"{mae.min():.2f} / {mae.median():.2f} / {mae.max():.2f} | {int((mae <= 2.7).sum())} | {picked} |")
    return lines


def study_table(study: pd.DataFrame) -> list[str]:
    lines = ["| model | seeds | rule | chosen | test MAE | all-20 MAE | IP MAE | AE MAE |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for row in study.itertuples():
        values = [getattr(row, c, np.nan) * 1000 for c in ("test_mae", "all_mae", "ip_mae", "ae_mae")]
        chosen = row.seeds if isinstance(row.seeds, str) else "-"
        lines.append(f"| {row.model} | {row.subset} | {row.rule} | {chosen} | " + " | ".join(_cell(v) for v in values) + " |")
    return lines


def job_intervals(run: Path) -> dict[str, list[tuple[datetime, datetime, float]]]:
    """(start, finish, wall seconds) of every finished job with a provenance record, by pipeline stage."""
    spans: dict[str, list] = {}
    for record_path in list((run / "results" / "provenance").rglob("*.json")) + list((run / "figures" / "provenance").rglob("*.json")):
        record = json.loads(record_path.read_text())
        rule = str(record.get("rule"))
        stage = "training" if rule.startswith("train_seeds_") else STAGES.get(rule)
        timing = record.get("timing") or {}
        if not stage or "started" not in timing:
            continue
        start, end = (datetime.fromisoformat(timing[k]) for k in ("started", "finished"))
        spans.setdefault(stage, []).append((start, end, float(timing.get("wall_seconds", 0.0))))
    return spans


def read_pauses(path: Path) -> list[tuple[datetime, datetime]]:
    """Intervals (UTC) during which the run was suspended, one per line:
    ``YYYY-MM-DD HH:MM[:SS] - [YYYY-MM-DD ]HH:MM[:SS]`` (the end's date defaults to the start's).

    Blank lines and lines starting with ``#`` are skipped; text after the interval is a comment. A line
    that does not parse, or a pause that does not end after it starts, raises ValueError naming
    ``path:line``.
    """
    time = r"\d\d:\d\d(?::\d\d)?"
    pattern = re.compile(rf"^(\d{{4}}-\d\d-\d\d) ({time}) - (?:(\d{{4}}-\d\d-\d\d) )?({time})(\s|$)")
    pauses = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = pattern.match(text)
        if match is None:
            raise ValueError(f"{path}:{number}: expected 'YYYY-MM-DD HH:MM[:SS] - [YYYY-MM-DD ]HH:MM[:SS]', got {line!r}")
        first_day, first, last_day, last = match.group(1), match.group(2), match.group(3) or match.group(1), match.group(4)
        try:
            start = datetime.fromisoformat(f"{first_day}T{first}+00:00")
            end = datetime.fromisoformat(f"{last_day}T{last}+00:00")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}: {line!r}") from None
        if end <= start:
            raise ValueError(f"{path}:{number}: the pause does not end after it starts: {line!r}")
        pauses.append((start, end))
    return pauses


def merged_intervals(intervals) -> list[tuple[datetime, datetime]]:
    """The union of ``(start, end, ...)`` intervals as sorted, disjoint ``(start, end)`` pairs."""
    merged: list[list[datetime]] = []
    for start, end, *_ in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def busy_seconds(intervals, pauses=()) -> float:
    """Seconds during which at least one of the ``(start, end, ...)`` intervals ran, less the pauses.

    The union of the job intervals: for a run made in parts it leaves out the gaps between the parts
    (and any ``pauses``, when jobs were suspended; overlapping pauses count once). Work lost to
    interrupted jobs, which leave no record, is not counted.
    """
    busy, paused = merged_intervals(intervals), merged_intervals(pauses)
    total = sum((end - start).total_seconds() for start, end in busy)
    for start, end in busy:  # both lists are disjoint, so every overlap is subtracted once
        for p_start, p_end in paused:
            total -= max((min(end, p_end) - max(start, p_start)).total_seconds(), 0.0)
    return total


def stage_times(run: Path, pauses=()) -> list[str]:
    """Markdown rows: per stage, the jobs, the first start and last finish, busy time and summed job walls."""
    spans = job_intervals(run)
    lines = ["| stage | jobs | first start -> last finish (UTC) | busy wall time | sum of job walls |",
             "|---|---:|---|---:|---:|"]
    order = ("references", "datasets", "training", "generalization", "evaluation", "figures")
    for stage in [s for s in order if s in spans] + (["whole run"] if spans else []):
        jobs = [j for s in order for j in spans.get(s, [])] if stage == "whole run" else spans[stage]
        first, last = min(j[0] for j in jobs), max(j[1] for j in jobs)
        label = f"**{stage}**" if stage == "whole run" else stage
        lines.append(f"| {label} | {len(jobs)} | {first:%Y-%m-%d %H:%M} -> {last:%Y-%m-%d %H:%M} | "
                     f"{busy_seconds(jobs, pauses) / 60:.1f} min | {sum(j[2] for j in jobs) / 60:.1f} min |")
    return lines


def command_line(description: str) -> argparse.ArgumentParser:
    """The options both results pages take: the run's folder and the pauses file."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run", type=Path, help="checkout in which the workflow ran (holds results/, figures/)")
    parser.add_argument("--pauses", type=Path, help="intervals (UTC) during which the run's jobs were suspended")
    return parser


def main(argv=None) -> int:
    args = command_line("Results page of a run of config/config.yaml.").parse_args(argv)
    run = args.run
    pauses = read_pauses(args.pauses) if args.pauses else ()
    tables = {name: pd.read_csv(run / "figures" / "tables" / f"{name}.csv")
              for name in ("total_energies", "ionization_potentials", "atomization_energies")}
    methods = list(dict.fromkeys(tables["total_energies"]["method"]))
    seeds = pd.read_csv(run / "figures" / "tables" / "seeds.csv")
    study_path = run / "figures" / "tables" / "selection_study.csv"
    out = ["# Results of the paper config", "",
           "Generated by `tools/results_page.py` from a run of `config/config.yaml` (every number below is read",
           "from that run's tables and provenance records). MAEs in mHa; the paper's numbers are docs/physics.md",
           "section 10 (quoted for sKSR-global only). Test molecules: the ten of the test split; all-20: every",
           "system; IP: the ten ions; AE: the ten molecules. Density loss: mean over the test molecules of",
           "h sum (n - n_DMRG)^2 (1/bohr).", "", "## Wall time per stage", "",
           "Busy wall time: the time during which at least one job of the stage ran (gaps between the parts of",
           "a run made in parts, and listed pauses, left out; work lost to interrupted jobs is not counted).", "",
           *stage_times(run, pauses), "",
           "## Our models, the published models through our engine, and the paper", "",
           *comparison_table(tables, methods), "", "## Every seed", "",
           "Full table: `figures/tables/seeds.csv|md`; figure: `figures/seed_spread.png`.", "",
           *seed_distribution(seeds), ""]
    if study_path.exists():
        out += ["## Selection rules on all seeds and on disjoint seed subsets", "",
                "`paper`: lowest validation loss (Be+) below 0.1; `ensemble-N`: mean prediction of the N best-validated",
                "seeds; `ions`: the seed with the lowest K = 30 error on Be+ and the ions outside training. Subsets",
                "stand in for reruns with other seeds.", "", *study_table(pd.read_csv(study_path)), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
