"""Command-line entry point ``sksr`` (pyproject [project.scripts]).

    sksr audit results/ figures/ [--configfile config/smoke.yaml]   check outputs against provenance
    sksr provenance results/references/He.npz                        show the record that made a file
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from sksr import audit


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sksr", description="sKSR workflow utilities")
    commands = parser.add_subparsers(dest="command", required=True)
    audit.build_parser(commands.add_parser("audit", help="check a results tree against its provenance"))
    show = commands.add_parser("provenance", help="print the provenance record of one output")
    show.add_argument("path")
    show.add_argument("--trees", nargs="+", default=["results", "figures"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "audit":
        return audit.run(args)
    return _provenance(args)


if __name__ == "__main__":
    sys.exit(main())
