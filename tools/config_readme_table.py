#!/usr/bin/env python3
"""Regenerate the key table of config/README.md from the config schema (the schema is authoritative).

    .venv/bin/python tools/config_readme_table.py          # rewrite the table in place
    .venv/bin/python tools/config_readme_table.py --check  # exit 1 if the README's table is out of date

The table sits between the markers ``<!-- schema-keys:begin -->`` and ``<!-- schema-keys:end -->``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"
BEGIN, END = "<!-- schema-keys:begin -->", "<!-- schema-keys:end -->"
OPAQUE = ("systems", "atomization_fragments", "ionization_pairs", "selection.extra_validation")


def _rows(node: dict, prefix: str = ""):
    for name, child in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        default = json.dumps(child.get("default", None))
        if len(default) > 40:
            default = default[:37] + "..."
        kind = child.get("type", "")
        description = " ".join(str(child.get("description", "")).split()).replace("|", "\\|")
        yield f"| `{key}` | {kind} | `{default}` | {description} |"
        if kind == "object" and key not in OPAQUE:
            yield from _rows(child, key + ".")


def table() -> str:
    schema = yaml.safe_load(SCHEMA.read_text())
    lines = ["| key | type | default | meaning |", "|---|---|---|---|", *_rows(schema)]
    return "\n".join(lines) + "\n"


def render(readme: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"{README}: markers {BEGIN} / {END} not found")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{README} is out of date: run tools/config_readme_table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
