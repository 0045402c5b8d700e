"""The audit command: a consistent tree passes; tampering, deletion, foreign files, other code or config fail."""

import json
import time

import pytest
import yaml

from sksr.io import provenance
from sksr.pipeline import audit, cli


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A tiny results tree: one job with a code input, a data input, a config slice and two outputs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "physics.py").write_text("ANSWER = 42\n")
    (tmp_path / "data.txt").write_text("input\n")
    config = {"grid": {"num_points": 65, "spacing": 0.32}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "tables" / "energies.csv").write_text("method,energy\nLSDA,-1.0\n")
    (tmp_path / "results" / "tables" / "energies.md").write_text("| method |\n")
    start = time.time()
    record = provenance.build_record(
        rule="tables", wildcards={}, inputs=["data.txt", "src/physics.py"],
        outputs=["results/tables/energies.csv", "results/tables/energies.md"],
        settings=provenance.config_slice(config, ["grid"]), configfiles=["config.yaml"],
        started=start, finished=start,
    )
    provenance.write_record(record, "results/provenance/tables.json")
    # what `snakemake --summary` would list for this config (the real call is tested in test_interrupts.py)
    monkeypatch.setattr(audit, "expected_outputs", lambda *args, **kwargs: [
        "results/tables/energies.csv", "results/tables/energies.md", "results/provenance/tables.json"])
    return tmp_path


def kinds(report):
    return {f.kind for f in report.failures}


def test_consistent_tree_passes(tree):
    report = audit.audit(["results"])
    assert report.ok, audit.format_report(report)
    assert report.records == 1 and report.outputs == 2
    assert cli.main(["audit", "results"]) == 0


def test_tampered_output_fails(tree, capsys):
    (tree / "results" / "tables" / "energies.csv").write_text("method,energy\nLSDA,-2.0\n")
    report = audit.audit(["results"])
    assert kinds(report) == {"MODIFIED"}
    assert report.failures[0].path == "results/tables/energies.csv"
    assert cli.main(["audit", "results"]) == 1
    assert "MODIFIED" in capsys.readouterr().out


def test_missing_output_fails(tree):
    (tree / "results" / "tables" / "energies.md").unlink()
    assert kinds(audit.audit(["results"])) == {"MISSING"}


def test_unrecorded_file_fails(tree):
    (tree / "results" / "tables" / "extra.csv").write_text("x\n")
    report = audit.audit(["results"])
    assert kinds(report) == {"UNRECORDED"}


def test_other_code_fails(tree):
    (tree / "src" / "physics.py").write_text("ANSWER = 43\n")
    report = audit.audit(["results"])
    assert kinds(report) == {"OTHER-CODE"}
    assert "src/physics.py" in report.failures[0].detail


def test_other_config_fails_and_names_the_key(tree):
    (tree / "other.yaml").write_text(yaml.safe_dump({"grid": {"num_points": 129, "spacing": 0.16}}))
    report = audit.audit(["results"], ["other.yaml"])
    assert kinds(report) == {"OTHER-CONFIG"}
    assert "'grid'" in report.failures[0].detail
    assert audit.audit(["results"], ["config.yaml"]).ok


def test_stale_input_fails(tree):
    (tree / "data.txt").write_text("remade\n")
    assert kinds(audit.audit(["results"])) == {"STALE"}


def test_empty_tree_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    assert not audit.audit(["results"]).ok
    assert not audit.audit(["does-not-exist"]).ok


def test_json_report(tree):
    (tree / "results" / "tables" / "energies.csv").write_text("tampered\n")
    assert audit.main(["results", "--json", "report.json"]) == 1
    data = json.loads((tree / "report.json").read_text())
    assert data["ok"] is False and data["findings"][0]["kind"] == "MODIFIED"


def test_deleted_input_is_stale(tree):
    (tree / "data.txt").unlink()
    report = audit.audit(["results"])
    assert kinds(report) == {"STALE"}
    assert "data.txt (deleted)" in report.failures[0].detail


def test_unknown_config_is_a_failure_not_a_silent_pass(tree):
    (tree / "config.yaml").unlink()
    report = audit.audit(["results"])
    assert kinds(report) == {"NO-CONFIG"}


def test_layered_config_files_merge_like_snakemake(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"training": {"num_seeds": 30, "max_evaluations": 500}}))
    (tmp_path / "over.yaml").write_text(yaml.safe_dump({"training": {"num_seeds": 3}}))
    merged = audit.load_config([str(tmp_path / "base.yaml"), str(tmp_path / "over.yaml")])
    assert merged["training"]["num_seeds"] == 3
    assert merged["training"]["max_evaluations"] == 500  # kept: nested keys merge, as in Snakemake


def test_expected_output_that_was_never_made_fails(tree, monkeypatch, capsys):
    """Defect 3: a partial tree (an interrupted run) fails the audit, each absent output named MISSING."""
    monkeypatch.setattr(audit, "expected_outputs", lambda *args, **kwargs: [
        "results/tables/energies.csv", "results/tables/energies.md", "results/tables/ionization.csv",
        "results/provenance/ionization.json", "logs/outside_the_audited_trees.log"])
    report = audit.audit(["results"], ["config.yaml"])
    missing = sorted(f.path for f in report.failures if f.kind == "MISSING")
    assert missing == ["results/provenance/ionization.json", "results/tables/ionization.csv"]
    assert report.expected == 4
    assert cli.main(["audit", "results", "--configfile", "config.yaml"]) == 1
    assert "MISSING      results/tables/ionization.csv" in capsys.readouterr().out


def test_dag_that_cannot_be_listed_is_a_failure(tree, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("invalid config")

    monkeypatch.setattr(audit, "expected_outputs", broken)
    assert kinds(audit.audit(["results"], ["config.yaml"])) == {"NO-DAG"}


def test_repair_removes_the_modified_job_and_only_it(tree, capsys):
    (tree / "results" / "other.csv").write_text("not ours\n")
    (tree / "results" / "tables" / "energies.csv").write_text("tampered\n")
    assert cli.main(["audit", "results", "--repair"]) == 1
    assert "removed" in capsys.readouterr().out
    assert not (tree / "results" / "tables" / "energies.csv").exists()
    assert not (tree / "results" / "tables" / "energies.md").exists()  # same job: remade together
    assert not (tree / "results" / "provenance" / "tables.json").exists()
    assert (tree / "results" / "other.csv").exists()  # not a job output: never deleted


def test_corrupt_record_is_reported_and_repaired(tree):
    record = tree / "results" / "provenance" / "tables.json"
    record.write_text(record.read_text()[:40])
    report = audit.audit(["results"])
    corrupt = [f for f in report.failures if f.kind == "CORRUPT"]
    assert corrupt and corrupt[0].path == "results/provenance/tables.json"
    assert "results/provenance/tables.json" in corrupt[0].detail
    audit.repair(report)
    assert not record.exists()
