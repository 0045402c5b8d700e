"""Command-line entry point ``sksr`` (pyproject [project.scripts]).

    sksr audit results/ figures/ [--configfile config/smoke.yaml]   check outputs against provenance
    sksr provenance results/references/He.npz                        show the record that made a file
    sksr check-config config/smoke.yaml [override.yaml ...]          check config files, no Snakemake
    sksr run [snakemake arguments]                                   what ./run_workflow.sh runs

``sksr run`` checks the config files named by ``--configfile`` before Snakemake reads them (Snakemake's
own reader names neither file nor line and refuses an empty override), drops empty override files (no-ops),
then replaces itself with ``snakemake --cores all <arguments>`` (same process: a signal sent to the runner
reaches Snakemake itself).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from sksr.pipeline import audit


def _provenance(args: argparse.Namespace) -> int:
    """Print the record of the job that wrote ``args.path``."""
    target = os.path.normpath(args.path)
    for tree in args.trees:
        for record_path in audit.find_records([tree]):
            record = audit.load_record(record_path)
            if target in {os.path.normpath(p) for p in record.get("outputs", {})}:
                print(f"# {record_path}")
                print(json.dumps(record, indent=2, sort_keys=True))
                return 0
    print(f"no provenance record claims {args.path}", file=sys.stderr)
    return 1


CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")


def split_configfiles(argv: Sequence[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """Snakemake arguments and the config files among them, as ``(argv, [(index in argv, path)])``.

    ``--configfile`` takes several values (up to the next option), as in Snakemake; ``--configfile=a.yaml``
    takes one.
    """
    argv, files, taking = list(argv), [], False
    for index, arg in enumerate(argv):
        if arg in CONFIGFILE_OPTIONS:
            taking = True
        elif any(arg.startswith(option + "=") for option in CONFIGFILE_OPTIONS):
            files.append((index, arg.split("=", 1)[1]))
            taking = False
        elif arg.startswith("-"):
            taking = False
        elif taking:
            files.append((index, arg))
    return argv, files


def _check_config(args: argparse.Namespace) -> int:
    from sksr.pipeline.config_files import check_files
    from sksr.pipeline.workflow_config import ConfigError

    try:
        loaded = check_files(args.files or ["config/config.yaml"])
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    for path in loaded.empty:
        print(f"{path}: empty config file, nothing to override", file=sys.stderr)
    print("config OK")
    return 0


def run_workflow(argv: Sequence[str], exec_snakemake=os.execvp) -> int:
    """Check the config files of a Snakemake command line, drop empty ones, then exec Snakemake."""
    from sksr.pipeline.config_files import load_files
    from sksr.pipeline.workflow_config import ConfigError

    argv, files = split_configfiles(argv)
    try:
        loaded = load_files([path for _, path in files])
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    drop = {index for index, path in files if path in loaded.empty}
    for path in loaded.empty:
        print(f"[sksr] {path}: empty config file, nothing to override; ignored", file=sys.stderr)
    if drop and len(drop) == len(files):  # only empty files: as if no --configfile was given
        drop |= {i for i, arg in enumerate(argv) if arg in CONFIGFILE_OPTIONS}
    argv = [arg for i, arg in enumerate(argv) if i not in drop]
    snakemake = os.path.join(os.path.dirname(sys.executable), "snakemake")
    if not os.path.exists(snakemake):
        snakemake = "snakemake"
    sys.stdout.flush()
    sys.stderr.flush()
    exec_snakemake(snakemake, [snakemake, "--cores", "all", *argv])
    return 0  # only reached with a test double for exec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sksr", description="sKSR workflow utilities")
    commands = parser.add_subparsers(dest="command", required=True)
    audit.build_parser(commands.add_parser("audit", help="check a results tree against its provenance"))
    show = commands.add_parser("provenance", help="print the provenance record of one output")
    show.add_argument("path")
    show.add_argument("--trees", nargs="+", default=["results", "figures"])
    check = commands.add_parser("check-config", help="check config files (schema and semantics), as the workflow does")
    check.add_argument("files", nargs="*", help="config files, merged in order (default config/config.yaml)")
    commands.add_parser("run", help="check the config files, then run snakemake --cores all <arguments>")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # everything after "run" belongs to Snakemake
        return run_workflow(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "audit":
        return audit.run(args)
    if args.command == "check-config":
        return _check_config(args)
    return _provenance(args)


if __name__ == "__main__":
    sys.exit(main())
