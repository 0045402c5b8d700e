"""Rule evaluate_seed: a seed's selected checkpoint (best.npz), KS on every system -> predictions/seed<N>.npz.

A failed seed (no best.npz) gets a predictions file marked failed (NaN energies), which selection and the
seed-spread table skip.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    from sksr.evaluation import failed_predictions, predict, save_predictions
    from sksr.functionals.neural import build_xc, load_params
    from sksr.grid import Grid
    from sksr.systems import System

    smk = snakemake  # noqa: F821
    method = f"sksr-{smk.wildcards.model}"
    grid = Grid.from_dict(job.settings["grid"])
    systems = [System.from_dict(spec, name=n) for n, spec in job.settings["systems"].items()]
    run = json.loads((Path(smk.input.run) / "run.json").read_text())
    if run["status"] == "ok":
        spec, params, metadata = load_params(Path(smk.input.run) / "best")
        predictions = predict(systems, grid, build_xc(spec, params, grid), job.settings["scf.eval_iterations"])
        job.extra["checkpoint"] = run["selected"]
    else:
        job.log.warning("seed failed in training (%s); writing a failed marker", run.get("failure_reason"))
        predictions = failed_predictions(systems, grid, job.settings["scf.eval_iterations"])
    save_predictions(smk.output.npz, predictions, method=method)
