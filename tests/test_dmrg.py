"""DMRG (TeNPy) against exact diagonalization of the same lattice Hamiltonian."""

import itertools
import logging

import numpy as np
import pytest
from tenpy.networks.mps import MPS

from sksr.core.grid import PAPER_GRID, Grid
from sksr.core.systems import System
from sksr.references.dmrg.checkpoint import (
    load_checkpoint,
    mps_from_arrays,
    mps_to_arrays,
    problem_fingerprint,
)
from sksr.references.dmrg.driver import DMRGNotConvergedError, run_dmrg
from sksr.references.dmrg.model import ExponentialInteractionChain, build_model
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.dmrg.start_states import hartree_fock_orbitals, slater_determinant_mps
from sksr.references.exact_diagonalization import (
    one_electron_ground_state,
    system_fock_space_ground_state,
    two_electron_ground_state,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

GRID_33 = Grid(num_points=33, spacing=0.5)
GRID_9 = Grid(num_points=9, spacing=0.8)


def _product_state_energy(onsite, amplitude, decay, n_up, n_dn):
    total = n_up + n_dn
    index = np.arange(len(onsite))
    v = amplitude * decay ** np.abs(index[:, None] - index[None, :])
    return onsite @ total + amplitude * n_up @ n_dn + total @ np.triu(v, 1) @ total


def test_mpo_diagonal_terms_match_formula_on_product_states():
    """Exponentially decaying N_i N_j coupling + Hubbard + on-site terms, checked term by term."""
    g = 7
    rng = np.random.default_rng(1)
    onsite = rng.uniform(-1.0, 1.0, size=g)
    model = ExponentialInteractionChain({"hopping": np.diag(onsite), "amplitude": 0.9, "decay": 0.55})
    sites = model.lat.mps_sites()
    names = {"empty": (0, 0), "up": (1, 0), "down": (0, 1), "full": (1, 1)}
    for trial in range(12):
        labels = list(rng.choice(list(names), size=g))
        psi = MPS.from_product_state(sites, labels, bc="finite", unit_cell_width=g)
        n_up = np.array([names[label][0] for label in labels], dtype=float)
        n_dn = np.array([names[label][1] for label in labels], dtype=float)
        expected = _product_state_energy(onsite, 0.9, 0.55, n_up, n_dn)
        assert model.H_MPO.expectation_value(psi) == pytest.approx(expected, abs=1e-12)


def test_full_mpo_matches_fock_space_hamiltonian_spectrum():
    """All states of 2 up + 1 down electrons on 5 sites: MPO (dense) spectrum == Fock-space ED ground state."""
    grid = Grid(num_points=5, spacing=0.7)
    system = System("X", [2.0], [0.0], 3, 1)
    model = build_model(system, grid)
    sites = model.lat.mps_sites()
    # Lowest energy over the (N=3, Sz=1/2) sector from the MPO: build <a|H|b> in a product basis.
    configurations = []
    for ups in itertools.combinations(range(5), 2):
        for down in range(5):
            labels = []
            for i in range(5):
                up, dn = i in ups, i == down
                labels.append({(0, 0): "empty", (1, 0): "up", (0, 1): "down", (1, 1): "full"}[(up, dn)])
            configurations.append(MPS.from_product_state(sites, labels, bc="finite", unit_cell_width=5))
    dim = len(configurations)
    matrix = np.zeros((dim, dim))
    for a in range(dim):
        for b in range(a, dim):
            matrix[a, b] = np.real(_mpo_matrix_element(model, configurations[a], configurations[b]))
    # Hermiticity spot checks (the lower triangle is filled from the upper one below).
    for a, b in [(0, 7), (3, 20), (11, 45)]:
        assert _mpo_matrix_element(model, configurations[b], configurations[a]) == pytest.approx(matrix[a, b], abs=1e-12)
    matrix = np.triu(matrix) + np.triu(matrix, 1).T
    ed = system_fock_space_ground_state(system, grid)
    assert np.linalg.eigvalsh(matrix)[0] == pytest.approx(ed.energy, abs=1e-11)


def _mpo_matrix_element(model, bra, ket):
    from tenpy.networks.mpo import MPOEnvironment

    return MPOEnvironment(bra, model.H_MPO, ket).full_contraction(0)


def test_one_electron_agrees_with_exact_diagonalization():
    system = System("He+", [2], [0.0], 1, 1)
    result = run_dmrg(system, GRID_33)
    exact = one_electron_ground_state(system, GRID_33)
    assert result.energy == pytest.approx(exact.energy, abs=1e-9)
    np.testing.assert_allclose(result.density_up, exact.density_up, atol=1e-6)
    np.testing.assert_allclose(result.density_down, 0.0, atol=1e-12)


@pytest.mark.parametrize(
    "system",
    [System("He", [2], [0.0], 2, 0), System("He_triplet", [2], [0.0], 2, 2), System("H2", [1, 1], [-1.0, 1.0], 2, 0)],
    ids=lambda s: s.name,
)
def test_two_electrons_agree_with_exact_diagonalization(system):
    result = run_dmrg(system, GRID_33)
    exact = two_electron_ground_state(system, GRID_33)
    assert result.energy == pytest.approx(exact.energy, abs=1e-8)
    np.testing.assert_allclose(result.density_up, exact.density_up, atol=1e-6)
    np.testing.assert_allclose(result.density_down, exact.density_down, atol=1e-6)
    assert GRID_33.integrate(result.density_up + result.density_down) == pytest.approx(2.0, abs=1e-9)
    settings = DMRGSettings()  # the convergence facts that the run must record
    assert abs(result.history.last_change) < settings.energy_tolerance
    assert result.history.truncation_error[-1] <= settings.max_truncation_error


def test_window_sweeps_then_full_chain_agree_with_exact_diagonalization():
    """A wide grid (+-16 bohr): DMRG first sweeps the central window, then the whole chain."""
    grid = Grid(num_points=65, spacing=0.5)
    system = System("Li+", [3], [0.0], 2, 0)
    result = run_dmrg(system, grid)
    assert not all(result.history.full_chain) and result.history.full_chain[-1]
    exact = two_electron_ground_state(system, grid)
    assert result.energy == pytest.approx(exact.energy, abs=1e-8)
    np.testing.assert_allclose(result.density_up + result.density_down, exact.density, atol=1e-6)


@pytest.mark.parametrize(
    "system",
    [System("Li", [3], [0.0], 3, 1), System("Be", [4], [0.0], 4, 0), System("H3", [1, 1, 1], [-1.6, 0.0, 1.6], 3, 1)],
    ids=lambda s: s.name,
)
def test_three_and_four_electrons_agree_with_fock_space_ed(system):
    """Many electrons: tests the exponentially decaying coupling between all pairs."""
    result = run_dmrg(system, GRID_9)
    exact = system_fock_space_ground_state(system, GRID_9)
    assert result.energy == pytest.approx(exact.energy, abs=1e-8)
    np.testing.assert_allclose(result.density_up, exact.density_up, atol=1e-6)
    np.testing.assert_allclose(result.density_down, exact.density_down, atol=1e-6)
    assert GRID_9.integrate(result.density_up + result.density_down) == pytest.approx(system.n_electrons, abs=1e-9)


def test_slater_determinant_start_state_has_the_hartree_fock_energy():
    system = System("Li", [3], [0.0], 3, 1)
    model = build_model(system, GRID_33)
    up, down, energy = hartree_fock_orbitals(system, GRID_33)
    psi = slater_determinant_mps(model.lat.mps_sites(), up, down)
    assert model.H_MPO.expectation_value(psi) == pytest.approx(energy, abs=1e-10)
    assert np.sum(psi.expectation_value("Nu")) == pytest.approx(2.0, abs=1e-12)
    assert np.sum(psi.expectation_value("Nd")) == pytest.approx(1.0, abs=1e-12)
    assert max(psi.chi) <= 8


def test_random_start_keeps_the_quantum_numbers_and_its_seed_fixes_it():
    from sksr.references.dmrg.start_states import random_start_mps

    system = System("Li", [3], [0.0], 3, 1)
    sites = build_model(system, GRID_33).lat.mps_sites()
    first, again, other = (random_start_mps(sites, system, GRID_33, seed) for seed in (1, 1, 2))
    assert np.sum(first.expectation_value("Nu")) == pytest.approx(2.0, abs=1e-10)
    assert np.sum(first.expectation_value("Nd")) == pytest.approx(1.0, abs=1e-10)
    assert max(first.chi) > 1  # entangled, unlike the product state it starts from
    assert first.overlap(again) == pytest.approx(1.0, abs=1e-12)
    assert abs(first.overlap(other)) < 0.99


def test_unconverged_run_raises_with_the_last_energy_change():
    settings = DMRGSettings(max_sweeps=2, min_sweeps=1, start_state="product", chi_schedule=[[0, 4]])
    with pytest.raises(DMRGNotConvergedError,
                       match=r"He: DMRG \(product start\) not converged after 2 sweeps: last energy change"):
        run_dmrg(System("He", [2], [0.0], 2, 0), GRID_33, settings)


def test_interrupted_run_resumes_from_checkpoint(tmp_path, caplog):
    system = System("H2", [1, 1], [-1.0, 1.0], 2, 0)
    grid = Grid(num_points=17, spacing=0.5)
    settings = DMRGSettings(checkpoint_every=1)
    reference = run_dmrg(system, grid, settings)
    checkpoint = tmp_path / "H2.ckpt.npz"
    class Interrupted(Exception):
        pass

    def interrupt_after_two(sweeps):
        if sweeps == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_dmrg(system, grid, settings, checkpoint_path=checkpoint, after_sweep=interrupt_after_two)
    assert checkpoint.exists()
    with caplog.at_level(logging.INFO, logger="sksr.references.dmrg"):
        resumed = run_dmrg(system, grid, settings, checkpoint_path=checkpoint)
    assert resumed.resumed_from_sweep == 2
    assert "resuming from" in caplog.text
    assert len(resumed.history) >= 3 and resumed.history.energy[:2] == reference.history.energy[:2]
    assert resumed.energy == pytest.approx(reference.energy, abs=1e-10)
    np.testing.assert_allclose(resumed.density_up, reference.density_up, atol=1e-7)
    # A different problem refuses the checkpoint instead of silently resuming it.
    other = DMRGSettings(checkpoint_every=1, energy_tolerance=1e-9)
    with pytest.raises(ValueError, match="different system/grid/settings"):
        load_checkpoint(checkpoint, build_model(system, grid).lat.mps_sites(),
                        problem_fingerprint(system, grid, other))


def test_mps_arrays_round_trip():
    system = System("Li", [3], [0.0], 3, 1)
    result = run_dmrg(system, GRID_9)
    sites = build_model(system, GRID_9).lat.mps_sites()
    restored = mps_from_arrays(sites, mps_to_arrays(result.psi))
    assert abs(restored.overlap(result.psi)) == pytest.approx(1.0, abs=1e-12)


def test_settings_from_dict_defaults_and_errors():
    settings = DMRGSettings.from_dict({"energy_tolerance": 1e-9, "chi_schedule": {0: 8, 3: 16}})
    assert settings.energy_tolerance == 1e-9 and settings.chi_schedule == ((0, 8), (3, 16))
    assert settings.chi_at(0) == 8 and settings.chi_at(2) == 8 and settings.chi_at(10) == 16
    assert DMRGSettings.from_dict(settings.to_dict()) == settings
    assert DMRGSettings.from_dict(None) == DMRGSettings()
    with pytest.raises(ValueError, match=r"unknown settings \['chi_max_typo'\]"):
        DMRGSettings.from_dict({"chi_max_typo": 3})
    with pytest.raises(ValueError, match="dmrg.max_sweeps must be a integer"):
        DMRGSettings.from_dict({"max_sweeps": 2.5})
    with pytest.raises(ValueError, match="dmrg.energy_tolerance must be positive"):
        DMRGSettings.from_dict({"energy_tolerance": -1.0})
    with pytest.raises(ValueError, match="dmrg.chi_schedule must start at sweep 0"):
        DMRGSettings.from_dict({"chi_schedule": [[1, 8]]})
    with pytest.raises(ValueError, match="dmrg.start_state must be one of"):
        DMRGSettings.from_dict({"start_state": "ionic"})


@pytest.mark.slow
@pytest.mark.parametrize("name, charge, electrons, published, tolerance",
                         [("He", 2, 2, -2.2377818497, 1e-7), ("Be", 4, 4, -6.8105825987, 1e-6)])
def test_paper_grid_matches_published_dmrg(name, charge, electrons, published, tolerance):
    result = run_dmrg(System(name, [charge], [0.0], electrons, 0), PAPER_GRID)
    assert result.energy < published + tolerance  # variational: lower is allowed
    assert result.energy == pytest.approx(published, abs=max(tolerance, 1e-6))
    assert PAPER_GRID.integrate(result.density_up + result.density_down) == pytest.approx(electrons, abs=1e-8)
