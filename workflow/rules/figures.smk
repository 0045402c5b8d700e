"""Stage 5: figures (PDF, PNG). Plotting only reads computed results, so restyling never reruns training."""


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figures=figure_outputs(),
        provenance="figures/provenance/figure/{figure}.json",
    log:
        "logs/figure/{figure}.log",
    wildcard_constraints:
        figure=_alternatives(FIGURES),
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=settings(
            "figures", "split", "systems", "grid", "curves", "generalization"
        ),
        methods=METHODS,
        models=MODELS,
        caption=lambda wildcards: FIGURE_CAPTIONS[wildcards.figure],
    script:
        "../scripts/figure.py"


rule figures:
    input:
        figure_files(),
