"""Stage 2: Kohn-Sham datasets (reference energies and densities per split) and the baselines: LSDA and
the published sKSR models run through this engine."""


rule dataset:
    input:
        references=lambda wildcards: reference_files(systems_of(wildcards.split)),
        code=code("dataset.py"),
    output:
        npz="results/datasets/{split}.npz",
        provenance="results/provenance/dataset/{split}.json",
    log:
        "logs/dataset/{split}.log",
    conda:
        "../../envs/jax.yaml"
    params:
        settings=lambda wildcards: settings(
            "grid",
            f"split.{wildcards.split}",
            *[f"systems.{name}" for name in systems_of(wildcards.split)],
        ),
        systems=lambda wildcards: systems_of(wildcards.split),
    script:
        "../scripts/dataset.py"


rule baseline:
    input:
        unpack(baseline_inputs),
    output:
        npz="results/predictions/{baseline}.npz",
        provenance="results/provenance/baseline/{baseline}.json",
    log:
        "logs/baseline/{baseline}.log",
    benchmark:
        "benchmarks/rules/baseline/{baseline}.tsv"
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
    script:
        "../scripts/baseline.py"


rule direct_ml:
    input:
        train="results/datasets/train.npz",
        validation="results/datasets/validation.npz",
        code=code("direct_ml.py"),
    output:
        npz="results/predictions/direct-ml.npz",
        selection="results/training/direct-ml/selection.json",
        provenance="results/provenance/direct_ml.json",
    log:
        "logs/direct_ml/direct_ml.log",
    benchmark:
        "benchmarks/rules/direct_ml.tsv"
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
            "training.num_seeds",
            "training.first_seed",
            "training.max_evaluations",
            "training.lbfgs_history",
            "training.lbfgs_factr",
            "training.lbfgs_pgtol",
        ),
    script:
        "../scripts/direct_ml.py"


rule datasets:
    input:
        expand("results/datasets/{split}.npz", split=SPLITS),
        expand("results/predictions/{baseline}.npz", baseline=BASELINES),
        rules.direct_ml.output.npz if DIRECT_ML else [],
