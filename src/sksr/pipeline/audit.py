"""Audit a results tree against its provenance records.

    sksr audit results/ figures/ [--configfile config/smoke.yaml] [--json report.json]
    python -m sksr.pipeline.audit results/ figures/

Records live in ``<tree>/provenance/**.json`` (written by ``sksr.io.provenance``). For every record:

- MISSING: an output listed in the record does not exist;
- MODIFIED: an output's bytes differ from the recorded digest;
- OTHER-CODE: a source file the job depended on (package module, rule script) differs from the recorded one;
- OTHER-CONFIG: a config key the job used has another value in the current config file(s);
- STALE: a data input differs from the recorded one (it was remade after this output);
- UNRECORDED: a file in an audited tree that no record claims (made by something else, or left by an
  interrupted job);
- CORRUPT: an npz/JSON file (output or record) that cannot be read;
- MISSING also: an output that the config's DAG should produce (``snakemake --summary`` with the same
  config files) but that does not exist, e.g. after an interrupted run.

The exit status is 1 when anything fails, 0 when the tree is consistent. Package versions that differ from
the installed ones are reported as warnings (they do not fail the audit).

``--repair`` then removes every output that is MODIFIED or CORRUPT, together with the other outputs and the
record of the job that made it and of every job downstream of it (by the records' inputs), so that the next
run (``./run_workflow.sh ...``) remakes them all. Nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sksr.io.atomic import CorruptFileError, check_readable
from sksr.io.provenance import PROVENANCE_DIRNAME, load_record, lookup, package_versions, sha256_file
from sksr.pipeline.config_files import fill_defaults
from sksr.pipeline.workflow_config import expand_curves

FAILURES = (
    "MISSING", "MODIFIED", "CORRUPT", "OTHER-CODE", "OTHER-CONFIG", "NO-CONFIG", "STALE", "UNRECORDED", "NO-DAG",
)
REPAIRABLE = ("MODIFIED", "CORRUPT")
IGNORED_NAMES = {".snakemake_timestamp"}


@dataclass
class Finding:
    """One problem: its kind (see FAILURES, or WARNING), the file and a human-readable detail."""

    kind: str
    path: str
    detail: str
    record: str = ""

    def line(self) -> str:
        suffix = f"  [record {self.record}]" if self.record else ""
        return f"{self.kind:<12} {self.path}: {self.detail}{suffix}"


@dataclass
class AuditReport:
    """Findings plus counts of what was checked."""

    findings: list = field(default_factory=list)
    records: int = 0
    outputs: int = 0
    expected: int | None = None  # outputs the config's DAG should produce (None: not checked)
    jobs: dict = field(default_factory=dict)  # record path -> outputs it claims

    @property
    def failures(self) -> list:
        return [f for f in self.findings if f.kind in FAILURES]

    @property
    def ok(self) -> bool:
        return not self.failures


def find_records(trees: Iterable[str]) -> list[Path]:
    """Every provenance record under the given trees."""
    records = []
    for tree in trees:
        base = Path(tree) / PROVENANCE_DIRNAME
        if base.is_dir():
            records.extend(sorted(base.rglob("*.json")))
    return records


def tree_files(trees: Iterable[str]) -> list[str]:
    """Files in the audited trees that should be claimed by a record (records and hidden scratch excluded)."""
    files = []
    for tree in trees:
        for path in sorted(Path(tree).rglob("*")):
            relative = path.relative_to(tree).parts
            if not path.is_file() or relative[0] == PROVENANCE_DIRNAME:
                continue
            if any(part.startswith(".") for part in relative) or path.name in IGNORED_NAMES:
                continue
            files.append(os.path.normpath(str(path)))
    return files


SCHEMA_PATH = Path("workflow") / "schemas" / "config.schema.yaml"


def merge_config(base: dict, update: Mapping) -> dict:
    """Recursive update of nested mappings, as Snakemake merges several ``--configfile`` files."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value
    return base


