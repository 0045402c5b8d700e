"""sksr: regenerate every table and figure of the spin-adapted Kohn-Sham regularizer study.

    snakemake --cores all                                  # paper config (config/config.yaml)
    snakemake --cores 2 --configfile config/smoke.yaml     # tiny grid, same DAG (minutes)
    snakemake --cores all references                       # one stage: references, datasets,
                                                           # training, evaluation, generalization,
                                                           # figures
    snakemake --profile profiles/slurm                     # on a SLURM cluster

The science lives in the importable package src/sksr; the rules only wire files together.
"""

from snakemake.utils import min_version

min_version("9.0")


# The paper config is the default. A config given with --configfile replaces it entirely (merging the
# twenty paper systems into a smoke run would silently change the DAG).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


report: "workflow/report/workflow.rst"


wildcard_constraints:
    system=_alternatives(SYSTEM_NAMES),
    split=_alternatives(SPLITS),
    model=_alternatives(MODELS),
    baseline=_alternatives(BASELINES),
    seed=r"\d+",
    rule=_alternatives(RULES),


include: "workflow/rules/references.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/generalization.smk"
include: "workflow/rules/figures.smk"


# On a cluster, targets and the light aggregation steps (seconds of pandas/matplotlib over finished files)
# run where Snakemake runs instead of waiting in the queue; everything that solves a
# Hamiltonian, runs an SCF or trains is submitted.
localrules:
    all,
    references,
    datasets,
    training,
    evaluation,
    figures,
    generalization,
    reference_summary,
    select_seed,
    seed_errors,
    alternative_selection,
    selection_study,
    tables,
    figure,
    generalization_select_seed,
    learning_curve,


# Ctrl-C / SIGTERM stop the running jobs at once (sksr/io/interrupts.py); a killed Snakemake is noticed by
# its jobs, which then stop themselves.
onstart:
    interrupts.install_stop_handlers()


rule all:
    default_target: True
    input:
        all_targets(),
