"""Rule reference: DMRG ground state of one system -> results/references/<system>.npz + .json.

The DMRG checkpoint (results/.checkpoints/references/<system>-<fingerprint>.npz) is not a rule output, so a
killed or failed job keeps it and the rerun resumes; the fingerprint (system, grid, settings) in the name
keeps a checkpoint of other settings from being resumed. It is removed once the reference is saved.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.dmrg import problem_fingerprint
    from sksr.grid import Grid
    from sksr.references import DMRGSettings, compute_reference, save_reference
    from sksr.systems import System

    smk = snakemake  # noqa: F821
    name = smk.wildcards.system
    grid = Grid.from_dict(job.settings["grid"])
    system = System.from_dict(job.settings[f"systems.{name}"], name=name)
    # All DMRG settings, including the run bounds that are not part of the job's params (common.smk).
    settings = DMRGSettings.from_dict(smk.config["references"]["dmrg"])
    folder = Path(smk.params.checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / f"{name}-{problem_fingerprint(system, grid, settings)}.npz"
    if checkpoint.exists():
        job.log.info("resuming from checkpoint %s", checkpoint)
    result = compute_reference(system, grid, settings, checkpoint_path=checkpoint, log=job.log)
    save_reference(result, smk.output.npz, smk.output.json)
    for stale in folder.glob(f"{name}-*.npz"):
        stale.unlink()
    job.extra.update(total_energy=float(result.total_energy), sweeps=result.sweeps)
