"""Rule baseline: Kohn-Sham with a fixed functional on every system -> results/predictions/<baseline>.npz.

Baselines: ``lsda`` (the exponential-interaction LSDA) and ``published-lsda|gga|global`` (the authors'
published sKSR parameters, sksr.functionals.published, run through this engine).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.evaluation.prediction import predict
    from sksr.evaluation.prediction_files import save_predictions
    from sksr.functionals.lsda import lsda
    from sksr.functionals.neural import build_xc
    from sksr.functionals.published import load_published, published_name

    smk = snakemake  # noqa: F821
    baseline = smk.wildcards.baseline
    grid = Grid.from_dict(job.settings["grid"])
    systems = [System.from_dict(spec, name=n) for n, spec in job.settings["systems"].items()]
    if baseline == "lsda":
        xc = lsda()
    else:
        spec, params, metadata = load_published(published_name(baseline))
        xc = build_xc(spec, params, grid)
        job.extra["published_model"] = metadata
    predictions = predict(
        systems, grid, xc, job.settings["scf.eval_iterations"], job.settings["scf.reflection_symmetry"]
    )
    save_predictions(smk.output.npz, predictions, method=baseline)
    for name, energy in zip(predictions["names"], predictions["energies"][:, -1]):
        job.log.info("%s: E = %.10f Ha", name, energy)
