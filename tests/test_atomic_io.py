"""Atomic writes: complete files or nothing, with ordinary permissions."""

import os
import stat

import numpy as np
import pytest

from sksr.io.atomic import atomic_savez, atomic_write, atomic_write_json, atomic_write_text


def test_text_json_and_npz_round_trip(tmp_path):
    atomic_write_text(tmp_path / "a" / "x.txt", "hello\n")
    assert (tmp_path / "a" / "x.txt").read_text() == "hello\n"
    atomic_write_json(tmp_path / "x.json", {"b": 1, "a": [1.5]})
    assert (tmp_path / "x.json").read_text().startswith('{\n  "a"')
    atomic_savez(tmp_path / "x.npz", {"v": np.arange(3.0)})
    assert np.array_equal(np.load(tmp_path / "x.npz")["v"], np.arange(3.0))


def test_failed_writer_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken(stream):
        stream.write(b"partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_files_are_not_private(tmp_path):
    atomic_write_text(tmp_path / "x.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "x.txt").st_mode) == 0o666 & ~mask  # not mkstemp's 0600
