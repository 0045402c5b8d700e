"""Stage 3: neural XC functionals trained with the KS regularizer; one job per (model, seed).

Each seed is evaluated (K = eval_iterations, every system) at its best validation checkpoint; the seed
with the lowest validation loss becomes the model's prediction. Training needs a GPU on clusters
(resource gpu, from config training.gpu); partition and account belong to the profile.
"""


rule train_seed:
    input:
        train="results/datasets/train.npz",
        validation="results/datasets/validation.npz",
        code=code("scf", "datasets", "training", script="train_seed.py"),
    output:
        # evaluations.csv, checkpoints/, validation.csv, best.npz|json, run.json (sksr.training)
        run=directory("results/training/{model}/seed{seed}"),
        provenance="results/provenance/train_seed/{model}_seed{seed}.json",
    log:
        "logs/train_seed/{model}_seed{seed}.log",
    benchmark:
        "benchmarks/rules/train_seed/{model}_seed{seed}.tsv"
    conda:
        "../../envs/jax.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        runtime=config["training"]["runtime"],
        gpu=config["training"]["gpu"],
    params:
        settings=settings("grid", "scf.train_iterations", *training_settings()),
    script:
        "../scripts/train_seed.py"


rule evaluate_seed:
    input:
        run="results/training/{model}/seed{seed}",
        code=code("scf", "training", "evaluation", script="evaluate_seed.py"),
    output:
        npz="results/training/{model}/predictions/seed{seed}.npz",
        provenance="results/provenance/evaluate_seed/{model}_seed{seed}.json",
    log:
        "logs/evaluate_seed/{model}_seed{seed}.log",
    benchmark:
        "benchmarks/rules/evaluate_seed/{model}_seed{seed}.tsv"
    conda:
        "../../envs/jax.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=settings("grid", "systems", "scf.eval_iterations"),
    script:
        "../scripts/evaluate_seed.py"


rule select_seed:
    input:
        runs=expand("results/training/{{model}}/seed{seed}", seed=SEEDS),
        predictions=expand(
            "results/training/{{model}}/predictions/seed{seed}.npz", seed=SEEDS
        ),
        code=code("evaluation", "training", script="select_seed.py"),
    output:
        selection="results/training/{model}/selection.json",
        npz="results/predictions/sksr-{model}.npz",
        provenance="results/provenance/select_seed/{model}.json",
    log:
        "logs/select_seed/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings("training.num_seeds", "training.first_seed"),
    script:
        "../scripts/select_seed.py"


rule training:
    input:
        expand("results/training/{model}/selection.json", model=MODELS),
