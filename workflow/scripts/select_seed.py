"""Rule select_seed: the seed with the lowest validation loss below selection.max_validation_loss
-> selection.json + the model's predictions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    import numpy as np

    from sksr.evaluation.prediction_files import failure_reason, prediction_ok
    from sksr.io.atomic import atomic_savez, atomic_write_text
    from sksr.training.selection import select_best_seed

    smk = snakemake  # noqa: F821
    # Every seed job finished, so a missing or unreadable run.json is damage: fail naming it.
    selection = select_best_seed(
        list(smk.input.runs),
        max_validation_loss=job.settings["selection.max_validation_loss"],
        require_records=True,
    )
    for excluded in selection["failed"]:
        job.log.warning("seed %s excluded: %s", excluded["seed"], excluded["reason"])
    seed = selection["selected"]["seed"]
    by_seed = {int(Path(p).stem.removeprefix("seed")): p for p in smk.input.predictions}
    if not prediction_ok(by_seed[seed]):
        raise RuntimeError(
            f"{smk.params.method}: the selected seed {seed} (lowest validation loss) has no usable "
            f"predictions: {failure_reason(by_seed[seed])}"
        )
    selection["selected"]["predictions"] = by_seed[seed]
    atomic_write_text(smk.output.selection, json.dumps(selection, indent=2) + "\n")
    with np.load(by_seed[seed]) as data:
        atomic_savez(smk.output.npz, {key: data[key] for key in data.files})
    job.extra["selected_seed"] = seed
    job.log.info("selected seed %s (validation loss %.6g)", seed, selection["selected"]["validation_loss"])
