"""Rule reference_summary: every reference's JSON -> results/references/summary.csv."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.references.self_checked import write_summary

    write_summary(list(snakemake.input.json), snakemake.output.csv)  # noqa: F821
