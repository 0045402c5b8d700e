"""Stage 1: exact references (DMRG with TeNPy, exact diagonalization for N <= 2), each self-checked; one
job per system, plus a summary table."""


rule reference:
    input:
        code=code("reference.py"),
    output:
        npz="results/references/{system}.npz",
        json="results/references/{system}.json",
        provenance="results/provenance/reference/{system}.json",
    log:
        "logs/reference/{system}.log",
    benchmark:
        "benchmarks/rules/reference/{system}.tsv"
    priority: lambda wildcards: reference_priority(wildcards.system)
    conda:
        "../../envs/dmrg.yaml"
    threads: config["references"]["threads"]
    resources:
        mem_mb=config["references"]["mem_mb"],
        runtime=config["references"]["runtime"],
    params:
        settings=lambda wildcards: reference_settings(wildcards.system),
        # DMRG checkpoints survive a failed or killed job (not an output, so never deleted);
        # a rerun resumes from them.
        checkpoint_dir="results/.checkpoints/references",
    script:
        "../scripts/reference.py"


rule reference_summary:
    input:
        json=reference_files(SYSTEM_NAMES, "json"),
        code=code("reference_summary.py"),
    output:
        csv="results/references/summary.csv",
        provenance="results/provenance/reference_summary.json",
    log:
        "logs/reference_summary/summary.log",
    conda:
        "../../envs/dmrg.yaml"
    params:
        settings=settings("systems"),
    script:
        "../scripts/reference_summary.py"


rule references:
    input:
        rules.reference_summary.output.csv,
