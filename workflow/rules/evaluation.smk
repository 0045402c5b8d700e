"""Stage 4: evaluation tables (figures/tables/*.csv|md|tex) and the per-seed error table."""


rule tables:
    input:
        predictions=prediction_files(),
        references=reference_files(SYSTEM_NAMES),
        code=code("tables.py"),
    output:
        tables=for_report(table_files(), "Tables", "../report/table.rst"),
        provenance="figures/provenance/tables.json",
    log:
        "logs/tables/tables.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings(
            "grid",
            "systems",
            "split",
            "atomization_fragments",
            "ionization_pairs",
            "curves",
        ),
        methods=METHODS,
        tables=TABLES,
        captions=[f"``{t}``: {TABLE_CAPTIONS[t]}" for t in TABLES],
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
        code=code("seed_errors.py"),
    output:
        csv="results/evaluation/seed_errors.csv",
        seeds_csv=report(
            "figures/tables/seeds.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
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
        captions=[f"``seeds``: {TABLE_CAPTIONS['seeds']}"],
    script:
        "../scripts/seed_errors.py"


rule alternative_selection:
    input:
        seeds="figures/tables/seeds.csv",
        predictions=expand(
            "results/training/{{model}}/predictions/seed{seed}.npz", seed=SEEDS
        ),
        references=reference_files(SYSTEM_NAMES),
        code=code("alternative_selection.py"),
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
        code=code("selection_study.py"),
    output:
        csv=report(
            "figures/tables/selection_study.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
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
        captions=[f"``selection_study``: {TABLE_CAPTIONS['selection_study']}"],
    script:
        "../scripts/selection_study.py"


rule evaluation:
    input:
        table_files(),
        rules.seed_errors.output.csv if MODELS else [],