def load_config(paths: Sequence[str], schema_path: Path = SCHEMA_PATH) -> dict:
    """Merge YAML config files in order (as Snakemake does; empty files are no-ops), then fill the schema
    defaults. A file that does not parse raises ConfigError naming file and line."""
    import yaml

    from sksr.pipeline.config_files import load_files

    config = load_files(paths).config
    if schema_path.is_file():
        with open(schema_path) as handle:
            fill_defaults(config, yaml.safe_load(handle))
    expand_curves(config)  # as the Snakefile does: the records name the expanded systems
    return config


def _job_outputs(outputs) -> str:
    """A job's outputs in one line: the first one, and how many more."""
    names = sorted(outputs)
    if not names:
        return "<no outputs>"
    return names[0] + (f" (+{len(names) - 1} more outputs of the job)" if len(names) > 1 else "")


def _check_digests(kind, entries: dict, report: AuditReport, record_name: str, missing_kind: str) -> None:
    for path, digest in entries.items():
        if not os.path.isfile(path):
            report.findings.append(Finding(missing_kind, path, "file no longer exists", record_name))
        elif digest is not None and sha256_file(path) != digest:
            report.findings.append(Finding(kind, path, "content differs from the recorded sha256", record_name))


def _check_config(record: dict, config: dict | None, report: AuditReport, record_name: str) -> None:
    if config is None:
        return
    for key, value in record.get("settings", {}).items():
        try:
            current = json.loads(json.dumps(lookup(config, key), default=str))
        except KeyError:
            current = "<absent>"
        if current != value:
            report.findings.append(
                Finding("OTHER-CONFIG", _job_outputs(record.get("outputs", {})),
                        f"config key {key!r} differs from the current config", record_name)
            )


def audit_record(record_path: Path, config: dict | None, report: AuditReport, installed: dict) -> set:
    """Check one record; return the outputs it claims."""
    name = str(record_path)
    try:
        record = load_record(record_path)
    except CorruptFileError as error:
        report.findings.append(Finding("CORRUPT", os.path.normpath(name), str(error)))
        return set()
    outputs = record.get("outputs", {})
    report.records += 1
    report.outputs += len(outputs)
    report.jobs[name] = {"outputs": sorted(outputs), "inputs": sorted(record.get("inputs", {}))}
    _check_digests("MODIFIED", outputs, report, name, "MISSING")
    for finding in report.findings:
        if finding.kind == "MODIFIED" and finding.record == name:
            reason = check_readable(finding.path)
            if reason not in (None, "missing"):
                finding.kind, finding.detail = "CORRUPT", f"unreadable ({reason}); the recorded file was replaced"
    changed_code = [
        path for path, digest in record.get("code", {}).items()
        if not os.path.isfile(path) or (digest is not None and sha256_file(path) != digest)
    ]
    if changed_code:
        report.findings.append(
            Finding("OTHER-CODE", _job_outputs(outputs), f"made with another version of {', '.join(changed_code)}",
                    name)
        )
    changed_inputs = [
        path if os.path.isfile(path) else f"{path} (deleted)"
        for path, digest in record.get("inputs", {}).items()
        if not os.path.isfile(path) or (digest is not None and sha256_file(path) != digest)
    ]
    if changed_inputs:
        report.findings.append(
            Finding("STALE", _job_outputs(outputs), f"inputs changed since: {', '.join(changed_inputs)}", name)
        )
    _check_config(record, config, report, name)
    for package, version in record.get("packages", {}).items():
        if package != "sksr" and installed.get(package) not in (None, version):
            report.findings.append(
                Finding("WARNING", name, f"{package} {version} recorded, {installed.get(package)} installed")
            )
    return {os.path.normpath(p) for p in outputs}


def _recorded_configfiles(records: Sequence[Path], report: AuditReport) -> list[str]:
    """The config files (in merge order) that the records were made with; a finding if they differ."""
    used = set()
    for record in records:
        try:
            used.add(tuple(load_record(record).get("configfiles", [])))
        except CorruptFileError:
            continue  # reported as CORRUPT by audit_record
    if len(used) > 1:
        report.findings.append(
            Finding("OTHER-CONFIG", "; ".join(", ".join(u) for u in sorted(used)),
                    "records were made with different config files")
        )
    return list(sorted(used)[0]) if used else []


