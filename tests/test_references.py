"""Saving/loading reference results and the summary table."""

import csv
import json
import os

import numpy as np
import pytest

from sksr import references
from sksr.dmrg import DMRGSettings
from sksr.grid import Grid
from sksr.hamiltonian import nuclear_repulsion
from sksr.references import (
    SUMMARY_COLUMNS,
    compute_reference,
    load_reference,
    load_systems_from_config,
    read_summary,
    save_reference,
    write_summary,
)
from sksr.systems import System

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

GRID = Grid(num_points=17, spacing=0.5)


@pytest.fixture(scope="module")
def two_results():
    settings = DMRGSettings(max_sweeps=20)
    he_h = System("HeH+", [2, 1], [-1.0, 1.5], 2, 0)
    li = System("Li", [3], [0.0], 3, 1)
    return [compute_reference(system, GRID, settings) for system in (he_h, li)]


def test_result_fields(two_results):
    heh, li = two_results
    assert heh.nuclear_repulsion == pytest.approx(nuclear_repulsion(heh.system))
    assert heh.nuclear_repulsion > 0 and li.nuclear_repulsion == 0.0
    assert GRID.integrate(li.density) == pytest.approx(3.0, abs=1e-9)
    assert GRID.integrate(li.spin_density) == pytest.approx(1.0, abs=1e-9)
    assert li.converged and li.sweeps == len(li.history.energy) and li.max_bond_dim >= 1


def test_save_and_load_round_trip(two_results, tmp_path):
    result = two_results[1]
    npz, meta = tmp_path / "out" / "Li.npz", tmp_path / "out" / "Li.json"
    save_reference(result, npz, meta)
    loaded = load_reference(npz)
    assert loaded.system == result.system and loaded.grid == result.grid and loaded.settings == result.settings
    assert loaded.total_energy == result.total_energy
    np.testing.assert_array_equal(loaded.density, result.density)
    np.testing.assert_array_equal(loaded.spin_density, result.spin_density)
    assert loaded.history.energy == result.history.energy
    with np.load(npz) as data:
        for key in ("total_energy", "nuclear_repulsion", "density", "spin_density", "sweep_energy",
                    "sweep_bond_dim", "sweep_truncation_error", "wall_seconds"):
            assert key in data.files
        assert data["density"].shape == (GRID.num_points,)
    record = json.loads(meta.read_text())
    assert record["system"]["name"] == "Li" and record["grid"] == GRID.to_dict()
    assert record["dmrg_settings"]["energy_tolerance"] == 1e-8
    assert "physics-tenpy" in record["versions"] and record["total_energy"] == result.total_energy
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp")] == []


def test_interrupted_write_leaves_no_output(two_results, tmp_path, monkeypatch):
    def broken_savez(stream, **arrays):
        stream.write(b"half a file")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        save_reference(two_results[0], tmp_path / "HeH+.npz", tmp_path / "HeH+.json")
    assert os.listdir(tmp_path) == []


def test_summary_table(two_results, tmp_path):
    paths = []
    for result in two_results:
        npz, meta = tmp_path / f"{result.system.name}.npz", tmp_path / f"{result.system.name}.json"
        save_reference(result, npz, meta)
        paths.append(meta if result.system.name == "Li" else npz)  # both input kinds work
    summary = tmp_path / "summary.csv"
    write_summary(paths, summary)
    rows = read_summary(summary)
    with open(summary) as stream:
        header = next(csv.reader(stream))
    assert tuple(header) == SUMMARY_COLUMNS
    assert [row["system"] for row in rows] == ["HeH+", "Li"]
    assert float(rows[1]["total_energy"]) == pytest.approx(two_results[1].total_energy, abs=1e-10)
    assert rows[0]["converged"] == "true" and int(rows[1]["n_unpaired"]) == 1
    with pytest.raises(ValueError, match=r"more than once: \['Li'\]"):
        write_summary([paths[1], paths[1]], tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="must be .json or .npz"):
        write_summary([tmp_path / "x.txt"], tmp_path / "bad.csv")


def test_systems_from_config():
    config = {"systems": {"He": {"nuclear_charges": [2], "nuclear_positions": [0.0], "n_electrons": 2,
                                 "n_unpaired": 0}}}
    (system,) = load_systems_from_config(config)
    assert system.name == "He" and system.n_electrons == 2
    with pytest.raises(ValueError, match="'systems' must be a non-empty mapping"):
        load_systems_from_config({})


def test_load_rejects_foreign_npz(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not an sksr reference file"):
        references.load_reference(path)
