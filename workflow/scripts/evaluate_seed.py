"""Rule evaluate_seed: a seed's selected checkpoint (best.npz), KS on every system -> predictions/seed<N>.npz.

A seed that failed in training (no best.npz), or whose KS run diverges on some system, gets a predictions
file marked failed (NaN energies, with the reason), which the seed-spread table skips; selection fails
only if the selected seed is such a seed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.evaluation.prediction import predict
    from sksr.evaluation.prediction_files import diverged_systems, failed_predictions, save_predictions
    from sksr.functionals.neural import build_xc, load_params

    smk = snakemake  # noqa: F821
    method = smk.params.method
    grid = Grid.from_dict(job.settings["grid"])
    systems = [System.from_dict(spec, name=n) for n, spec in job.settings["systems"].items()]
    run = json.loads((Path(smk.input.run) / "run.json").read_text())
    if run["status"] == "ok":
        spec, params, metadata = load_params(Path(smk.input.run) / "best")
        iterations = job.settings["scf.eval_iterations"]
        symmetric = job.settings["scf.reflection_symmetry"]
        predictions = predict(systems, grid, build_xc(spec, params, grid), iterations, symmetric)
        job.extra["checkpoint"] = run["selected"]
        diverged = diverged_systems(predictions)
        if diverged:
            reason = f"KS diverged (non-finite energy) for {diverged}"
            job.log.warning("%s; writing a failed marker", reason)
            predictions = failed_predictions(systems, grid, iterations, reason)
    else:
        reason = f"failed in training: {run.get('failure_reason')}"
        job.log.warning("seed %s; writing a failed marker", reason)
        predictions = failed_predictions(systems, grid, job.settings["scf.eval_iterations"], reason)
    save_predictions(smk.output.npz, predictions, method=method)