def _workflow_root() -> Path:
    """The repository holding the Snakefile (this package lives in <root>/src/sksr)."""
    return Path(__file__).resolve().parents[3]


def expected_outputs(
    configfiles: Sequence[str], targets: Sequence[str] = (), snakefile: str | os.PathLike | None = None
) -> list[str]:
    """Every output of the DAG that the config files define (Snakemake's ``--summary``, run in the current
    directory, as the workflow would be). Raises RuntimeError with Snakemake's message when it fails."""
    import subprocess

    snakefile = Path(snakefile) if snakefile else (
        Path("Snakefile") if Path("Snakefile").is_file() else _workflow_root() / "Snakefile"
    )
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", os.getcwd(),
        "--nolock", "--summary", *(targets or ["all"]), "--configfile", *configfiles,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip()).splitlines()
        useful = [line.strip() for line in message if line.strip() and "workflow specific profile" not in line]
        raise RuntimeError(" | ".join(useful[-6:])[-1500:] or "snakemake failed")
    outputs = []
    for line in result.stdout.splitlines()[1:]:
        path = line.split("\t", 1)[0].strip()
        if path and path != "output_file":
            outputs.append(os.path.normpath(path))
    if not outputs:
        raise RuntimeError("snakemake --summary listed no outputs")
    return outputs


def _in_trees(path: str, trees: Sequence[str]) -> bool:
    return any(os.path.commonpath([os.path.abspath(path), os.path.abspath(t)]) == os.path.abspath(t) for t in trees)


def _check_expected(trees, configfiles, report: AuditReport, targets=(), snakefile=None) -> None:
    try:
        expected = [p for p in expected_outputs(configfiles, targets, snakefile) if _in_trees(p, trees)]
    except (RuntimeError, OSError, ValueError) as error:
        report.findings.append(
            Finding("NO-DAG", ", ".join(configfiles), f"cannot list the outputs the config should produce: {error}")
        )
        return
    report.expected = len(expected)
    for path in expected:
        if not os.path.exists(path):
            report.findings.append(Finding("MISSING", path, "the config's DAG produces it, but it does not exist"))


def audit(
    trees: Sequence[str],
    configfiles: Sequence[str] | None = None,
    expected: bool = True,
    targets: Sequence[str] = (),
    snakefile: str | None = None,
) -> AuditReport:
    """Audit ``trees`` (e.g. results/ and figures/) against their records and the given config files.

    Without ``configfiles``, the config files named in the records are used (when they exist). With
    ``expected`` (and known config files), every output the config's DAG (for ``targets``, default all)
    should produce must exist.
    """
    report = AuditReport()
    requested = list(trees)
    missing_trees = [t for t in trees if not os.path.isdir(t)]
    for tree in missing_trees:
        report.findings.append(Finding("MISSING", tree, "tree does not exist"))
    trees = [t for t in trees if os.path.isdir(t)]
    records = find_records(trees)
    if not configfiles:
        configfiles = _recorded_configfiles(records, report)
    absent = [p for p in configfiles or [] if not os.path.isfile(p)]
    if absent:
        report.findings.append(Finding("NO-CONFIG", ", ".join(absent), "config file not found: settings unchecked"))
    elif records and not configfiles:
        report.findings.append(Finding("NO-CONFIG", "-", "no config file known: settings unchecked"))
    config = None
    if configfiles and not absent:
        try:
            config = load_config(configfiles)
        except ValueError as error:
            report.findings.append(Finding("NO-CONFIG", ", ".join(configfiles), str(error).replace("\n", " ")))
            absent = list(configfiles)
    installed = package_versions()
    claimed: set = set()
    for record_path in records:
        claimed |= audit_record(record_path, config, report, installed)
    for path in tree_files(trees):
        if path not in claimed:
            reason = check_readable(path)
            detail = "no provenance record claims this file"
            if reason not in (None, "missing"):
                detail += f" (and it is unreadable: {reason})"
            report.findings.append(Finding("UNRECORDED", path, detail))
    if not records:
        report.findings.append(Finding("MISSING", ", ".join(trees) or "-", "no provenance records found"))
    if expected and configfiles and not absent and requested:
        _check_expected(requested, configfiles, report, targets, snakefile)
    return report


