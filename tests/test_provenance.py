"""Provenance records: digests, config slices, atomic writes, record contents."""

import json
import time

import pytest

from sksr.io import provenance


def test_sha256_changes_with_content(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one")
    first = provenance.sha256_file(path)
    path.write_text("two")
    assert provenance.sha256_file(path) != first
    assert len(first) == 64


def test_config_slice_and_lookup():
    config = {"grid": {"num_points": 65, "spacing": 0.32}, "systems": {"He+": {"n_electrons": 1}}}
    sliced = provenance.config_slice(config, ["grid.spacing", "systems.He+"])
    assert sliced == {"grid.spacing": 0.32, "systems.He+": {"n_electrons": 1}}
    with pytest.raises(KeyError, match="grid.missing"):
        provenance.lookup(config, "grid.missing")


def test_digest_value_is_order_independent():
    assert provenance.digest_value({"a": 1, "b": 2}) == provenance.digest_value({"b": 2, "a": 1})
    assert provenance.digest_value({"a": 1}) != provenance.digest_value({"a": 2})


def test_build_record_separates_code_and_data(tmp_path):
    data = tmp_path / "in.npz"
    data.write_bytes(b"data")
    module = tmp_path / "mod.py"
    module.write_text("x = 1\n")
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "a.csv").write_text("a\n")
    start = time.time()
    record = provenance.build_record(
        rule="r", wildcards={"seed": "1"}, inputs=[str(data), str(module)], outputs=[str(out_dir)],
        settings={"grid": {"num_points": 65}}, started=start, finished=start + 1.5,
    )
    assert list(record["inputs"]) == [str(data)]
    assert list(record["code"]) == [str(module)]
    assert list(record["outputs"]) == [str(out_dir / "a.csv")]  # directories are expanded
    assert record["timing"]["wall_seconds"] == pytest.approx(1.5)
    assert set(record["git"]) == {"commit", "dirty"}
    assert record["packages"]["numpy"]
    assert record["device"]["cpu_count"] >= 1


def test_write_record_is_atomic_and_readable(tmp_path):
    path = tmp_path / "deep" / "rec.json"
    provenance.write_record({"a": 1}, path)
    assert provenance.load_record(path) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["rec.json"]  # no temp file left behind
    json.loads(path.read_text())
