"""Rule tables: predictions of every method + references -> figures/tables/*.csv|md|tex."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import pandas as pd

    from sksr.core.curves import curve_members
    from sksr.core.systems import System
    from sksr.evaluation import curve_errors
    from sksr.evaluation.prediction_files import load_predictions, load_reference_arrays
    from sksr.evaluation.tables import build_tables, split_of, summary_rows, write_table

    smk = snakemake  # noqa: F821
    settings = job.settings
    systems = {n: System.from_dict(spec, name=n) for n, spec in settings["systems"].items()}
    references = {Path(p).stem: load_reference_arrays(p) for p in smk.input.references}
    labels = smk.params.methods
    methods = {labels[Path(p).stem]: load_predictions(p) for p in smk.input.predictions}
    tables = build_tables(
        methods, references, systems, settings["split"], settings["atomization_fragments"],
        settings["ionization_pairs"], settings["grid"]["spacing"],
    )
    tables = {name: tables[name] for name in smk.params.tables if name in tables}  # what the config has data for
    paths = {name: {} for name in smk.params.tables}  # table -> {format: output path}, from the rule's outputs
    for output in smk.output.tables:
        paths[Path(output).stem][Path(output).suffix.lstrip(".")] = output
    for name, long in tables.items():
        write_table(long, name, paths[name])
    summary = pd.concat([summary_rows(long, name) for name, long in tables.items()], ignore_index=True)
    job.log.info("summary (Ha):\n%s", summary.to_string(index=False))
    if "curve_errors" in smk.params.tables:
        members = curve_members(settings["curves"], settings["grid"]["spacing"])
        long = curve_errors.curve_error_rows(methods, references, members, split_of(settings["split"]))
        curves = curve_errors.curve_error_summary(long)
        curve_errors.write_curve_errors(curves, paths["curve_errors"])
        job.log.info("curve errors (mHa):\n%s", curves.to_string(index=False))
