"""Rule train_seeds_<first>_<last> (``training.seeds_per_job`` > 1): train a group of seeds of one model
in one job, vmapped into one program -> results/training/<model>/seed<seed>/ for every seed of the group.

Same files per seed as rule train_seed (sksr.training.batched_seeds.train_seeds_batched); each seed keeps its own
L-BFGS-B, budget, checkpoints, replay log and selection. A seed that fails numerically still finishes
(status "failed" in its run.json); only a crash fails the job.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import jax

    from sksr.training.batched_seeds import train_seeds_batched
    from sksr.training.objective import load_training_data
    from sksr.training.settings import settings_from_job

    smk = snakemake  # noqa: F821
    # One compile per machine and program instead of one per job (keyed by the program, JAX and device).
    jax.config.update("jax_compilation_cache_dir", os.path.abspath(smk.params.compilation_cache))
    records = train_seeds_batched(
        smk.params.model,
        list(smk.params.seeds),
        *load_training_data(smk.input.train, smk.input.validation),
        settings_from_job(job.settings),
        out_dirs=list(smk.output.runs),
        log=job.log,
        replay_dirs=list(smk.params.replay_dirs),
    )
    job.extra["seeds"] = {
        str(r["seed"]): {
            "status": r["status"],
            "num_evaluations": r["num_evaluations"],
            "selected_checkpoint": r.get("selected"),
        }
        for r in records
    }
