"""Stage 3: neural XC functionals trained with the KS regularizer; one job per (model, seed), or per
(model, group of training.seeds_per_job seeds) vmapped into one program (GPUs).

Each seed is evaluated (K = eval_iterations, every system) at its best validation checkpoint; the seed
with the lowest validation loss becomes the model's prediction. Training needs a GPU on clusters
(resource gpu, from config training.gpu); partition and account belong to the profile.
"""

SEEDS_PER_JOB = int(config["training"].get("seeds_per_job", 1))
# Persistent XLA compilation cache: one compile per machine and program, not one per job.
COMPILATION_CACHE = "results/.cache/jax"
# Seeds of a model in groups of training.seeds_per_job (the last group may be smaller).
SEED_GROUPS = [
    SEEDS[i : i + SEEDS_PER_JOB] for i in range(0, len(SEEDS), SEEDS_PER_JOB)
]
# Replay logs survive a failed or killed job (not an output, so never deleted); a rerun resumes the
# seed exactly from them.
REPLAY_DIR = "results/.checkpoints/training/{model}/seed{seed}"


if SEEDS_PER_JOB == 1:

    rule train_seed:
        input:
            train="results/datasets/train.npz",
            validation="results/datasets/validation.npz",
            code=code("train_seed.py"),
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
            model=lambda wildcards: wildcards.model,
            replay_dir=lambda wildcards: REPLAY_DIR.format(**wildcards),
            compilation_cache=COMPILATION_CACHE,
        script:
            "../scripts/train_seed.py"

else:
    # One job per (model, group of seeds), vmapped into one program: on a GPU, num_seeds seeds per job
    # (one job per model) with eigensolver: device keeps the whole SCF of every seed on the device.
    for _group in SEED_GROUPS:

        rule:
            name:
                f"train_seeds_{_group[0]}_{_group[-1]}"
            input:
                train="results/datasets/train.npz",
                validation="results/datasets/validation.npz",
                code=code("train_seeds.py"),
            output:
                runs=[directory(f"results/training/{{model}}/seed{s}") for s in _group],
                provenance=f"results/provenance/train_seeds/{{model}}_seeds{_group[0]}-{_group[-1]}.json",
            log:
                f"logs/train_seeds/{{model}}_seeds{_group[0]}-{_group[-1]}.log",
            benchmark:
                f"benchmarks/rules/train_seeds/{{model}}_seeds{_group[0]}-{_group[-1]}.tsv"
            conda:
                "../../envs/jax.yaml"
            threads: config["training"]["threads"]
            resources:
                mem_mb=config["training"]["mem_mb"],
                runtime=config["training"]["runtime"],
                gpu=config["training"]["gpu"],
            params:
                settings=settings("grid", "scf.train_iterations", *training_settings()),
                model=lambda wildcards: wildcards.model,
                seeds=list(_group),
                replay_dirs=lambda wildcards, group=_group: [
                    REPLAY_DIR.format(model=wildcards.model, seed=s) for s in group
                ],
                compilation_cache=COMPILATION_CACHE,
            script:
                "../scripts/train_seeds.py"


rule evaluate_seed:
    input:
        run="results/training/{model}/seed{seed}",
        code=code("evaluate_seed.py"),
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
        settings=settings(
            "grid", "systems", "scf.eval_iterations", "scf.reflection_symmetry"
        ),
        method=lambda wildcards: f"sksr-{wildcards.model}",
    script:
        "../scripts/evaluate_seed.py"


rule select_seed:
    input:
        runs=expand("results/training/{{model}}/seed{seed}", seed=SEEDS),
        predictions=expand(
            "results/training/{{model}}/predictions/seed{seed}.npz", seed=SEEDS
        ),
        code=code("select_seed.py"),
    output:
        selection="results/training/{model}/selection.json",
        npz="results/predictions/sksr-{model}.npz",
        provenance="results/provenance/select_seed/{model}.json",
    log:
        "logs/select_seed/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings(
            "training.num_seeds",
            "training.first_seed",
            "selection.max_validation_loss",
        ),
        method=lambda wildcards: f"sksr-{wildcards.model}",
    script:
        "../scripts/select_seed.py"


rule training:
    input:
        expand("results/training/{model}/selection.json", model=MODELS),


rule checkpoint_predictions:
    input:
        selection="results/training/{model}/selection.json",
        runs=expand("results/training/{{model}}/seed{seed}", seed=SEEDS),
        code=code("checkpoint_predictions.py"),
    output:
        npz="results/training/{model}/checkpoint_predictions.npz",
        provenance="results/provenance/checkpoint_predictions/{model}.json",
    log:
        "logs/checkpoint_predictions/{model}.log",
    conda:
        "../../envs/jax.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=settings(
            "grid",
            "systems",
            "curves",
            "scf.eval_iterations",
            "scf.reflection_symmetry",
        ),
    script:
        "../scripts/checkpoint_predictions.py"
