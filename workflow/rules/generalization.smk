"""The KSR generalization experiment (config ``generalization``; docs/physics.md section 11): for every
N_train, the model trained on N_train geometries of each pool curve by full KSR, energy-only KSR (the
training rules' script with energy_loss_weight 1) and direct ML, each with its own seeds and selection
on the experiment's validation geometries; then the learning-curve table.

    results/generalization/datasets/{train-n<N>,validation}.npz
    results/generalization/n<N>/<method>/seed<S>/          KSR runs (as results/training/<model>/seed<S>/)
    results/generalization/n<N>/<method>/predictions/seed<S>.npz
    results/generalization/n<N>/<method>/selection.json
    results/generalization/n<N>/<method>.npz                the selected predictions (every curve system)
    figures/tables/learning_curve.{csv,md,tex}
"""

GEN = "results/generalization"
GEN_REPLAY_DIR = "results/.checkpoints/generalization/n{n}/{method}/seed{seed}"


rule generalization_dataset:
    input:
        references=lambda wildcards: reference_files(
            gen_dataset_systems(wildcards.dataset)
        ),
        code=code("dataset.py"),
    output:
        npz=f"{GEN}/datasets/{{dataset}}.npz",
        provenance="results/provenance/generalization_dataset/{dataset}.json",
    log:
        "logs/generalization_dataset/{dataset}.log",
    wildcard_constraints:
        dataset=r"validation|train-n\d+",
    priority: GEN_TRAINING_PRIORITY
    conda:
        "../../envs/jax.yaml"
    params:
        settings=lambda wildcards: {
            **settings("grid"),
            **{
                f"systems.{name}": config["systems"][name]
                for name in gen_dataset_systems(wildcards.dataset)
            },
        },
        systems=lambda wildcards: gen_dataset_systems(wildcards.dataset),
    script:
        "../scripts/dataset.py"


rule generalization_train_seed:
    input:
        train=f"{GEN}/datasets/train-n{{n}}.npz",
        validation=f"{GEN}/datasets/validation.npz",
        code=code("train_seed.py"),
    output:
        run=directory(f"{GEN}/n{{n}}/{{method}}/seed{{seed}}"),
        provenance="results/provenance/generalization_train_seed/n{n}_{method}_seed{seed}.json",
    log:
        "logs/generalization_train_seed/n{n}_{method}_seed{seed}.log",
    benchmark:
        "benchmarks/rules/generalization_train_seed/n{n}_{method}_seed{seed}.tsv"
    wildcard_constraints:
        n=r"\d+",
        method="ksr|ksr-energy",
    priority: GEN_TRAINING_PRIORITY
    conda:
        "../../envs/jax.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"],
        gpu=config["training"]["gpu"],
    params:
        settings=settings("grid", "scf.train_iterations", *training_settings()),
        overrides=lambda wildcards: training_overrides(GENERALIZATION, wildcards.method),
        model=GENERALIZATION.get("model"),
        replay_dir=lambda wildcards: GEN_REPLAY_DIR.format(**wildcards),
        compilation_cache=COMPILATION_CACHE,
    script:
        "../scripts/train_seed.py"


rule generalization_evaluate_seed:
    input:
        run=f"{GEN}/n{{n}}/{{method}}/seed{{seed}}",
        code=code("evaluate_seed.py"),
    output:
        npz=f"{GEN}/n{{n}}/{{method}}/predictions/seed{{seed}}.npz",
        provenance="results/provenance/generalization_evaluate_seed/n{n}_{method}_seed{seed}.json",
    log:
        "logs/generalization_evaluate_seed/n{n}_{method}_seed{seed}.log",
    wildcard_constraints:
        n=r"\d+",
        method="ksr|ksr-energy",
    conda:
        "../../envs/jax.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=settings(
            "grid", "systems", "scf.eval_iterations", "scf.reflection_symmetry"
        ),
        method=lambda wildcards: f"{wildcards.method}-n{wildcards.n}",
    script:
        "../scripts/evaluate_seed.py"


rule generalization_select_seed:
    input:
        runs=expand(f"{GEN}/n{{{{n}}}}/{{{{method}}}}/seed{{seed}}", seed=GEN_SEEDS),
        predictions=expand(
            f"{GEN}/n{{{{n}}}}/{{{{method}}}}/predictions/seed{{seed}}.npz",
            seed=GEN_SEEDS,
        ),
        code=code("select_seed.py"),
    output:
        selection=f"{GEN}/n{{n}}/{{method}}/selection.json",
        npz=f"{GEN}/n{{n}}/{{method}}.npz",
        provenance="results/provenance/generalization_select_seed/n{n}_{method}.json",
    log:
        "logs/generalization_select_seed/n{n}_{method}.log",
    wildcard_constraints:
        n=r"\d+",
        method="ksr|ksr-energy",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings("selection.max_validation_loss"),
        method=lambda wildcards: f"{wildcards.method}-n{wildcards.n}",
    script:
        "../scripts/select_seed.py"


rule generalization_direct_ml:
    input:
        train=f"{GEN}/datasets/train-n{{n}}.npz",
        validation=f"{GEN}/datasets/validation.npz",
        code=code("direct_ml.py"),
    output:
        npz=f"{GEN}/n{{n}}/direct-ml.npz",
        selection=f"{GEN}/n{{n}}/direct-ml/selection.json",
        provenance="results/provenance/generalization_direct_ml/n{n}.json",
    log:
        "logs/generalization_direct_ml/n{n}.log",
    wildcard_constraints:
        n=r"\d+",
    priority: GEN_TRAINING_PRIORITY
    conda:
        "../../envs/jax.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"],
    params:
        settings=settings(
            "grid",
            "systems",
            "training.max_evaluations",
            "training.lbfgs_history",
            "training.lbfgs_factr",
            "training.lbfgs_pgtol",
            "generalization.num_seeds",
            "generalization.first_seed",
        ),
        # direct_ml.py reads the seeds from training.*: the experiment's own seeds
        overrides={
            "training.num_seeds": GENERALIZATION.get("num_seeds"),
            "training.first_seed": GENERALIZATION.get("first_seed"),
        },
    script:
        "../scripts/direct_ml.py"


rule learning_curve:
    input:
        predictions=gen_prediction_files(),
        references=reference_files(GEN_SYSTEMS),
        code=code("learning_curve.py"),
    output:
        tables=for_report(
            expand(
                "figures/tables/learning_curve.{fmt}",
                fmt=config["evaluation"]["table_formats"],
            ),
            "Tables",
            "../report/table.rst",
        ),
        provenance="figures/provenance/learning_curve.json",
    log:
        "logs/learning_curve/learning_curve.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings("grid", "generalization"),
        captions=[f"``learning_curve``: {TABLE_CAPTIONS['learning_curve']}"],
    script:
        "../scripts/learning_curve.py"


rule generalization:
    input:
        rules.learning_curve.output.tables if GENERALIZATION else [],
