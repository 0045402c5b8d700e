"""Rule reference: self-checked ground state of one system -> results/references/<system>.npz + .json.

DMRG checkpoints (results/.checkpoints/references/<system>-<fingerprint>.npz, one per start state) are not
rule outputs, so a killed or failed job keeps them and the rerun resumes; the fingerprint (system, grid,
settings, start) in the name keeps a checkpoint of other settings from being resumed. They are removed once
the reference is saved. A reference that fails its self-check fails the job (sksr.references.self_checked).
"""

import os
import sys
from pathlib import Path

# BLAS threads = the job's threads (Snakemake sets these only for shell jobs); must precede NumPy's import.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(snakemake.threads)  # noqa: F821 (snakemake)

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.references.dmrg.settings import DMRGSettings
    from sksr.references.self_checked import SelfCheckSettings, compute_reference, save_reference

    smk = snakemake  # noqa: F821
    name = smk.wildcards.system
    grid = Grid.from_dict(job.settings["grid"])
    system = System.from_dict(job.settings[f"systems.{name}"], name=name)
    # All DMRG settings, including the run bounds that are not part of the job's params (common.smk).
    settings = DMRGSettings.from_dict(smk.config["references"]["dmrg"])
    check = SelfCheckSettings.from_dict(job.settings["references.self_check"])
    folder = Path(smk.params.checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    own_checkpoints = f"{name}-" + "[0-9a-f]" * 16 + ".npz"  # never another system's (names may contain "-")
    if any(folder.glob(own_checkpoints)):
        job.log.info("checkpoints of earlier attempts in %s are resumed where they match", folder)
    result = compute_reference(system, grid, settings, check, checkpoint_dir=folder, log=job.log)
    save_reference(result, smk.output.npz, smk.output.json)
    for stale in folder.glob(own_checkpoints):
        stale.unlink()
    job.extra.update(total_energy=float(result.total_energy), method=result.method, sweeps=result.sweeps,
                     start_spread=result.self_check["start_spread"], chi_shift=result.self_check["chi_shift"])
