"""Stage 4: evaluation tables (figures/tables/*.csv|md|tex) and the per-seed error table."""


rule tables:
    input:
        predictions=prediction_files(),
        references=reference_files(SYSTEM_NAMES),
        code=code("evaluation", script="tables.py"),
    output:
        tables=table_files(),
        provenance="figures/provenance/tables.json",
    log:
        "logs/tables/tables.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings(
            "grid", "systems", "split", "atomization_fragments", "ionization_pairs"
        ),
        methods=METHODS,
        tables=TABLES,
        formats=config["evaluation"]["table_formats"],
    script:
        "../scripts/tables.py"


rule seed_errors:
    input:
        runs=expand("results/training/{model}/seed{seed}", model=MODELS, seed=SEEDS),
        predictions=expand(
            "results/training/{model}/predictions/seed{seed}.npz",
            model=MODELS,
            seed=SEEDS,
        ),
        selections=expand("results/training/{model}/selection.json", model=MODELS),
        references=reference_files(SYSTEM_NAMES),
        code=code("evaluation", "training", script="seed_errors.py"),
    output:
        csv="results/evaluation/seed_errors.csv",
        seeds_csv="figures/tables/seeds.csv",
        seeds_md="figures/tables/seeds.md",
        provenance="results/provenance/seed_errors.json",
    log:
        "logs/seed_errors/seed_errors.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings(
            "grid",
            "systems",
            "split",
            "atomization_fragments",
            "ionization_pairs",
            "selection.max_validation_loss",
        ),
    script:
        "../scripts/seed_errors.py"


rule alternative_selection:
    input:
        seeds="figures/tables/seeds.csv",
        predictions=expand(
            "results/training/{{model}}/predictions/seed{seed}.npz", seed=SEEDS
        ),
        references=reference_files(SYSTEM_NAMES),
        code=code("evaluation", script="alternative_selection.py"),
    output:
        selection="results/training/{model}/selection-{rule}.json",
        npz="results/predictions/sksr-{model}-{rule}.npz",
        provenance="results/provenance/alternative_selection/{model}-{rule}.json",
    log:
        "logs/alternative_selection/{model}-{rule}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings("split.validation", "selection"),
    script:
        "../scripts/alternative_selection.py"


rule selection_study:
    input:
        seeds="figures/tables/seeds.csv",
        predictions=expand(
            "results/training/{model}/predictions/seed{seed}.npz",
            model=MODELS,
            seed=SEEDS,
        ),
        references=reference_files(SYSTEM_NAMES),
        code=code("evaluation", script="selection_study.py"),
    output:
        csv="figures/tables/selection_study.csv",
        md="figures/tables/selection_study.md",
        provenance="figures/provenance/selection_study.json",
    log:
        "logs/selection_study/selection_study.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings(
            "grid",
            "systems",
            "split",
            "atomization_fragments",
            "ionization_pairs",
            "selection",
        ),
    script:
        "../scripts/selection_study.py"


rule evaluation:
    input:
        table_files(),
        rules.seed_errors.output.csv if MODELS else [],
