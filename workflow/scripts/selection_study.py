"""Rule selection_study: every selection rule (the paper's and the alternatives) on all seeds and on
disjoint seed subsets -> figures/tables/selection_study.csv|md (MAEs in mHa in the Markdown view)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    import pandas as pd

    from sksr.core.systems import System
    from sksr.evaluation.prediction_files import (
        final_values,
        is_usable,
        load_reference_arrays,
        read_predictions,
    )
    from sksr.evaluation.seed_selection import robustness_rows
    from sksr.evaluation.tables import method_error_summary, to_markdown
    from sksr.io.atomic import atomic_write_text

    smk = snakemake  # noqa: F821
    settings = job.settings
    selection = settings["selection"]
    systems = {n: System.from_dict(spec, name=n) for n, spec in settings["systems"].items()}
    references = {Path(p).stem: load_reference_arrays(p) for p in smk.input.references}
    scored = list(settings["split"]["validation"]) + list(selection["extra_validation"])
    seeds_table = pd.read_csv(smk.input.seeds)

    def summarize(arrays):
        return method_error_summary(final_values(arrays), references, systems, settings)

    rows = []
    for model, seeds in seeds_table.groupby("model", sort=False):
        arrays = {}
        for path in smk.input.predictions:
            if Path(path).parents[1].name == model:
                values = read_predictions(path)
                if is_usable(values):
                    arrays[int(Path(path).stem.removeprefix("seed"))] = values
        rows += robustness_rows(
            model, selection["alternatives"], seeds, arrays, references, scored,
            selection["robustness_subset"], summarize,
        )
    study = pd.DataFrame(rows)
    atomic_write_text(smk.output.csv, study.to_csv(index=False, float_format="%.10g"))
    view = study.copy()
    for column in ("test_mae", "all_mae", "ip_mae", "ae_mae"):
        if column in view:
            view[column] = view[column] * 1000.0
    view = view.drop(columns=[c for c in ("test_density_loss",) if c in view])
    if "eligible_seeds" in view:
        view["eligible_seeds"] = view["eligible_seeds"].map(lambda n: "" if n != n else str(int(n)))
    title = "Selection rules on all seeds and on disjoint seed subsets (MAEs in mHa)"
    atomic_write_text(smk.output.md, to_markdown(view, title))
    job.log.info("selection study:\n%s", view.to_string(index=False))
