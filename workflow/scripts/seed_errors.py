"""Rule seed_errors: every seed of every model accounted for.

-> results/evaluation/seed_errors.csv (per-system total-energy errors of every usable seed), and
   figures/tables/seeds.csv|md (one row per seed: status, evaluations, selected checkpoint, validation
   loss, eligibility for selection, test / all / IP / AE MAEs).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    import pandas as pd

    from sksr.core.systems import System
    from sksr.evaluation.prediction_files import (
        final_values,
        is_usable,
        load_reference_arrays,
        read_predictions,
    )
    from sksr.evaluation.tables import (
        SEED_TABLE_COLUMNS,
        method_error_summary,
        seed_error_rows,
        seed_row,
        seed_table_markdown,
        split_of,
    )
    from sksr.io.atomic import atomic_write_text
    from sksr.training.selection import exclusion_reason, load_run_record

    smk = snakemake  # noqa: F821
    settings = job.settings
    systems = {n: System.from_dict(spec, name=n) for n, spec in settings["systems"].items()}
    references = {Path(p).stem: load_reference_arrays(p) for p in smk.input.references}
    splits = split_of(settings["split"])
    max_loss = settings["selection.max_validation_loss"]
    chosen = {Path(p).parent.name: json.loads(Path(p).read_text())["selected"]["seed"] for p in smk.input.selections}
    predictions = {(Path(p).parents[1].name, int(Path(p).stem.removeprefix("seed"))): p for p in smk.input.predictions}
    frames, rows = [], []
    for run_dir in smk.input.runs:
        model, seed = Path(run_dir).parent.name, int(Path(run_dir).name.removeprefix("seed"))
        record = load_run_record(run_dir)
        arrays = read_predictions(predictions[(model, seed)])
        summary, note = None, ""
        if is_usable(arrays):
            values = final_values(arrays)
            frames.append(seed_error_rows(model, seed, values, references, splits, seed == chosen[model]))
            summary = method_error_summary(values, references, systems, settings)
        elif record.get("status") == "ok":
            note = str(arrays.get("failure_reason", ""))
        rows.append(seed_row(model, record, summary, chosen[model], exclusion_reason(record, max_loss), note))
    errors = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    atomic_write_text(smk.output.csv, errors.to_csv(index=False, float_format="%.10g"))
    table = pd.DataFrame(rows, columns=SEED_TABLE_COLUMNS)
    # Full precision: selection rules rank seeds by these validation losses.
    atomic_write_text(smk.output.seeds_csv, table.to_csv(index=False, float_format="%.17g"))
    atomic_write_text(smk.output.seeds_md, seed_table_markdown(table))
    for model, part in table.groupby("model", sort=False):
        job.log.info(
            "%s: %d seeds, %d ok, %d eligible; test MAE min/median/max %.2f/%.2f/%.2f mHa",
            model, len(part), int((part["status"] == "ok").sum()), int(part["eligible"].sum()),
            1000 * part["test_mae"].min(), 1000 * part["test_mae"].median(), 1000 * part["test_mae"].max(),
        )
