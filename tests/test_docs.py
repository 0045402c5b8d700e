"""Documentation that is generated from, or must agree with, the code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_config_readme_key_table_matches_the_schema():
    """config/README.md's key table is the schema's (regenerate with tools/config_readme_table.py)."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "config_readme_table.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _outside_references() -> list[str]:
    """``../<name>`` for every folder beside the checkout (the repository must not lean on them)."""
    return [f"../{d.name}/" for d in ROOT.parent.iterdir() if d.is_dir() and d.resolve() != ROOT]


def test_nothing_in_the_repository_points_outside_it():
    """No file refers to a folder beside the checkout: the repository stands alone."""
    outside = _outside_references()
    offenders = []
    for path in ROOT.rglob("*"):
        if not path.is_file() or any(p in path.parts for p in (".git", ".venv", ".snakemake", "results", "figures", "logs")):
            continue
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".smk", ".sh", ".toml", ".json", ""}:
            continue
        text = path.read_text(errors="ignore")
        offenders += [f"{path.relative_to(ROOT)}: {ref}" for ref in outside if ref in text]
    assert not offenders, offenders
