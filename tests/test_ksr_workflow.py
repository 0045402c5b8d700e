"""The KSR study as a config of the shared DAG (config/ksr.yaml): curves expanded into systems, the
study's DAG, curve-error tables, and the checks a bad curve config gets."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from sksr.core.curves import curve_members, grid_steps
from sksr.evaluation.curve_errors import curve_error_rows, curve_error_summary, curve_errors_markdown
from sksr.io.provenance import lookup
from sksr.pipeline.config_files import check_files
from sksr.pipeline.workflow_config import ConfigError, expand_curves
from test_workflow import ROOT, job_counts, snakemake

KSR = ROOT / "config" / "ksr.yaml"
KSR_SMOKE = ROOT / "config" / "ksr_smoke.yaml"


def test_study_config_expands_the_curves_and_splits_the_h2_curve_as_the_study():
    """72 H2, 50 H2+, 63 H4 and 31 H2-H2 geometries; the test split is every odd-m H2 separation but the
    four validation ones."""
    config = check_files([KSR]).config  # schema and semantic checks pass; the curves as written
    members = curve_members(config["curves"], config["grid"]["spacing"])
    assert {c: len(m) for c, m in members.items()} == {"H2": 72, "H2+": 50, "H4": 63, "H2-H2": 31}
    odd = {name for r, name in members["H2"] if grid_steps(r, 0.08) % 2 == 1}
    split = config["split"]
    assert set(split["test"]) == odd - set(split["validation"]) and len(split["test"]) == 32
    assert set(split["train"]) == {"H2-R1.28", "H2-R3.84"}


def test_curve_systems_join_the_systems_and_keep_dotted_names_addressable():
    config = {"grid": {"num_points": 513, "spacing": 0.08}, "curves": {"H2": {"first": 1.28, "last": 1.44, "step": 0.08}}}
    assert expand_curves(config) == []
    assert list(config["systems"]) == ["H2-R1.28", "H2-R1.36", "H2-R1.44"]
    assert lookup(config, "systems.H2-R1.36")["nuclear_positions"] == pytest.approx([-0.64, 0.72])
    assert lookup(config, "systems.H2-R1.28.n_electrons") == 2
    with pytest.raises(KeyError, match="systems.H2-R9"):
        lookup(config, "systems.H2-R9.99")


@pytest.mark.parametrize(
    "curves, words",
    [
        ({"H2": {"first": 1.30, "last": 1.46, "step": 0.08}}, ["curves.H2", "1.3", "grid steps"]),
        ({"H2": {"first": 1.28, "last": 2.0, "step": 0.16}}, ["curves.H2", "stop 2.0"]),
    ],
)
def test_bad_curves_are_named(curves, words):
    config = {"grid": {"num_points": 513, "spacing": 0.08}, "curves": curves}
    problems = "\n".join(expand_curves(config))
    for word in words:
        assert word in problems, problems


def test_a_curve_system_given_twice_is_refused(tmp_path):
    config = yaml.safe_load(KSR_SMOKE.read_text())
    config["systems"] = {"H2-R1.28": {"nuclear_charges": [1, 1], "nuclear_positions": [-0.64, 0.64],
                                      "n_electrons": 2, "n_unpaired": 0}}
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="H2-R1.28.*also given under systems"):
        check_files([path])


def test_curve_error_summary_finds_the_largest_error_and_where():
    members = {"H2": [(1.0, "a"), (2.0, "b"), (3.0, "c")]}
    references = {"a": (-1.0, None), "b": (-1.1, None), "c": (-1.05, None)}
    method = {"a": (-1.0005, None), "b": (-1.1 + 0.003, None), "c": (-1.05 - 0.001, None)}
    long = curve_error_rows({"m": method}, references, members, {"a": "train", "b": "test", "c": "test"})
    summary = curve_error_summary(long).set_index("scope")
    assert summary.loc["test", "count"] == 2
    assert summary.loc["test", "max_abs_error_mha"] == pytest.approx(3.0)
    assert summary.loc["test", "at_separation"] == 2.0
    assert summary.loc["test", "mae_mha"] == pytest.approx(2.0)
    assert not summary.loc["test", "within_chemical_accuracy"]
    assert summary.loc["train", "within_chemical_accuracy"]
    assert summary.loc["all", "count"] == 3 and "validation" not in summary.index
    assert "| m | H2 | test | 2 | 2.000 | 3.000 | 2.00 | no |" in curve_errors_markdown(summary.reset_index())


def test_study_dag_shares_the_rules():
    """The KSR study is the same rules: a reference per geometry, the three KSR models, the published
    KSR baselines, the curve figure with the checkpoints' curves, the curve-error table; no IP/AE tables;
    and the generalization experiment: 9 N_train x (2 KSR methods x 3 seeds + direct ML)."""
    out = snakemake("-n", "--forceall", "--configfile", str(KSR)).stdout
    counts = job_counts(out)
    assert counts["reference"] == 72 + 50 + 63 + 31
    assert counts["train_seed"] == 3 * 10 and counts["evaluate_seed"] == 3 * 10 and counts["select_seed"] == 3
    assert counts["baseline"] == 3 and counts["direct_ml"] == 1 and counts["checkpoint_predictions"] == 1
    assert "results/predictions/published-ksr-global-h2-h4.npz" in out
    assert "figures/dissociation_curves.png" in out and "figures/tables/curve_errors.md" in out
    assert "ionization_potentials" not in out and "figures/dmrg_convergence.png" in out
    assert "results/training/ksr-global/checkpoint_predictions.npz" in out
    assert counts["generalization_dataset"] == 9 + 1 and counts["generalization_direct_ml"] == 9
    assert counts["generalization_train_seed"] == 9 * 2 * 3 == counts["generalization_evaluate_seed"]
    assert counts["generalization_select_seed"] == 9 * 2 and counts["learning_curve"] == 1
    assert "figures/learning_curve.png" in out and "figures/generalization_curves.png" in out
    # the experiment's training (and the datasets and direct ML it waits on) runs as soon as its own
    # references are done, ahead of the references that only the test sets need
    priorities = job_priorities(out)
    references = [p for rule, p in priorities if rule == "reference"]
    untrained = max(p for p in references if p < 10)  # 1-4 electrons; training needs are 11-14
    for rule in ("generalization_dataset", "generalization_train_seed", "generalization_direct_ml"):
        assert {p for r, p in priorities if r == rule} == {5}, rule
    assert untrained == 4 < 5 < min(p for p in references if p >= 10)


def job_priorities(output: str) -> list[tuple[str, int]]:
    """(rule, priority) of every job of a dry run (0 when none is printed)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", output):
        header = re.match(r"(?:local)?rule (\w+):\n", block)
        if header:
            priority = re.search(r"^    priority: (\d+)$", block, flags=re.M)
            jobs.append((header.group(1), int(priority.group(1)) if priority else 0))
    return jobs


