"""Rule alternative_selection: a model's prediction under a selection rule beyond the paper's.

-> results/predictions/sksr-<model>-<rule>.npz (the chosen seed's, or the committee's, predictions) and
   results/training/<model>/selection-<rule>.json (which seeds, and why). See sksr.evaluation.seed_selection.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import json

    import pandas as pd

    from sksr.evaluation.prediction_files import (
        final_values,
        is_usable,
        load_reference_arrays,
        read_predictions,
        save_predictions,
    )
    from sksr.evaluation.seed_selection import apply_rule, selection_mae
    from sksr.io.atomic import atomic_write_text

    smk = snakemake  # noqa: F821
    model, rule = smk.wildcards.model, smk.wildcards.rule
    selection = job.settings["selection"]
    scored = list(job.settings["split.validation"]) + list(selection["extra_validation"])
    seeds = pd.read_csv(smk.input.seeds)
    seeds = seeds[seeds["model"] == model]
    references = {Path(p).stem: load_reference_arrays(p) for p in smk.input.references}
    arrays = {int(Path(p).stem.removeprefix("seed")): read_predictions(p) for p in smk.input.predictions}
    arrays = {seed: values for seed, values in arrays.items() if is_usable(values)}
    chosen, predictions = apply_rule(rule, seeds, arrays, references, scored)
    record = {
        "model": model,
        "rule": rule,
        "seeds": chosen,
        "scored_systems": scored if rule == "ions" else [],
        "selection_mae": {s: selection_mae(final_values(arrays[s]), references, scored) for s in chosen},
        "max_validation_loss": selection["max_validation_loss"],
    }
    save_predictions(smk.output.npz, predictions, method=f"sksr-{model}-{rule}")
    atomic_write_text(smk.output.selection, json.dumps(record, indent=2) + "\n")
    job.extra.update(rule=rule, seeds=chosen)
    job.log.info("%s %s: seeds %s", model, rule, chosen)
