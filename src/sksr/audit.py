"""Audit a results tree against its provenance records.

    sksr audit results/ figures/ [--configfile config/smoke.yaml] [--json report.json]
    python -m sksr.audit results/ figures/

Records live in ``<tree>/provenance/**.json`` (written by ``sksr.provenance``). For every record:

- MISSING: an output listed in the record does not exist;
- MODIFIED: an output's bytes differ from the recorded digest;
- OTHER-CODE: a source file the job depended on (package module, rule script) differs from the recorded one;
- OTHER-CONFIG: a config key the job used has another value in the current config file(s);
- STALE: a data input differs from the recorded one (it was remade after this output);
- UNRECORDED: a file in an audited tree that no record claims (made by something else).

The exit status is 1 when anything fails, 0 when the tree is consistent. Package versions that differ from
the installed ones are reported as warnings (they do not fail the audit).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sksr.provenance import PROVENANCE_DIRNAME, load_record, lookup, package_versions, sha256_file

FAILURES = ("MISSING", "MODIFIED", "OTHER-CODE", "OTHER-CONFIG", "NO-CONFIG", "STALE", "UNRECORDED")
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


def fill_defaults(config: dict, schema: dict) -> dict:
    """Fill absent keys with the schema's defaults, recursively (as the workflow's validation does)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = json.loads(json.dumps(sub["default"]))
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            fill_defaults(config[key], sub)
    return config


def merge_config(base: dict, update: Mapping) -> dict:
    """Recursive update of nested mappings, as Snakemake merges several ``--configfile`` files."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value
    return base


def load_config(paths: Sequence[str], schema_path: Path = SCHEMA_PATH) -> dict:
    """Merge YAML config files in order (as Snakemake does), then fill the schema defaults."""
    import yaml

    config: dict = {}
    for path in paths:
        with open(path) as handle:
            merge_config(config, yaml.safe_load(handle) or {})
    if schema_path.is_file():
        with open(schema_path) as handle:
            fill_defaults(config, yaml.safe_load(handle))
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
    record = load_record(record_path)
    name = str(record_path)
    outputs = record.get("outputs", {})
    report.records += 1
    report.outputs += len(outputs)
    _check_digests("MODIFIED", outputs, report, name, "MISSING")
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
    used = {tuple(load_record(r).get("configfiles", [])) for r in records}
    if len(used) > 1:
        report.findings.append(
            Finding("OTHER-CONFIG", "; ".join(", ".join(u) for u in sorted(used)),
                    "records were made with different config files")
        )
    return list(sorted(used)[0]) if used else []


def audit(trees: Sequence[str], configfiles: Sequence[str] | None = None) -> AuditReport:
    """Audit ``trees`` (e.g. results/ and figures/) against their records and the given config files.

    Without ``configfiles``, the config files named in the records are used (when they exist).
    """
    report = AuditReport()
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
    config = load_config(configfiles) if configfiles and not absent else None
    installed = package_versions()
    claimed: set = set()
    for record_path in records:
        claimed |= audit_record(record_path, config, report, installed)
    for path in tree_files(trees):
        if path not in claimed:
            report.findings.append(Finding("UNRECORDED", path, "no provenance record claims this file"))
    if not records:
        report.findings.append(Finding("MISSING", ", ".join(trees) or "-", "no provenance records found"))
    return report


def format_report(report: AuditReport, verbose: bool = False) -> str:
    """Human-readable summary: failures first, then warnings (verbose), then counts."""
    lines = [f.line() for f in report.failures]
    warnings = [f for f in report.findings if f.kind == "WARNING"]
    if verbose:
        lines += [f.line() for f in warnings]
    counts = {kind: sum(f.kind == kind for f in report.failures) for kind in FAILURES}
    summary = ", ".join(f"{n} {kind.lower()}" for kind, n in counts.items() if n) or "no problems"
    status = "OK" if report.ok else "FAILED"
    lines.append(
        f"audit {status}: {report.records} records, {report.outputs} outputs checked; {summary}"
        + (f"; {len(warnings)} warnings" if warnings else "")
    )
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="sksr audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", default=["results", "figures"], help="trees to audit")
    parser.add_argument("--configfile", action="append", help="config file(s) to compare settings against")
    parser.add_argument("--json", help="also write the findings as JSON to this path")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list warnings")
    return parser


def run(args: argparse.Namespace) -> int:
    report = audit(args.trees, args.configfile)
    print(format_report(report, verbose=args.verbose))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"ok": report.ok, "records": report.records, "outputs": report.outputs,
             "findings": [f.__dict__ for f in report.findings]}, indent=2))
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