def test_study_tables_read_no_nan_for_missing_ip_and_ae():
    """Without ionization pairs and fragments, the error summary of a method has NaN IP/AE MAEs, not a crash."""
    from sksr.evaluation.tables import method_error_summary

    refs = {"x": (-1.0, np.ones(5))}
    values = {"x": (-1.001, np.ones(5)), "_spacing": 0.1}
    settings = {"split": {"train": [], "validation": [], "test": ["x"]}, "atomization_fragments": {},
                "ionization_pairs": {}, "grid": {"spacing": 0.1}}
    summary = method_error_summary(values, refs, {}, settings)
    assert summary["test_mae"] == pytest.approx(1e-3)
    assert np.isnan(summary["ip_mae"]) and np.isnan(summary["ae_mae"])


def test_direct_ml_fits_its_training_energies_and_predicts_without_densities():
    """Two H2 geometries on a small grid: L-BFGS-B drives the training loss to ~0 (832 parameters); the
    gradient is exact (central differences); predictions carry energies only."""
    import jax

    from sksr.core.curves import hydrogen_molecule
    from sksr.core.grid import Grid
    from sksr.training.direct_ml import direct_loss, direct_predictions, fit_direct_ml, init_direct_params, potentials

    grid = Grid(129, 0.16)
    train_systems = [hydrogen_molecule(r, grid.spacing) for r in (1.28, 3.20)]
    train = (potentials(train_systems, grid), np.array([-1.40, -1.25]), np.array([2.0, 2.0]))
    validation = (potentials([hydrogen_molecule(2.24, grid.spacing)], grid), np.array([-1.3]), np.array([2.0]))
    settings = {"max_evaluations": 300, "lbfgs_history": 20, "lbfgs_factr": 1.0, "lbfgs_pgtol": 1e-14}

    params = init_direct_params(0)
    loss = lambda p: direct_loss(p, *train, grid.spacing)  # noqa: E731
    gradient = jax.grad(loss)(params)["conv_out"][3, 0]
    step = 1e-6
    plus = dict(params, conv_out=params["conv_out"].at[3, 0].add(step))
    minus = dict(params, conv_out=params["conv_out"].at[3, 0].add(-step))
    assert float(gradient) == pytest.approx(float(loss(plus) - loss(minus)) / (2 * step), rel=1e-6)

    fit = fit_direct_ml(train, validation, grid.spacing, 0, settings)
    assert sum(np.size(v) for v in fit["params"].values()) == 832
    assert fit["train_loss"] < 1e-8 < float(loss(params))
    predictions = direct_predictions(fit["params"], train_systems, grid)
    assert predictions["energies"].shape == (2, 1)
    np.testing.assert_allclose(predictions["energies"][:, 0], train[1], atol=2e-4)
    assert np.isnan(predictions["densities"]).all()


