"""Rule baseline: Kohn-Sham with a fixed functional (LSDA) on every system -> results/predictions/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.evaluation import predict, save_predictions
    from sksr.functionals.lsda import lsda
    from sksr.grid import Grid
    from sksr.systems import System

    functionals = {"lsda": lsda}
    baseline = snakemake.wildcards.baseline  # noqa: F821
    grid = Grid.from_dict(job.settings["grid"])
    systems = [System.from_dict(spec, name=n) for n, spec in job.settings["systems"].items()]
    xc = functionals[baseline]()
    predictions = predict(systems, grid, xc, job.settings["scf.eval_iterations"])
    save_predictions(snakemake.output.npz, predictions, method=baseline)  # noqa: F821
    for name, energy in zip(predictions["names"], predictions["energies"][:, -1]):
        job.log.info("%s: E = %.10f Ha", name, energy)
