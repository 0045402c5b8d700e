"""Helpers shared by all rule files (config validation, target lists, code-version inputs).

Nothing here computes science; it only decides which files exist and which code they depend on.
"""

import os
import re
import sys

from snakemake.utils import validate

sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from sksr.core.curves import curve_members  # noqa: E402
from sksr.functionals.published import published_files, published_name  # noqa: E402
from sksr.io import interrupts  # noqa: E402
from sksr.io.provenance import config_slice  # noqa: E402
from sksr.pipeline import config_files  # noqa: E402
from sksr.pipeline.code_dependencies import script_dependencies  # noqa: E402
from sksr.training.training_sets import (  # noqa: E402
    is_configured,
    training_overrides,
    training_sets,
)
from sksr.pipeline.workflow_config import (  # noqa: E402
    DMRG_JOB_KEYS,
    TRAINING_JOB_KEYS,
    ConfigError,
    check_config,
    expand_curves,
    format_problems,
    method_labels,
    result_setting_keys,
)

# Jobs stop when this Snakemake process is gone (killed, interrupted): see sksr/io/interrupts.py.
interrupts.register_runner()

# ---- configuration: schema (types, ranges, defaults) then semantics, all before any job starts ------
# Every problem is one line prefixed by the file:line that set its key; the semantic check builds the
# jobs' own settings objects (DMRGSettings, TrainingSettings), so nothing a job would refuse gets past it.
CONFIG_FILES = [str(p) for p in workflow.overwrite_configfiles] or [
    config_files.DEFAULT_CONFIGFILE
]
_SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
_locate = config_files.load_files(CONFIG_FILES).locate
config_files.check_config_dict(config, config_files.load_schema(_SCHEMA), _locate)
validate(config, "../schemas/config.schema.yaml", set_default=True)
_curve_problems = expand_curves(
    config
)  # curves -> one system per geometry (H2-R1.28, ...)
if _curve_problems:
    raise ConfigError(format_problems(_curve_problems, _locate))
SYSTEMS = check_config(config, locate=_locate)
config["__sksr__"] = {"configfiles": CONFIG_FILES}

SPLITS = ["train", "validation", "test"]
SYSTEM_NAMES = list(config["systems"])
MODELS = list(config["training"]["models"])
SEEDS = list(
    range(
        config["training"]["first_seed"],
        config["training"]["first_seed"] + config["training"]["num_seeds"],
    )
)
# Fixed functionals run by rule baseline; "direct-ml" (trained, no Kohn-Sham) has its own rule.
BASELINES = [b for b in config["evaluation"]["baselines"] if b != "direct-ml"]
DIRECT_ML = "direct-ml" in config["evaluation"]["baselines"]
RULES = list(config["selection"]["alternatives"])  # selection rules beyond the paper
METHODS = method_labels(
    config
)  # method id -> label, e.g. "sksr-global" -> "sKSR-global"
# Tables and figures that the config has data for (no ionization table without ionization pairs, ...).
TABLES = [
    "total_energies",
    *(["ionization_potentials"] if config["ionization_pairs"] else []),
    *(["atomization_energies"] if config["atomization_fragments"] else []),
    "density_losses",
]
CURVES = curve_members(
    config["curves"], config["grid"]["spacing"]
)  # {molecule: [(R, system)]}
if CURVES:
    TABLES.append("curve_errors")
# The generalization experiment (config generalization; workflow/rules/generalization.smk).
GENERALIZATION = (
    config["generalization"] if is_configured(config["generalization"]) else {}
)
GEN_SETS = training_sets(GENERALIZATION)  # {N_train: [system names]}
GEN_METHODS = list(GENERALIZATION.get("methods", [])) if GENERALIZATION else []
GEN_SEEDS = list(
    range(
        GENERALIZATION.get("first_seed", 0),
        GENERALIZATION.get("first_seed", 0) + GENERALIZATION.get("num_seeds", 0),
    )
)
# The references the learning curve and its figures read (every curve system; every system is predicted).
GEN_SYSTEMS = [name for geometries in CURVES.values() for _, name in geometries]
USES_DMRG = any(
    spec["n_electrons"] > config["references"]["self_check"]["exact_max_electrons"]
    for spec in config["systems"].values()
)
FIGURES = [
    "densities",
    *([] if CURVES else ["energy_errors"]),  # curves: errors are in dissociation_curves
    "training_curves",
    "seed_spread",
    *(["dmrg_convergence"] if USES_DMRG else []),
    *(["dissociation_curves"] if CURVES else []),
    *(["learning_curve", "generalization_curves"] if GENERALIZATION else []),
]