def test_h2_plus_reference_is_the_exact_five_point_eigenvalue():
    """The reference job's path for H2+ (compute_reference, one electron) gives the lowest eigenvalue of the
    5-point one-electron Hamiltonian, computed here independently with a banded LAPACK solver."""
    import scipy.linalg

    from sksr.core.curves import hydrogen_molecule
    from sksr.core.grid import PAPER_GRID
    from sksr.core.hamiltonian import external_potential, kinetic_stencil
    from sksr.references.self_checked import compute_reference

    for separation in (1.28, 4.00, 8.48):
        system = hydrogen_molecule(separation, PAPER_GRID.spacing, n_electrons=1)
        diagonal, first, second = kinetic_stencil(PAPER_GRID)
        bands = np.zeros((3, PAPER_GRID.num_points))  # lower form: diagonal, first, second sub-diagonal
        bands[0] = diagonal + external_potential(system, PAPER_GRID)
        bands[1, :-1], bands[2, :-2] = first, second
        exact = scipy.linalg.eig_banded(bands, lower=True, eigvals_only=True, select="i", select_range=(0, 0))[0]
        assert compute_reference(system, PAPER_GRID).total_energy == pytest.approx(exact, abs=1e-11)


def test_stretched_h2_reference_tends_to_two_hydrogen_atoms():
    """Our exact H2 curve (tests/data/ksr_h2_exact_curve.json, exact diagonalization) approaches 2 E_H from
    below: the binding E + E_NN - 2 E_H is negative and shrinks monotonically over the last 2 bohr, and is
    below 0.3 mHa at R = 6 bohr."""
    import json

    from sksr.core.grid import PAPER_GRID
    from sksr.core.systems import System
    from sksr.references.self_checked import compute_reference

    curve = json.loads((ROOT / "tests" / "data" / "ksr_h2_exact_curve.json").read_text())["points"]
    e_h = compute_reference(System("H", (1,), (0.0,), 1, 1), PAPER_GRID).total_energy
    stretched = [p for p in curve if p["separation"] >= 4.0]
    binding = np.array([p["electronic_energy"] + p["nuclear_repulsion"] - 2 * e_h for p in stretched])
    assert np.all(binding < 0) and np.all(np.diff(binding) > 0)
    assert stretched[-1]["separation"] == 6.0 and abs(binding[-1]) < 3e-4
