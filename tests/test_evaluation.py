"""Evaluation tables: IPs, atomization energies (with E_NN), mean error / MAE rows, formats."""

import numpy as np
import pandas as pd
import pytest

from sksr.core.hamiltonian import nuclear_repulsion
from sksr.core.systems import System
from sksr.evaluation import prediction_files, tables

H = System("H", [1], [0.0], 1, 1)
H2 = System("H2", [1, 1], [-0.64, 0.96], 2, 0)
HE = System("He", [2], [0.0], 2, 0)
HEP = System("He+", [2], [0.0], 1, 1)
SYSTEMS = {s.name: s for s in (H, H2, HE, HEP)}
G = 5
REF = {"H": -0.6, "H2": -1.5, "He": -2.2, "He+": -1.4}
SPLIT = {"train": ["H", "He"], "validation": ["He+"], "test": ["H2"]}


def values(energies, density_offset=0.0):
    return {n: (e, np.full(G, 0.2) + density_offset) for n, e in energies.items()}


def make_tables(shift):
    methods = {"LSDA": values({n: e + shift for n, e in REF.items()}, 0.1)}
    return tables.build_tables(
        methods, values(REF), SYSTEMS, SPLIT, {"H2": {"H": 2}}, {"He": "He+", "He+": None, "H": None}, 0.5
    )


def test_total_energy_table_columns_and_errors():
    table = make_tables(0.002)["total_energies"]
    assert list(table.columns) == ["method", "system", "split", "energy", "reference_energy", "error",
                                   "density_loss"]
    assert len(table) == 4
    np.testing.assert_allclose(table["error"], 0.002)
    np.testing.assert_allclose(table["density_loss"], 0.5 * G * 0.1**2)
    assert dict(zip(table["system"], table["split"]))["H2"] == "test"


def test_ionization_potential_uses_partner_and_bare_nucleus():
    energies = {"He": -2.2, "He+": -1.4}
    assert tables.ionization_potential(energies, "He", "He+") == pytest.approx(0.8)
    assert tables.ionization_potential(energies, "He+", None) == pytest.approx(1.4)
    # A constant shift of every energy cancels in IPs with a partner but not against the bare nucleus.
    table = make_tables(0.001)["ionization_potentials"].set_index("system")
    assert table.loc["He", "error"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["He+", "error"] == pytest.approx(-0.001)


def test_atomization_energy_includes_nuclear_repulsion_and_protons():
    energies = {"H": -0.6, "H2": -1.5}
    expected = abs(nuclear_repulsion(H2) - 1.5 + 1.2)
    assert tables.atomization_energy(energies, H2, {"H": 2}) == pytest.approx(expected)
    assert tables.atomization_energy({"H2": -1.5}, H2, {"p": 2}) == pytest.approx(
        abs(nuclear_repulsion(H2) - 1.5)
    )


def test_summary_rows_mean_error_and_mae():
    long = pd.DataFrame({"method": ["A"] * 3, "system": ["x", "y", "z"], "split": ["test", "test", "train"],
                         "error": [0.001, -0.003, 0.010]})
    summary = tables.summary_rows(long, "total_energies").set_index("scope")
    assert summary.loc["test", "mean_error"] == pytest.approx(-0.001)
    assert summary.loc["test", "mae"] == pytest.approx(0.002)
    assert summary.loc["all", "mae"] == pytest.approx(0.014 / 3)


def test_wide_view_and_formats(tmp_path):
    built = make_tables(0.002)
    paths = {fmt: str(tmp_path / f"t.{fmt}") for fmt in ("csv", "md", "tex")}
    tables.write_table(built["total_energies"], "total_energies", paths)
    assert pd.read_csv(paths["csv"]).shape == (4, 7)
    markdown = open(paths["md"]).read()
    assert "| MAE (test) |  | 2.00 |" in markdown  # mHa in the wide view
    latex = open(paths["tex"]).read()
    assert latex.count(r"\midrule") == 2 and r"\end{tabular}" in latex
    assert "He+" in latex


def test_predictions_round_trip_and_failed_marker(tmp_path):
    predictions = {"names": np.array(["H"]), "n_electrons": np.array([1]), "energies": np.array([[-0.5, -0.6]]),
                   "densities": np.ones((1, 2, G)), "spacing": np.float64(0.5)}
    path = tmp_path / "p.npz"
    prediction_files.save_predictions(path, predictions, "LSDA")
    loaded = prediction_files.load_predictions(path)
    assert loaded["H"][0] == pytest.approx(-0.6) and loaded["H"][1].shape == (G,)
    assert prediction_files.prediction_ok(path)
    bad = dict(predictions, energies=np.array([[-0.5, np.nan]]))
    with pytest.raises(FloatingPointError, match="H"):
        prediction_files.save_predictions(tmp_path / "bad.npz", bad, "LSDA")
    assert not (tmp_path / "bad.npz").exists()


def test_chemical_accuracy():
    assert list(tables.within_chemical_accuracy([0.0015, -0.0017])) == [True, False]


def test_diverged_seed_becomes_a_failed_marker_with_reason(tmp_path):
    from sksr.core.grid import Grid
    from sksr.core.systems import System
    from sksr.evaluation.prediction_files import (
        diverged_systems,
        failed_predictions,
        failure_reason,
        prediction_ok,
        save_predictions,
    )

    grid = Grid(17, 0.5)
    systems = [System("H", (1,), (0.0,), 1, 1), System("He", (2,), (0.0,), 2, 0)]
    predictions = {
        "names": np.array(["H", "He"]),
        "energies": np.array([[-0.5, -0.6], [-2.0, np.nan]]),
    }
    assert diverged_systems(predictions) == ["He"]
    marker = failed_predictions(systems, grid, 2, reason="KS diverged for ['He']")
    save_predictions(tmp_path / "seed3.npz", marker, method="sksr-global")
    assert not prediction_ok(tmp_path / "seed3.npz")
    assert failure_reason(tmp_path / "seed3.npz") == "KS diverged for ['He']"
