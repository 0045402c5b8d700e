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
        predictions=expand(
            "results/training/{model}/predictions/seed{seed}.npz",
            model=MODELS,
            seed=SEEDS,
        ),
        selections=expand("results/training/{model}/selection.json", model=MODELS),
        references=reference_files(SYSTEM_NAMES),
        code=code("evaluation", script="seed_errors.py"),
    output:
        csv="results/evaluation/seed_errors.csv",
        provenance="results/provenance/seed_errors.json",
    log:
        "logs/seed_errors/seed_errors.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings("systems", "split", "training.models"),
        models=MODELS,
        seeds=SEEDS,
    script:
        "../scripts/seed_errors.py"


rule evaluation:
    input:
        table_files(),
        rules.seed_errors.output.csv if MODELS else [],
