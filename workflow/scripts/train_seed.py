"""Rule train_seed: train one (model, seed) with the KS regularizer -> results/training/<model>/seed<seed>/.

A seed that fails numerically (non-finite loss) still finishes: its run.json says status "failed" and
selection skips it. Only a crash (bad data, a bug) fails the job.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import jax

    from sksr.datasets import load_dataset
    from sksr.scf import prepare_batch
    from sksr.training import TrainingSettings, train_seed

    smk = snakemake  # noqa: F821
    # One compile per machine and program instead of one per seed job (keyed by program, JAX and device).
    jax.config.update("jax_compilation_cache_dir", os.path.abspath(smk.params.compilation_cache))
    training = {k.removeprefix("training."): v for k, v in job.settings.items() if k.startswith("training.")}
    settings = TrainingSettings.from_config({**training, "num_iterations": job.settings["scf.train_iterations"]})
    train, validation = load_dataset(smk.input.train), load_dataset(smk.input.validation)
    record = train_seed(
        smk.wildcards.model,
        int(smk.wildcards.seed),
        prepare_batch(list(train.systems), train.grid),
        train.references(),
        prepare_batch(list(validation.systems), validation.grid),
        validation.references(),
        settings,
        out_dir=smk.output.run,
        log=job.log,
        replay_dir=smk.params.replay_dir,
    )
    job.extra.update(status=record["status"], num_evaluations=record["num_evaluations"])
    job.extra["selected_checkpoint"] = record.get("selected")
