"""The Snakemake workflow: DAG shape (paper and smoke), stage targets, config validation before any job,
code-version inputs, lint and formatting. Dry runs only (seconds); CI runs the smoke DAG for real."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sksr.pipeline.workflow_config import ConfigError, check_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"
PAPER = ROOT / "config" / "config.yaml"


def snakemake(*args, check=True):
    """Run snakemake in the repository (dry runs never touch results/)."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--nolock", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def job_counts(output: str) -> dict:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = output.split("Job stats:")[1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)}
    counts.pop("total", None)
    return counts


def rule_inputs(output: str, rule: str) -> list[str]:
    """Input files of the first job of ``rule`` in a dry run's output."""
    block = re.search(rf"^(?:local)?rule {rule}:\n    input: (.*)$", output, flags=re.M)
    assert block, f"no job of rule {rule} in the dry run"
    return block.group(1).split(", ")


def write_config(tmp_path, edit) -> Path:
    config = yaml.safe_load(SMOKE.read_text())
    edit(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def paper_dry_run():
    return snakemake("-n", "--forceall").stdout


@pytest.fixture(scope="module")
def smoke_dry_run():
    return snakemake("-n", "--forceall", "--configfile", str(SMOKE)).stdout


def test_paper_dag_builds_every_table_and_figure(paper_dry_run):
    counts = job_counts(paper_dry_run)
    assert counts["reference"] == 20
    assert counts["train_seed"] == 3 * 30 and counts["evaluate_seed"] == 3 * 30
    assert counts["select_seed"] == 3 and counts["baseline"] == 4  # LSDA + the three published models
    assert counts["alternative_selection"] == 3 * 2 and counts["selection_study"] == 1
    assert counts["tables"] == 1 and counts["figure"] == 5 and counts["all"] == 1
    for name in ("seeds", "selection_study"):
        assert f"figures/tables/{name}.csv" in paper_dry_run and f"figures/tables/{name}.md" in paper_dry_run
    for name in ("total_energies", "ionization_potentials", "atomization_energies", "density_losses"):
        for fmt in ("csv", "md", "tex"):
            assert f"figures/tables/{name}.{fmt}" in paper_dry_run
    for name in ("densities", "energy_errors", "training_curves", "seed_spread", "dmrg_convergence"):
        assert f"figures/{name}.pdf" in paper_dry_run and f"figures/{name}.png" in paper_dry_run


def test_smoke_config_replaces_paper_config(smoke_dry_run):
    counts = job_counts(smoke_dry_run)
    assert counts["reference"] == 6  # not merged with the paper's twenty systems
    assert counts["train_seed"] == 3 * 2
    assert set(counts) == {"reference", "reference_summary", "dataset", "baseline", "train_seed",
                           "evaluate_seed", "select_seed", "tables", "seed_errors", "figure", "all",
                           "alternative_selection", "selection_study"}


@pytest.mark.parametrize(
    "target, rules",
    [
        ("references", {"reference", "reference_summary", "references"}),
        ("datasets", {"reference", "dataset", "baseline", "datasets"}),
        ("figures/tables/total_energies.csv", None),
    ],
)
def test_stage_targets(target, rules):
    counts = job_counts(snakemake(target, "-n", "--forceall", "--configfile", str(SMOKE)).stdout)
    if rules is not None:
        assert set(counts) == rules
    else:
        assert "figure" not in counts and "tables" in counts


def test_code_inputs_follow_the_physics(smoke_dry_run):
    reference = rule_inputs(smoke_dry_run, "reference")
    assert "src/sksr/references/dmrg/driver.py" in reference and "src/sksr/core/hamiltonian.py" in reference
    assert not any("figures" in p or "training" in p for p in reference)
    baseline = rule_inputs(smoke_dry_run, "baseline")
    assert "src/sksr/ks/scf.py" in baseline and "src/sksr/functionals/lsda.py" in baseline
    assert "src/sksr/references/dmrg/driver.py" not in baseline
    train = rule_inputs(smoke_dry_run, "train_seed")
    assert "src/sksr/training/optimizer.py" in train and "src/sksr/training/loss.py" in train
    figure = rule_inputs(smoke_dry_run, "figure")
    assert "src/sksr/evaluation/figures/make.py" in figure
    # restyling never retrains: figures depend on no training or SCF code (the generalization experiment's
    # training-set names, a NumPy-only module, are data the figures need)
    names_only = {"src/sksr/training/__init__.py", "src/sksr/training/training_sets.py"}
    assert not any(p.startswith(("src/sksr/training/", "src/sksr/ks/", "src/sksr/references/dmrg/"))
                   for p in set(figure) - names_only)
    # the code inputs are the import facts of each rule's script, not a hand-kept list
    from sksr.pipeline.code_dependencies import script_dependencies

    def facts(script):
        found = script_dependencies(ROOT / "workflow" / "scripts" / script, ROOT / "src")
        return {str(p.relative_to(ROOT)) for p in found}

    for rule, script in [("reference", "reference.py"), ("train_seed", "train_seed.py")]:
        declared = {p for p in rule_inputs(smoke_dry_run, rule) if p.startswith("src/")}
        assert declared == facts(script), (rule, declared ^ facts(script))
    # one figure's job declares its own figure module and none of the others' (also those of figures this
    # config does not draw): restyling it reruns only it
    jobs = re.findall(r"^rule figure:\n    input: (.*)\n(?:    .*\n)*?    wildcards: figure=(\w+)$", smoke_dry_run, re.M)
    modules = {name: f"src/sksr/evaluation/figures/{name}.py" for _, name in jobs}
    figure_modules = {p for p in facts("figure.py") if p.startswith("src/sksr/evaluation/figures/")}
    shared = {f"src/sksr/evaluation/figures/{name}.py" for name in ("__init__", "common", "make")}
    assert len(jobs) == 5 and "src/sksr/evaluation/figures/dissociation_curves.py" in figure_modules
    for inputs, name in jobs:
        declared = {p for p in inputs.split(", ") if p.startswith("src/")}
        expected = facts("figure.py") - (figure_modules - shared - {modules[name]})
        assert modules[name] in declared and declared == expected, (name, declared ^ expected)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c["grid"].update(spacing=-0.1), ["spacing"]),
        (lambda c: c["training"].update(num_seeds="many"), ["num_seeds"]),
        (lambda c: c["training"].update(models=["lsda", "mlp"]), ["mlp"]),
        (lambda c: c.update(colour="blue"), ["colour"]),
        (lambda c: c["split"].update(test=["H2", "Xe"]), ["split.test", "Xe"]),
        (lambda c: c["atomization_fragments"].update(H2={"Li": 1}), ["atomization_fragments.H2"]),
        (lambda c: c["ionization_pairs"].update(He="H"), ["ionization_pairs.He"]),
        (lambda c: c["grid"].update(num_points=64), ["power of two"]),
        (lambda c: c["systems"]["H2"].update(nuclear_positions=[-0.5, 0.96]), ["systems.H2", "grid point"]),
    ],
)
def test_bad_config_fails_before_any_job_and_names_the_key(tmp_path, edit, words):
    result = snakemake("-n", "--configfile", str(write_config(tmp_path, edit)), check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    for word in words:
        assert word in message, message[-2000:]
    assert "Job stats" not in message


def test_check_config_lists_every_problem():
    config = yaml.safe_load(SMOKE.read_text())
    config["split"]["validation"] = ["H"]  # also in train
    config["split"]["test"] = ["Nope"]
    with pytest.raises(ConfigError) as error:
        check_config(config)
    text = str(error.value)
    assert "also in split.train" in text and "'Nope'" in text
    assert check_config(yaml.safe_load(PAPER.read_text())).keys() == yaml.safe_load(PAPER.read_text())[
        "systems"
    ].keys()


def test_schema_documents_every_key():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{path}{key}: no description"
            assert "default" in sub, f"{path}{key}: no default"
            walk(sub, f"{path}{key}.")

    walk(schema, "")


def test_lint_and_format_are_clean():
    snakemake("--lint")
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_profiles_keep_site_settings_out_of_rules():
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert "slurm_partition" not in rules and "slurm_account" not in rules
    slurm = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["slurm-status-command"] == "squeue"
    assert "slurm_partition" in slurm["default-resources"]
    default = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert "executor" not in default and "slurm_partition" not in default.get("default-resources", {})
    assert re.search(r"gpu=config\[\"training\"\]\[\"gpu\"\]", rules)


def _schema_keys(node, prefix=""):
    """Dotted names of every documented key of the config schema (system entries excluded)."""
    for name, child in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield key
        if child.get("type") == "object" and key not in ("systems", "atomization_fragments", "ionization_pairs"):
            yield from _schema_keys(child, key + ".")


def test_config_readme_lists_every_schema_key():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    readme = (ROOT / "config" / "README.md").read_text()
    missing = [key for key in _schema_keys(schema) if f"`{key}`" not in readme]
    assert not missing, f"config/README.md does not document: {missing}"


def _references_schema_defaults(section):
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    properties = schema["properties"]["references"]["properties"][section]["properties"]
    return {key: spec["default"] for key, spec in properties.items()}


@pytest.mark.parametrize("section", ["dmrg", "self_check"])
def test_references_schema_defaults_are_the_library_defaults(section):
    """A key left out of the config must mean the same as DMRGSettings' / SelfCheckSettings' own default."""
    from sksr.references.dmrg.settings import DMRGSettings
    from sksr.references.self_checked import SelfCheckSettings

    library = {"dmrg": DMRGSettings, "self_check": SelfCheckSettings}[section]().to_dict()
    for key, default in _references_schema_defaults(section).items():
        assert library[key] == default, (f"references.{section}.{key}: schema default {default!r}, "
                                         f"library {library[key]!r}")


def test_job_layout_keys_are_excluded_from_result_settings():
    """Seeds, resources and DMRG run bounds must not be job params (changing them reruns nothing),
    and every other key of the section must be a real setting of the library."""
    import dataclasses

    from sksr.pipeline.workflow_config import DMRG_JOB_KEYS, TRAINING_JOB_KEYS, result_setting_keys
    from sksr.references.dmrg.settings import DMRGSettings
    from sksr.training.settings import TrainingSettings

    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    sections = {
        "training": (TRAINING_JOB_KEYS, TrainingSettings),
        "references.dmrg": (DMRG_JOB_KEYS, DMRGSettings),
    }
    for prefix, (job_keys, settings_class) in sections.items():
        node = schema
        for part in prefix.split("."):
            node = node["properties"][part]
        keys = dict.fromkeys(node["properties"], 0)
        kept = result_setting_keys(keys, prefix, job_keys)
        assert not any(k.removeprefix(prefix + ".") in job_keys for k in kept)
        fields = {f.name for f in dataclasses.fields(settings_class)}
        unknown = [k for k in kept if k.removeprefix(prefix + ".") not in fields]
        assert not unknown, f"{prefix}: keys that are neither settings nor job keys: {unknown}"


def test_unknown_fragment_does_not_hide_later_problems():
    config = yaml.safe_load(SMOKE.read_text())
    config["atomization_fragments"]["H2"] = {"Xe": 1}
    config["atomization_fragments"]["H2+"] = {"H": 2}  # two electrons for a one-electron molecule
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert "unknown fragment 'Xe'" in str(error.value)
    assert "atomization_fragments.H2+" in str(error.value)
