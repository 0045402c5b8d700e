"""Rule learning_curve: the selected predictions of every (N_train, method) of the generalization
experiment + the exact references -> figures/tables/learning_curve.csv|md|tex (sksr.evaluation.learning_curve)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821 (snakemake)

from sksr.io.provenance import snakemake_job  # noqa: E402

with snakemake_job(snakemake) as job:  # noqa: F821
    from sksr.evaluation.learning_curve import learning_curve_table, write_learning_curve
    from sksr.evaluation.prediction_files import load_predictions, load_reference_arrays
    from sksr.training.training_sets import METHOD_LABELS, test_sets

    smk = snakemake  # noqa: F821
    exact = {Path(p).stem: load_reference_arrays(p)[0] for p in smk.input.references}
    predictions = {}
    for path in smk.input.predictions:  # results/generalization/n<N>/<method>.npz
        n_train = int(Path(path).parent.name.removeprefix("n"))
        values = load_predictions(path)
        predictions[(n_train, Path(path).stem)] = {
            name: value[0] for name, value in values.items() if not name.startswith("_")  # "_spacing"
        }
    table = learning_curve_table(predictions, exact, test_sets(job.settings["generalization"]))
    write_learning_curve(table, {Path(p).suffix.lstrip("."): p for p in smk.output.tables}, METHOD_LABELS)
    job.log.info("learning curve (mHa):\n%s", table.to_string(index=False))
