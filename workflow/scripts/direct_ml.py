"""Rule direct_ml: the direct-ML baseline (energy from v_ext, no Kohn-Sham; sksr.training.direct_ml), every seed
trained on the training split, the lowest validation loss selected -> results/predictions/direct-ml.npz
and results/training/direct-ml/selection.json (every seed's losses)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    import numpy as np

    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.evaluation.prediction_files import save_predictions
    from sksr.io.atomic import atomic_write_text
    from sksr.training.datasets import load_dataset
    from sksr.training.direct_ml import direct_predictions, fit_direct_ml, potentials

    smk = snakemake  # noqa: F821
    settings = job.settings
    grid = Grid.from_dict(settings["grid"])

    def arrays(path):
        data = load_dataset(path)
        return potentials(data.systems, grid), data.energies, data.n_electrons

    train, validation = arrays(smk.input.train), arrays(smk.input.validation)
    optimizer = {key: settings[f"training.{key}"] for key in
                 ("max_evaluations", "lbfgs_history", "lbfgs_factr", "lbfgs_pgtol")}
    first = settings["training.first_seed"]
    fits = []
    for seed in range(first, first + settings["training.num_seeds"]):
        fit = fit_direct_ml(train, validation, grid.spacing, seed, optimizer, log=job.log)
        job.log.info("seed %d: %d evaluations, training loss %.3e, validation loss %.3e (%s)", seed,
                     fit["evaluations"], fit["train_loss"], fit["validation_loss"], fit["message"])
        fits.append(fit)
    finite = [f for f in fits if np.isfinite(f["validation_loss"])]
    if not finite:
        raise RuntimeError("direct ML: no seed has a finite validation loss")
    best = min(finite, key=lambda f: f["validation_loss"])
    systems = [System.from_dict(spec, name=n) for n, spec in settings["systems"].items()]
    save_predictions(smk.output.npz, direct_predictions(best["params"], systems, grid), method="direct-ml")
    record = {
        "input": "external potential v_ext (sksr.training.direct_ml)",
        "selected": {k: best[k] for k in ("seed", "train_loss", "validation_loss", "evaluations")},
        "seeds": [{k: f[k] for k in ("seed", "train_loss", "validation_loss", "evaluations", "message")} for f in fits],
    }
    atomic_write_text(smk.output.selection, json.dumps(record, indent=2) + "\n")
    job.extra["selected_seed"] = best["seed"]
    job.log.info("selected seed %d (validation loss %.3e)", best["seed"], best["validation_loss"])
