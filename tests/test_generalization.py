"""The KSR generalization experiment (config generalization): the four-proton curves, the training sets,
their checks, and the learning-curve scores."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sksr.core import curves
from sksr.core.hamiltonian import exponential_interaction, nuclear_repulsion
from sksr.evaluation.learning_curve import (
    first_within_chemical_accuracy,
    learning_curve_markdown,
    learning_curve_table,
)
from sksr.pipeline.config_files import check_files
from sksr.pipeline.workflow_config import ConfigError
from sksr.training import training_sets
from test_ksr_workflow import KSR, KSR_SMOKE

H = 0.08


def test_h4_chain_is_equally_spaced_on_grid_points_and_placed_like_h2():
    for separation in (1.04, 1.12, 6.00):
        system = curves.curve_system("H4", separation, H)
        x = np.array(system.nuclear_positions)
        assert np.allclose(np.diff(x), separation) and system.n_electrons == 4 and system.n_unpaired == 0
        assert np.allclose(x / H, np.round(x / H), atol=1e-9)  # every proton on a grid point
        m = curves.grid_steps(separation, H)
        centre = 0.0 if (3 * m) % 2 == 0 else H / 2  # the H2 rule for the whole chain
        assert (x[0] + x[-1]) / 2 == pytest.approx(centre)
    assert curves.curve_system("H4", 1.04, H).name == "H4-R1.04"


def test_h2_pair_keeps_its_bonds_and_opens_the_gap():
    for gap in (0.16, 0.48, 9.92):
        x = np.array(curves.curve_system("H2-H2", gap, H).nuclear_positions)
        assert np.diff(x) == pytest.approx([curves.H2_H2_BOND, gap, curves.H2_H2_BOND])
        assert x[0] + x[-1] == pytest.approx(0.0)  # 2 x 19 + even steps: always centred
    gap = 9.92
    far = curves.curve_system("H2-H2", gap, H)
    h2 = curves.curve_system("H2", curves.H2_H2_BOND, H)
    # E_NN = two H2 bonds + the four proton pairs across the gap (d, d + b twice, d + 2b)
    b = curves.H2_H2_BOND
    across = sum(float(exponential_interaction(d)) for d in (gap, gap + b, gap + b, gap + 2 * b))
    assert nuclear_repulsion(far) == pytest.approx(2 * nuclear_repulsion(h2) + across, rel=1e-12)


def test_chain_positions_refuses_non_positive_steps():
    with pytest.raises(ValueError, match="positive neighbour distances"):
        curves.chain_positions([3, 0, 3], H)


def _section():
    return copy.deepcopy(check_files([KSR]).config["generalization"])


def test_training_sets_are_spread_over_the_pool_and_never_touch_validation_or_test():
    section = _section()
    sets = training_sets.training_sets(section)
    assert list(sets) == [4, 6, 8, 10, 12, 14, 16, 18, 20]
    tests = {n for names in training_sets.test_sets(section).values() for n in names}
    held_out = set(section["validation"]) | tests
    for n_train, names in sets.items():
        h2 = [n for n in names if n.startswith("H2-R")]
        h4 = [n for n in names if n.startswith("H4-R")]
        assert len(h2) == len(h4) == n_train and len(set(names)) == 2 * n_train
        assert not held_out & set(names)
        assert h2[0] == "H2-R0.32" and h2[-1] == "H2-R5.92"  # first and last of the pool
        assert h4[0] == "H4-R1.12" and h4[-1] == "H4-R5.92"
    # every training geometry is centred (even m), so reflection symmetry holds about x = 0
    for name in sets[20]:
        molecule, r = name.rsplit("-R", 1)
        x = curves.curve_system(molecule, float(r), H).nuclear_positions
        assert x[0] + x[-1] == pytest.approx(0.0)
    assert training_sets.training_set(section, 8) == sets[8]  # reproducible


def test_test_sets_of_the_study():
    tests = training_sets.test_sets(_section())
    assert {k: len(v) for k, v in tests.items()} == {"H2": 32, "H4": 28, "H2+": 50, "H2-H2": 31}
    assert tests["H2-H2"][:2] == ["H2-H2-R0.16", "H2-H2-R0.48"]  # odd multiples of 0.16 bohr


def test_evenly_spread_is_exact_for_small_cases():
    pool = list("abcdefg")
    assert training_sets.evenly_spread(pool, 2) == ["a", "g"]
    assert training_sets.evenly_spread(pool, 4) == ["a", "c", "e", "g"]
    assert training_sets.evenly_spread(pool, 7) == pool
    with pytest.raises(ValueError, match="cannot take 8"):
        training_sets.evenly_spread(pool, 8)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s: s.update(n_train=[4, 40]), ["generalization.n_train", "40 exceeds"]),
        (lambda s: s.update(curves_at=5), ["generalization.curves_at", "5"]),
        (lambda s: s["validation"].append("H4-R9.00"), ["generalization.validation", "H4-R9.00"]),
        (lambda s: s["pool"].update(H2={"first": 0.40, "last": 6.00, "step": 0.16}), ["pool and test share"]),
        (lambda s: s["test"].update(H2={"first": 0.40, "last": 6.32, "step": 0.16}),
         ["generalization.test.H2", "not among the systems", "H2-R6.16"]),
        (lambda s: s.pop("pool"), ["generalization.pool: required"]),
        (lambda s: s.update(validation=[]), ["generalization.validation: required"]),
        (lambda s: s.update(training={"lbfgs_factr": 10.0}), ["generalization.training", "lbfgs_factr"]),
        (lambda s: s.update(training={"network_float32": "no"}), ["generalization.training", "network_float32"]),
        (lambda s: s.update(training={"max_evaluations": 0}), ["generalization.training", "max_evaluations"]),
    ],
)
def test_bad_generalization_config_is_named_before_any_job(tmp_path, change, words):
    import yaml

    config = yaml.safe_load(KSR.read_text())
    change(config["generalization"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as error:
        check_files([path])
    for word in words:
        assert word in str(error.value), str(error.value)


def test_learning_curve_scores_each_test_set_and_finds_where_chemical_accuracy_holds():
    exact = {"a": -1.0, "b": -2.0, "c": -3.0}
    tests = {"A": ["a", "b"], "C": ["c"]}
    predictions = {
        (4, "ksr"): {"a": -1.002, "b": -2.004, "c": -3.0},
        (8, "ksr"): {"a": -1.001, "b": -2.0005, "c": -3.0001},
        (4, "direct-ml"): {"a": -1.01, "b": -2.0, "c": -3.1},
        (8, "direct-ml"): {"a": -1.0, "b": -2.001, "c": -3.0},
    }
    table = learning_curve_table(predictions, exact, tests)
    row = table[(table.n_train == 4) & (table.method == "ksr") & (table.test_set == "A")].iloc[0]
    assert row.mae_mha == pytest.approx(3.0) and row.max_abs_error_mha == pytest.approx(4.0)
    assert row.at_system == "b" and not row.within_chemical_accuracy
    assert first_within_chemical_accuracy(table, "A") == {"direct-ml": 8, "ksr": 8}
    assert first_within_chemical_accuracy(table, "C") == {"direct-ml": 8, "ksr": 4}
    markdown = learning_curve_markdown(table, training_sets.METHOD_LABELS)
    assert "| 4 |" in markdown and "direct ML 8" in markdown


def test_smoke_study_runs_the_experiment_through_the_shared_dag():
    """The smoke config's generalization experiment is in the DAG (CI runs it end to end)."""
    from test_workflow import job_counts, snakemake

    out = snakemake("-n", "--forceall", "--configfile", str(KSR_SMOKE)).stdout
    counts = job_counts(out)
    assert counts["generalization_train_seed"] == 2 * 2 and counts["generalization_direct_ml"] == 2
    assert "results/generalization/n2/ksr-energy.npz" in out and "figures/tables/learning_curve.md" in out


