"""Saving/loading reference results and the summary table."""

import csv
import json
import os

import numpy as np
import pytest

from sksr.core.grid import Grid
from sksr.core.hamiltonian import nuclear_repulsion
from sksr.core.systems import System
from sksr.references import self_checked
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.exact_diagonalization import system_fock_space_ground_state, two_electron_ground_state
from sksr.references.self_checked import (
    SUMMARY_COLUMNS,
    ReferenceSelfCheckError,
    SelfCheckSettings,
    compute_reference,
    load_reference,
    load_systems_from_config,
    read_summary,
    save_reference,
    write_summary,
)

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
    assert li.method == "dmrg" and heh.method == "exact_diagonalization"
    assert li.max_bond_dim >= 1 and len(heh.history) == 0


def test_references_prove_themselves_and_match_exact_diagonalization(two_results):
    """The DMRG reference (Li, 3 electrons) and the ED one (HeH+) carry their evidence, and are exact."""
    heh, li = two_results
    evidence = li.self_check
    assert evidence["passed"] and list(evidence["starts"]) == ["hartree_fock", "noninteracting"]
    assert evidence["start_spread"] < 1e-7 and abs(evidence["chi_shift"]) < 1e-7
    assert abs(evidence["extrapolation_shift"]) < 1e-7 and 1 <= evidence["refinement_sweeps"] <= 4
    assert evidence["refinement_converged"] and evidence["settings"] == SelfCheckSettings().to_dict()
    assert li.settings.start_state == evidence["kept_start"]
    assert li.sweeps == sum(run["sweeps"] for run in evidence["starts"].values()) + evidence["refinement_sweeps"]
    assert li.total_energy == pytest.approx(system_fock_space_ground_state(li.system, GRID).energy, abs=1e-8)
    assert heh.self_check["passed"] and heh.self_check["residual"] < 1e-8
    assert list(heh.self_check["starts"]) == ["orbitals", "random"] and heh.self_check["start_spread"] < 1e-9
    assert heh.total_energy == pytest.approx(two_electron_ground_state(heh.system, GRID).energy, abs=1e-10)


def test_self_check_fails_a_run_stuck_in_a_wrong_occupation(monkeypatch):
    """He+ + H instead of He + H+: with the nuclei 28 bohr apart, DMRG from a product state with one electron
    on each nucleus cannot move the H electron across (its tail is below svd_min): the second start exposes it."""
    import sksr.references.dmrg.start_states
    from tenpy.networks.mps import MPS

    grid = Grid(num_points=65, spacing=0.5)
    system = System("HeH+", [2, 1], [-14.0, 14.0], 2, 0)

    def wrong_occupation(sites, system, grid):
        states = ["empty"] * grid.num_points
        states[grid.index_of(-14.0)], states[grid.index_of(14.0)] = "up", "down"
        return MPS.from_product_state(sites, states, bc="finite", unit_cell_width=grid.num_points)

    monkeypatch.setattr(sksr.references.dmrg.start_states, "product_start_mps", wrong_occupation)
    check = SelfCheckSettings(starts=("hartree_fock", "product"), exact_max_electrons=0)
    with pytest.raises(ReferenceSelfCheckError, match=r"HeH\+: reference failed its self-check: independent "
                       r"starts disagree by [0-9.]+e-02 Ha > start_tolerance 1e-07 \(hartree_fock -2\.[0-9]+ Ha, "
                       r"product -2\.148"):
        compute_reference(system, grid, DMRGSettings(mixer=False), check)


def test_self_check_fails_a_bond_dimension_too_small():
    """chi_max 6 for Li: the starts agree with each other, but refining at chi 12 still moves the energy by far
    more than the tolerance, and so does the extrapolation to zero discarded weight."""
    settings = DMRGSettings(chi_schedule=[[0, 6]], max_truncation_error=1.0, energy_tolerance=1e-5)
    check = SelfCheckSettings(starts=("hartree_fock", "noninteracting"), start_tolerance=1.0, refinement_sweeps=2)
    with pytest.raises(ReferenceSelfCheckError, match=r"Li: .* after refinement at chi_max 12 \(which moved the "
                       r"energy by -[0-9.]+e-0[1-6] Ha\) the extrapolation to zero discarded weight still moves it "
                       r"by -[0-9.]+e-0[1-6] Ha > extrapolation_tolerance 1e-07"):
        compute_reference(System("Li", [3], [0.0], 3, 1), GRID, settings, check)


def test_extrapolation_to_zero_discarded_weight():
    from sksr.references.dmrg.driver import extrapolate_to_zero_truncation

    # E(w) = -1 + 100 w through w = 1e-6 and 1e-7: the line hits w = 0 at -1.
    assert extrapolate_to_zero_truncation(-1 + 1e-4, 1e-6, -1 + 1e-5, 1e-7) == pytest.approx(-1.0, abs=1e-15)
    assert extrapolate_to_zero_truncation(-1.0, 1e-12, -1.1, 1e-12) == -1.1  # no smaller weight: no extrapolation


def test_self_check_settings_are_validated():
    with pytest.raises(ValueError, match="at least two different start states"):
        SelfCheckSettings(starts=("hartree_fock",))
    with pytest.raises(ValueError, match=r"unknown start states \['ionic'\]"):
        SelfCheckSettings(starts=("hartree_fock", "ionic"))
    with pytest.raises(ValueError, match=r"unknown settings \['tolerance'\]"):
        SelfCheckSettings.from_dict({"tolerance": 1e-7})
    with pytest.raises(ValueError, match="exact_max_electrons must be 0, 1 or 2"):
        SelfCheckSettings(exact_max_electrons=3)
    with pytest.raises(ValueError, match="chi_factor must be a number >= 1.25"):
        SelfCheckSettings(chi_factor=1.0)


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
    assert rows[0]["method"] == "exact_diagonalization" and rows[0]["chi_shift"] == "" and rows[0]["residual"]
    assert rows[1]["method"] == "dmrg" and rows[1]["starts"] == "hartree_fock+noninteracting" and rows[1]["chi_shift"]
    assert rows[1]["extrapolation_shift"] and rows[0]["extrapolation_shift"] == ""
    assert int(rows[1]["n_unpaired"]) == 1
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
        self_checked.load_reference(path)
