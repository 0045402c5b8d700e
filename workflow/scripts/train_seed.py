"""Rules train_seed and generalization_train_seed: train one seed of model kind params.model with the KS
regularizer -> the run directory (results/training/<model>/seed<seed>/, ...).

A seed that fails numerically (non-finite loss) still finishes: its run.json says status "failed" and
selection skips it. Only a crash (bad data, a bug) fails the job.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import jax

    from sksr.training.objective import load_training_data
    from sksr.training.optimizer import train_seed
    from sksr.training.settings import settings_from_job

    smk = snakemake  # noqa: F821
    # One compile per machine and program instead of one per seed job (keyed by program, JAX and device).
    jax.config.update("jax_compilation_cache_dir", os.path.abspath(smk.params.compilation_cache))
    record = train_seed(
        smk.params.model,
        int(smk.wildcards.seed),
        *load_training_data(smk.input.train, smk.input.validation),
        settings_from_job(job.settings),
        out_dir=smk.output.run,
        log=job.log,
        replay_dir=smk.params.replay_dir,
    )
    job.extra.update(status=record["status"], num_evaluations=record["num_evaluations"])
    job.extra["selected_checkpoint"] = record.get("selected")