def test_a_rule_override_reaches_the_script_and_is_recorded_apart_from_the_config(tmp_path):
    """Energy-only KSR: the script sees training.energy_loss_weight = 1; the record keeps the config's 0.5
    under settings (so the audit finds no config drift) and the 1 under extra.overrides."""
    from sksr.io import provenance
    from sksr.pipeline.audit import AuditReport, _check_config
    from test_issue10 import _FakeSnakemake

    smk = _FakeSnakemake(tmp_path, [])
    smk.params.settings = {"training.energy_loss_weight": 0.5}
    smk.params.overrides = {"training.energy_loss_weight": training_sets.ENERGY_ONLY_WEIGHT}
    with provenance.snakemake_job(smk) as job:
        seen = job.settings["training.energy_loss_weight"]
        (tmp_path / "out.npz").write_bytes(b"x")
    assert seen == 1.0
    record = provenance.load_record(tmp_path / "record.json")
    assert record["settings"] == {"training.energy_loss_weight": 0.5}
    assert record["extra"]["overrides"] == {"training.energy_loss_weight": 1.0}
    report = AuditReport()
    _check_config(record, {"training": {"energy_loss_weight": 0.5}}, report, "record.json")
    assert not report.findings


def test_the_experiments_training_settings_replace_the_training_sections_for_every_ksr_method():
    """generalization.training (the study: a float64 network and a larger budget) reaches both KSR
    methods; energy-only KSR adds its energy weight; an unknown method is refused by name."""
    section = _section()
    assert section["training"]["network_float32"] is False  # config/ksr.yaml: see docs/results_ksr.md
    full = training_sets.training_overrides(section, "ksr")
    energy_only = training_sets.training_overrides(section, "ksr-energy")
    assert full == {f"training.{k}": v for k, v in section["training"].items()}
    assert energy_only == {**full, "training.energy_loss_weight": training_sets.ENERGY_ONLY_WEIGHT}
    assert training_sets.training_overrides({}, "ksr") == {}
    unset = {"training": {"max_evaluations": None, "checkpoint_every": 50, "network_float32": None}}
    assert training_sets.training_overrides(unset, "ksr") == {"training.checkpoint_every": 50}
    with pytest.raises(ValueError, match="unknown generalization method 'ksr-gga'"):
        training_sets.training_overrides(section, "ksr-gga")