def repair(report: AuditReport) -> list[str]:
    """Remove every MODIFIED or CORRUPT output with the other outputs and the record of its job (a corrupt
    record alone when the record itself is unreadable), and the outputs and records of every job downstream
    of them (recorded inputs). Returns the removed paths."""
    import shutil

    doomed: set = set()
    for finding in report.findings:
        if finding.kind not in REPAIRABLE:
            continue
        doomed.add(os.path.normpath(finding.path))
        if finding.record:
            doomed.add(os.path.normpath(finding.record))
            doomed.update(os.path.normpath(p) for p in report.jobs.get(finding.record, {}).get("outputs", []))
    # Downstream jobs too: Snakemake takes a missing intermediate file as fine while the files made from it
    # exist, so only removing those as well makes the next run remake the chain.
    def hit(path: str) -> bool:
        path = os.path.normpath(path)
        return path in doomed or any(path.startswith(d + os.sep) for d in doomed)

    changed = bool(doomed)
    while changed:
        changed = False
        for record, job in report.jobs.items():
            if os.path.normpath(record) not in doomed and any(hit(p) for p in job["inputs"]):
                doomed.add(os.path.normpath(record))
                doomed.update(os.path.normpath(p) for p in job["outputs"])
                changed = True
    removed = []
    for path in sorted(doomed):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        else:
            continue
        removed.append(path)
    return removed


def format_report(report: AuditReport, verbose: bool = False) -> str:
    """Human-readable summary: failures first, then warnings (verbose), then counts."""
    lines = [f.line() for f in report.failures]
    warnings = [f for f in report.findings if f.kind == "WARNING"]
    if verbose:
        lines += [f.line() for f in warnings]
    counts = {kind: sum(f.kind == kind for f in report.failures) for kind in FAILURES}
    summary = ", ".join(f"{n} {kind.lower()}" for kind, n in counts.items() if n) or "no problems"
    status = "OK" if report.ok else "FAILED"
    expected = "" if report.expected is None else f", {report.expected} expected by the config"
    lines.append(
        f"audit {status}: {report.records} records, {report.outputs} outputs checked{expected}; {summary}"
        + (f"; {len(warnings)} warnings" if warnings else "")
    )
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="sksr audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", default=["results", "figures"], help="trees to audit")
    parser.add_argument("--configfile", action="append", help="config file(s) to compare settings against")
    parser.add_argument("--json", help="also write the findings as JSON to this path")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list warnings")
    parser.add_argument("--repair", action="store_true",
                        help="remove MODIFIED or CORRUPT outputs (with their job's other outputs and record) so "
                             "that the next run remakes them and everything downstream")
    parser.add_argument("--no-expected", dest="expected", action="store_false",
                        help="skip the comparison with the outputs the config's DAG should produce")
    parser.add_argument("--target", action="append", default=[],
                        help="only expect the outputs of this Snakemake target (e.g. references); repeatable")
    return parser


def run(args: argparse.Namespace) -> int:
    report = audit(args.trees, args.configfile, expected=getattr(args, "expected", True),
                   targets=getattr(args, "target", []))
    print(format_report(report, verbose=args.verbose))
    if getattr(args, "repair", False):
        removed = repair(report)
        for path in removed:
            print(f"removed      {path}")
        print(f"repair: removed {len(removed)} files; the next run remakes them and everything downstream"
              if removed else "repair: nothing to remove (missing outputs are made by the next run)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"ok": report.ok, "records": report.records, "outputs": report.outputs,
             "findings": [f.__dict__ for f in report.findings]}, indent=2))
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
