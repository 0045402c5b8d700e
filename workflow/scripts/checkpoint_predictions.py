"""Rule checkpoint_predictions: every checkpoint of a model's selected seed, KS on the curve geometries
-> results/training/<model>/checkpoint_predictions.npz (the grey curves of the dissociation figure).

File: ``seed`` (), ``evaluations`` (C,), ``names`` (B,), ``energies`` (C, B) final KS energies in Ha
(electronic, no E_NN).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    import numpy as np

    from sksr.core.curves import curve_members
    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.evaluation.prediction import checkpoint_energies
    from sksr.io.atomic import atomic_savez

    smk = snakemake  # noqa: F821
    grid = Grid.from_dict(job.settings["grid"])
    members = curve_members(job.settings["curves"], grid.spacing)
    names = [name for geometries in members.values() for _, name in geometries]
    systems = [System.from_dict(job.settings["systems"][name], name=name) for name in names]
    seed = json.loads(Path(smk.input.selection).read_text())["selected"]["seed"]
    run_dir = next(p for p in smk.input.runs if Path(p).name == f"seed{seed}")
    evaluations, energies = checkpoint_energies(
        run_dir, systems, grid, job.settings["scf.eval_iterations"], job.settings["scf.reflection_symmetry"]
    )
    atomic_savez(
        smk.output.npz,
        {"seed": np.int64(seed), "evaluations": evaluations, "names": np.array(names), "energies": energies},
    )
    job.extra.update(seed=seed, checkpoints=evaluations.tolist())
    job.log.info("seed %s: %d checkpoints x %d geometries", seed, len(evaluations), len(names))