def _alternatives(names):
    """Regex matching exactly one of ``names``."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


# ---- code-version inputs: changing the physics reruns exactly what depends on it ------------------
def code(script):
    """The rule's script and every package module it reaches through its imports, as input paths.

    From the import facts (``sksr.pipeline.code_dependencies``), so editing e.g. src/sksr/ks/scf.py reruns the
    Kohn-Sham jobs but not DMRG or the figures; workflow plumbing (provenance, I/O) reruns nothing.
    """
    path = os.path.join("workflow", "scripts", script)
    modules = script_dependencies(
        os.path.join(workflow.basedir, path), os.path.join(workflow.basedir, "src")
    )
    return [os.path.relpath(m, workflow.basedir) for m in modules] + [path]


def settings(*keys):
    """Config slice ``{dotted key: value}`` a job uses; a param, so changing it reruns the job."""
    return config_slice(config, keys)


def dmrg_settings():
    """Config keys a reference depends on (not max_sweeps/checkpoint_every: bounds, not physics)."""
    return result_setting_keys(
        config["references"]["dmrg"], "references.dmrg", DMRG_JOB_KEYS
    )


def training_settings():
    """Config keys a trained seed depends on (not seeds, models or resources)."""
    return result_setting_keys(config["training"], "training", TRAINING_JOB_KEYS)


def systems_of(split):
    """System names in a split."""
    return list(config["split"][split])


def reference_settings(system):
    """Config slice of one reference: the DMRG settings only for systems DMRG solves, so that changing
    them never reruns an exact-diagonalization reference."""
    by_dmrg = (
        config["systems"][system]["n_electrons"]
        > config["references"]["self_check"]["exact_max_electrons"]
    )
    return settings(
        "grid",
        f"systems.{system}",
        "references.self_check",
        *(dmrg_settings() if by_dmrg else []),
    )


def gen_dataset_systems(name):
    """System names of a generalization dataset: ``validation`` or ``train-n<N>``."""
    if name == "validation":
        return list(GENERALIZATION["validation"])
    return GEN_SETS[int(name.removeprefix("train-n"))]


# Systems that some training needs (train and validation splits, the generalization experiment's sets).
TRAINING_SYSTEMS = {
    *config["split"]["train"],
    *config["split"]["validation"],
    *GENERALIZATION.get("validation", []),
    *(name for names in GEN_SETS.values() for name in names),
}


# The experiment's datasets, training and direct ML run before the references no training needs
# (priority 1-4, reference_priority) and after those it needs (11-14): training starts mid-stage.
GEN_TRAINING_PRIORITY = 5


def reference_priority(system):
    """References that training needs first (training starts while the others run), then the most
    electrons first (the longest DMRG jobs), so that no core idles at the end of the stage.
    """
    electrons = config["systems"][system]["n_electrons"]
    return electrons + (10 if system in TRAINING_SYSTEMS else 0)


# ---- file names ------------------------------------------------------------------------------------
def reference_files(names, ext="npz"):
    return [f"results/references/{name}.{ext}" for name in names]


def prediction_files():
    return [f"results/predictions/{method}.npz" for method in METHODS]


def seed_dirs(model):
    return [f"results/training/{model}/seed{seed}" for seed in SEEDS]


def gen_prediction_files(n_train=None):
    """The selected predictions of every (N_train, method) of the generalization experiment."""
    sizes = [n_train] if n_train is not None else list(GEN_SETS)
    return [f"results/generalization/n{n}/{m}.npz" for n in sizes for m in GEN_METHODS]


def table_files():
    return expand(
        "figures/tables/{table}.{fmt}",
        table=TABLES,
        fmt=config["evaluation"]["table_formats"],
    )


# ---- the Snakemake report (snakemake --report): what each figure and table shows ---------------------
FIGURE_CAPTIONS = {
    "densities": "Total densities n(x) (1/bohr) of the systems of the density split: the exact reference "
    "(exact diagonalization or DMRG) against every method.",
    "energy_errors": "Total-energy error E - E_exact (mHa) of every system for the baselines and the "
    "selected models; the grey band is chemical accuracy (+-1.6 mHa).",
    "training_curves": "Validation loss against the L-BFGS-B loss evaluation for every seed of every model; "
    "dots mark each seed's selected checkpoint, the star the model's selected seed.",
    "seed_spread": "Left: test-molecule MAE (mHa) of every seed of every model, with the selected seed (star), "
    "the published model (diamond) and chemical accuracy. Right: validation loss against test MAE, "
    "i.e. how well the validation set predicts the test molecules.",
    "dmrg_convergence": "``|E_sweep - E_final|`` (Ha) after every DMRG sweep of every reference (log scale).",
    "learning_curve": "Generalization experiment: test MAE (mHa, log scale) of each test set against the "
    "number of training geometries per curve, for full KSR, energy-only KSR and direct ML; the grey band is "
    "chemical accuracy.",
    "generalization_curves": "Generalization experiment at N_train = generalization.curves_at: E + E_NN and "
    "the error (mHa) along every test curve for full KSR, energy-only KSR and direct ML against exact.",
    "dissociation_curves": "Top: E + E_NN (Ha) against the separation R of each curve: exact, the baselines, "
    "the selected models, and the checkpoints of the last model's selected seed (thin grey); triangles "
    "mark the training geometries. Bottom: errors (mHa), the grey band is chemical accuracy (+-1.6 mHa).",
}
TABLE_CAPTIONS = {
    "total_energies": "total energies (Ha) and errors (mHa) of every system and method, with MAEs per split;",
    "ionization_potentials": "ionization potentials E(N-1) - E(N) and their errors (mHa);",
    "atomization_energies": "atomization energies of the molecules from their fragments, and errors (mHa);",
    "density_losses": "density errors h sum (n - n_exact)^2 / N per system and method;",
    "curve_errors": "errors along each dissociation curve per method: MAE, largest error and the separation "
    "where it occurs (mHa), per split, and whether every geometry is within chemical accuracy;",
    "seeds": "every seed of every model: status, evaluations, selected checkpoint, validation loss, "
    "eligibility, and test / all / IP / AE MAEs (mHa);",
    "selection_study": "every seed-selection rule repeated on disjoint subsets of the seeds (MAEs in mHa);",
    "learning_curve": "generalization experiment: MAE and largest error (mHa) of every test set against "
    "N_train for full KSR, energy-only KSR and direct ML, with the selected seed;",
}


def for_report(paths, category, caption, shown=(".png", ".csv")):
    """``paths`` with the PNG / CSV files marked for ``snakemake --report`` (the other formats beside them)."""
    marked = []
    for path in paths:
        flagged = report(path, caption=caption, category=category)
        marked.append(flagged if path.endswith(shown) else path)
    return marked


def figure_outputs():
    """figures/{figure}.<fmt> for every configured format; the PNG goes into the report."""
    return for_report(
        [f"figures/{{figure}}.{fmt}" for fmt in config["figures"]["formats"]],
        "Figures",
        "../report/figure.rst",
    )


def figure_files(names=FIGURES):
    if not MODELS:
        names = [n for n in names if n not in ("training_curves", "seed_spread")]
    return expand("figures/{name}.{fmt}", name=names, fmt=config["figures"]["formats"])


def all_targets():
    """Every table and figure of the config, and the DMRG summary table (the default target)."""
    seeds = ["figures/tables/seeds.csv", "figures/tables/seeds.md"] if MODELS else []
    if MODELS:
        seeds += [
            "figures/tables/selection_study.csv",
            "figures/tables/selection_study.md",
        ]
    learning = (
        expand(
            "figures/tables/learning_curve.{fmt}",
            fmt=config["evaluation"]["table_formats"],
        )
        if GENERALIZATION
        else []
    )
    return (
        ["results/references/summary.csv"]
        + table_files()
        + seeds
        + learning
        + figure_files()
    )


def figure_inputs(wildcards):
    """Data each figure reads (never checkpoints or anything that would pull in recomputation)."""
    split = systems_of(config["figures"]["density_split"])
    data = {
        "densities": {
            "predictions": prediction_files(),
            "references": reference_files(split),
        },
        "energy_errors": {"table": "figures/tables/total_energies.csv"},
        "training_curves": {
            "runs": [d for m in MODELS for d in seed_dirs(m)],
            "selections": expand(
                "results/training/{model}/selection.json", model=MODELS
            ),
        },
        "seed_spread": {
            "seeds": "figures/tables/seeds.csv",
            "table": "figures/tables/total_energies.csv",
        },
        "dmrg_convergence": {
            "references": reference_files(SYSTEM_NAMES, "json"),
            "arrays": reference_files(SYSTEM_NAMES),
        },
        "dissociation_curves": {
            "predictions": prediction_files(),
            "references": reference_files(
                [name for geometries in CURVES.values() for _, name in geometries]
            ),
            # the grey curves: every checkpoint of the last model's selected seed
            "checkpoints": (
                f"results/training/{MODELS[-1]}/checkpoint_predictions.npz"
                if MODELS
                else []
            ),
        },
        "learning_curve": {"table": "figures/tables/learning_curve.csv"},
        "generalization_curves": {
            "predictions": gen_prediction_files(GENERALIZATION.get("curves_at")),
            "references": reference_files(GEN_SYSTEMS),
        },
    }[wildcards.figure]
    data["code"] = figure_code(wildcards.figure)
    return data


def figure_code(figure):
    """``code("figure.py")`` without the modules of the other figures: restyling one reruns only it."""
    shared = {"__init__", "common", "make", figure}
    return [
        path
        for path in code("figure.py")
        if not path.startswith("src/sksr/evaluation/figures/")
        or os.path.splitext(os.path.basename(path))[0] in shared
    ]


def baseline_inputs(wildcards):
    """Code of a baseline job, plus the parameter files of a published model."""
    inputs = {"code": code("baseline.py")}
    if wildcards.baseline.startswith("published-"):
        files = published_files(published_name(wildcards.baseline))
        inputs["model"] = [os.path.relpath(path, workflow.basedir) for path in files]
    return inputs
