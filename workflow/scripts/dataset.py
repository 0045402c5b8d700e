"""Rule dataset: references of one split -> results/datasets/<split>.npz (training/validation data)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.datasets import build_dataset, save_dataset
    from sksr.grid import Grid
    from sksr.systems import System

    split = snakemake.wildcards.split  # noqa: F821
    names = job.settings[f"split.{split}"]
    systems = [System.from_dict(job.settings[f"systems.{n}"], name=n) for n in names]
    grid = Grid.from_dict(job.settings["grid"])
    dataset = build_dataset(systems, grid, list(snakemake.input.references))  # noqa: F821
    save_dataset(dataset, snakemake.output.npz)  # noqa: F821
    job.log.info("dataset %s: %s", split, names)
