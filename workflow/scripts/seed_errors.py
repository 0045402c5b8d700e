"""Rule seed_errors: every seed's test errors -> results/evaluation/seed_errors.csv (seed-spread figure)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    import pandas as pd

    from sksr.evaluation import load_predictions, prediction_ok, load_reference_arrays, seed_error_rows, split_of
    from sksr.atomic_io import atomic_write_text

    smk = snakemake  # noqa: F821
    references = {Path(p).stem: load_reference_arrays(p) for p in smk.input.references}
    splits = split_of(job.settings["split"])
    frames = []
    for model in smk.params.models:
        with open(f"results/training/{model}/selection.json") as handle:
            chosen = json.load(handle)["selected"]["seed"]
        for seed in smk.params.seeds:
            path = f"results/training/{model}/predictions/seed{seed}.npz"
            if not prediction_ok(path):
                continue
            predictions = load_predictions(path)
            frames.append(seed_error_rows(model, seed, predictions, references, splits, seed == chosen))
    table = pd.concat(frames, ignore_index=True)
    atomic_write_text(smk.output.csv, table.to_csv(index=False, float_format="%.10g"))
