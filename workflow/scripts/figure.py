"""Rule figure: one figure from computed results (never recomputes) -> figures/<name>.pdf|png."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.evaluation.figures.make import make_figure

    smk = snakemake  # noqa: F821
    make_figure(
        smk.wildcards.figure,
        inputs={k: v for k, v in smk.input.items() if k != "code"},
        outputs=list(smk.output.figures),
        settings=job.settings,
        methods=smk.params.methods,
    )
