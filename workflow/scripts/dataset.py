"""Rules dataset and generalization_dataset: the references of a list of systems (params.systems: a split,
or a training set of the generalization experiment) -> one .npz of training/validation data."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.training.datasets import build_dataset, save_dataset

    names = list(snakemake.params.systems)  # noqa: F821
    systems = [System.from_dict(job.settings[f"systems.{n}"], name=n) for n in names]
    grid = Grid.from_dict(job.settings["grid"])
    dataset = build_dataset(systems, grid, list(snakemake.input.references))  # noqa: F821
    save_dataset(dataset, snakemake.output.npz)  # noqa: F821
    job.log.info("dataset %s: %s", snakemake.output.npz, names)  # noqa: F821
