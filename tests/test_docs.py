"""Documentation that is generated from, or must agree with, the code."""

import subprocess
import sys
from pathlib import Path

import pytest

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


def _results_page_module():
    """tools/results_page.py, imported as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_page", ROOT / "tools" / "results_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_busy_wall_time_is_the_union_of_job_intervals_less_the_pauses(tmp_path):
    """Overlapping jobs count once, the gap between two parts of a run not at all, a pause is subtracted."""
    from datetime import datetime, timedelta, timezone

    page = _results_page_module()
    t0 = datetime(2026, 11, 22, 5, 0, tzinfo=timezone.utc)
    minutes = lambda m: t0 + timedelta(minutes=m)  # noqa: E731
    jobs = [(minutes(0), minutes(10), 600.0), (minutes(5), minutes(20), 900.0),  # part 1: 20 min busy
            (minutes(120), minutes(130), 600.0)]  # part 2, after a 100-min gap: 10 min busy
    assert page.busy_seconds(jobs) == 30 * 60
    pauses_file = tmp_path / "pauses.txt"
    pauses_file.write_text("# suspended for a measurement\n2026-11-22 05:15 - 05:40:00  (inside part 1 and the gap)\n")
    pauses = page.read_pauses(pauses_file)
    assert page.busy_seconds(jobs, pauses) == 25 * 60
    # Overlapping and repeated pauses count once; a pause may end on the next day.
    pauses_file.write_text("2026-11-22 05:02 - 05:08\n2026-11-22 05:04 - 05:06\n2026-11-22 05:02 - 05:08\n"
                           "  2026-11-22 06:59 - 2026-11-23 00:10  (overnight, covers part 2)\n")
    assert page.busy_seconds(jobs, page.read_pauses(pauses_file)) == (30 - 6 - 10) * 60


def test_a_malformed_pause_line_names_the_file_and_line(tmp_path):
    page = _results_page_module()
    pauses_file = tmp_path / "pauses.txt"
    pauses_file.write_text("2026-11-22 05:15 - 05:40\nyesterday afternoon\n")
    with pytest.raises(ValueError, match=r"pauses.txt:2: expected"):
        page.read_pauses(pauses_file)
    pauses_file.write_text("2026-11-22 06:00 - 05:40\n")
    with pytest.raises(ValueError, match=r"pauses.txt:1: the pause does not end after it starts"):
        page.read_pauses(pauses_file)
    pauses_file.write_text("# a comment\n2026-02-30 06:00 - 06:40\n")
    with pytest.raises(ValueError, match=r"pauses.txt:2: .*day is out of range"):
        page.read_pauses(pauses_file)
