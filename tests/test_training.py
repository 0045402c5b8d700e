"""Training (sksr.training): settings, L-BFGS reduces the loss, determinism, checkpoints, seed selection.

Targets are LSDA-generated (self-consistent LSDA energies shifted by 5 mHa and densities on a tiny grid):
stand-ins with the right shape for optimizer tests, not exact many-body references.
"""

import csv
import json

import numpy as np
import pytest

from sksr.core.systems import System
from sksr.functionals import neural as nn
from sksr.pipeline.workflow_config import TRAINING_JOB_KEYS
from sksr.training import objective
from sksr.training.batched_seeds import train_seeds_batched
from sksr.training.optimizer import train_seed
from sksr.training.selection import SelectionError, select_best_seed
from sksr.training.settings import TrainingSettings

from conftest import lsda_stand_in_data

TRAIN = [System("H", [1], [0.0], 1, 1), System("He", [2], [0.0], 2, 0)]
VALID = [System("Li", [3], [0.0], 3, 1)]
SETTINGS = TrainingSettings(max_evaluations=12, num_iterations=6, checkpoint_every=5, network_float32=False)


@pytest.fixture(scope="module")
def data():
    return (*lsda_stand_in_data(TRAIN), *lsda_stand_in_data(VALID))


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_settings_from_config():
    config = {
        "max_evaluations": 50,
        "checkpoint_every": 5,
        "energy_loss_weight": 0.25,
        "lbfgs_history": 20,
        "models": ["global"],
        "num_seeds": 30,
        "gpu": 1,
        "threads": 2,
    }  # the workflow's job-layout keys, ignored when passed as such
    settings = TrainingSettings.from_config(config, ignore=TRAINING_JOB_KEYS)
    with pytest.raises(ValueError, match="unknown keys"):
        TrainingSettings.from_config(config)
    assert settings.max_evaluations == 50 and settings.energy_loss_weight == 0.25
    assert settings.loss_settings().energy_weight == 0.25
    with pytest.raises(ValueError, match="max_evalutions"):
        TrainingSettings.from_config({"max_evalutions": 5})
    with pytest.raises(ValueError, match="checkpoint_every"):
        TrainingSettings.from_config({"checkpoint_every": 2.5})
    with pytest.raises(ValueError, match="network_float32"):
        TrainingSettings.from_config({"network_float32": "yes"})
    with pytest.raises(ValueError, match="kept_iterations"):
        TrainingSettings(num_iterations=5, kept_iterations=6)
    assert TrainingSettings.from_config(settings.to_dict()) == settings


def test_lbfgs_reduces_the_loss_and_writes_the_run(data, tmp_path):
    record = train_seed("lsda", 0, *data, SETTINGS, tmp_path / "run")
    run = tmp_path / "run"
    rows = _rows(run / "evaluations.csv")
    count = record["num_evaluations"]
    assert [int(r["evaluation"]) for r in rows] == list(range(count))  # numbered from 0, the initialization
    assert 12 < count <= 12 + 20  # SciPy's maxfun: stop at the first iteration boundary past 12
    losses = np.array([float(r["loss"]) for r in rows])
    assert np.all(np.isfinite(losses))
    assert losses.min() < 0.5 * losses[0]
    assert record["status"] == "ok"
    expected = list(range(0, count, 5))
    assert record["checkpoints"] == expected  # evaluations 0, 5, 10, ...
    for evaluation in expected:
        spec, params, metadata = nn.load_params(run / "checkpoints" / f"eval_{evaluation:06d}")
        assert metadata["evaluation"] == evaluation
        assert metadata["train_loss"] == pytest.approx(losses[evaluation], rel=1e-15)
    validation = _rows(run / "validation.csv")
    assert [int(r["evaluation"]) for r in validation] == expected
    best = min(validation, key=lambda r: float(r["loss"]))
    assert record["selected"]["evaluation"] == int(best["evaluation"])
    assert record["selected"]["validation_loss"] == float(best["loss"])
    assert json.loads((run / "run.json").read_text())["environment"]["jax_devices"]
    assert (run / "best.npz").exists() and not list(run.glob(".*.tmp"))


def test_energy_validation_picks_the_checkpoint_with_the_lowest_validation_energy(data, tmp_path):
    """validation_loss "energy" (the KSR study): the checkpoint with the lowest energy term is selected and
    its record says so; the optimization itself is the same as with "total"."""
    settings = TrainingSettings(max_evaluations=12, num_iterations=6, checkpoint_every=3, validation_loss="energy")
    record = train_seed("lsda", 0, *data, settings, tmp_path / "run")
    validation = _rows(tmp_path / "run" / "validation.csv")
    best = min(validation, key=lambda r: float(r["energy_loss"]))
    assert record["selected"]["evaluation"] == int(best["evaluation"])
    assert record["selected"]["validation_loss"] == float(best["energy_loss"])
    assert record["selected"]["validation_criterion"] == "energy"
    assert record["selected"]["validation_total_loss"] == float(best["loss"])
    with pytest.raises(ValueError, match="validation_loss"):
        TrainingSettings(validation_loss="density")


@pytest.mark.parametrize("float32", [False, True])
def test_same_seed_gives_identical_parameters_on_cpu(data, tmp_path, float32):
    settings = TrainingSettings(max_evaluations=6, num_iterations=6, checkpoint_every=3, network_float32=float32)
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        train_seed("lsda", 3, *data, settings, run)
    first, second = (nn.load_params(run / "checkpoints" / "eval_000006")[1] for run in runs)
    for name in first:
        np.testing.assert_array_equal(np.asarray(first[name]), np.asarray(second[name]))
    assert _rows(runs[0] / "evaluations.csv")[-1]["loss"] == _rows(runs[1] / "evaluations.csv")[-1]["loss"]


def test_batched_seeds_follow_the_single_seed_runs(data, tmp_path):
    settings = TrainingSettings(max_evaluations=6, num_iterations=6, checkpoint_every=3, network_float32=False)
    records = train_seeds_batched("lsda", [3, 4], *data, settings, [tmp_path / "s3", tmp_path / "s4"])
    assert [r["status"] for r in records] == ["ok", "ok"]
    train_seed("lsda", 3, *data, settings, tmp_path / "single3")
    batched = [float(r["loss"]) for r in _rows(tmp_path / "s3" / "evaluations.csv")]
    single = [float(r["loss"]) for r in _rows(tmp_path / "single3" / "evaluations.csv")]
    np.testing.assert_allclose(batched, single, rtol=1e-9)  # same algorithm; vmapped rounding only
    selection = select_best_seed([tmp_path / "s3", tmp_path / "s4"], tmp_path / "selected", max_validation_loss=1.0)
    assert selection["selected"]["seed"] in (3, 4)
    assert (tmp_path / "selected" / "params.npz").exists()


def test_non_finite_loss_fails_the_seed(data, tmp_path, monkeypatch):
    original = objective._Problem.loss_and_gradient
    calls = {"n": 0}

    def poisoned(self, vector):
        calls["n"] += 1
        parts, gradient = original(self, vector)
        if calls["n"] == 4:
            return parts._replace(total=float("nan")), gradient
        return parts, gradient

    monkeypatch.setattr(objective._Problem, "loss_and_gradient", poisoned)
    record = train_seed("lsda", 1, *data, SETTINGS, tmp_path / "bad")
    assert record["status"] == "failed"
    assert (
        "non-finite training loss" in record["failure_reason"] and "evaluation 3" in record["failure_reason"]
    )  # the 4th call is evaluation 3 (numbered from 0)
    assert record["selected"] is None and not (tmp_path / "bad" / "best.npz").exists()
    assert len(_rows(tmp_path / "bad" / "evaluations.csv")) == 4  # stopped at the bad evaluation


def _fake_run(root, seed, validation_loss, status="ok"):
    """A run directory as train_seed writes it (record + best params), without training."""
    run = root / f"seed_{seed:03d}"
    spec = nn.NeuralXCSpec("lsda")
    record = {
        "model_kind": "lsda",
        "seed": seed,
        "status": status,
        "selected": None,
        "failure_reason": None if status == "ok" else "non-finite training loss (nan) at evaluation 7",
    }
    if status == "ok":
        nn.save_params(run / "best", spec, nn.init_params(spec, seed), {"seed": seed})
        record["selected"] = {
            "evaluation": 10,
            "train_loss": 1.0,
            "validation_loss": validation_loss,
            "params": "best.npz",
        }
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(json.dumps(record))
    return run


def test_selection_picks_the_minimum_and_skips_failed_seeds(tmp_path):
    runs = [
        _fake_run(tmp_path, 0, 3e-4),
        _fake_run(tmp_path, 1, 1e-4),
        _fake_run(tmp_path, 2, 0.0, "failed"),
        _fake_run(tmp_path, 3, 2e-4),
        tmp_path / "never_finished",
    ]
    selection = select_best_seed(runs, tmp_path / "out")
    assert selection["selected"]["seed"] == 1
    assert sorted(f["seed"] for f in selection["failed"] if f["seed"] is not None) == [2]
    assert any("run.json: missing" in f["reason"] for f in selection["failed"])
    assert json.loads((tmp_path / "out" / "selection.json").read_text())["selected"]["seed"] == 1
    _, params, _ = nn.load_params(tmp_path / "out" / "params")
    np.testing.assert_array_equal(
        np.asarray(params["dense_0"]), np.asarray(nn.init_params(nn.NeuralXCSpec("lsda"), 1)["dense_0"])
    )
    # Ties go to the lower seed.
    tie = [_fake_run(tmp_path / "tie", 5, 1e-4), _fake_run(tmp_path / "tie", 4, 1e-4)]
    assert select_best_seed(tie)["selected"]["seed"] == 4


def test_selection_fails_clearly_when_every_seed_failed(tmp_path):
    runs = [_fake_run(tmp_path, 0, 0.0, "failed"), _fake_run(tmp_path, 1, 0.0, "failed")]
    with pytest.raises(SelectionError, match=r"every seed failed.*seed 0.*non-finite.*seed 1"):
        select_best_seed(runs)
    with pytest.raises(SelectionError, match="no runs"):
        select_best_seed([])


def test_an_evaluation_that_raises_fails_only_that_seed(data, tmp_path, monkeypatch):
    """The batched call raising falls back to one-by-one evaluation; the seed whose evaluation raises fails."""
    settings = TrainingSettings(max_evaluations=6, num_iterations=6, checkpoint_every=3, network_float32=False)
    original = objective._Problem.loss_and_gradient
    bad_seed_start = nn.flatten_params(nn.NeuralXCSpec("lsda"), nn.init_params(nn.NeuralXCSpec("lsda"), 4))

    def batched_raises(self, vectors):
        raise RuntimeError("eigensolver refused a non-finite potential")

    def single_raises_for_seed_4(self, vector):
        if np.array_equal(vector, bad_seed_start):
            raise RuntimeError("eigensolver refused a non-finite potential")
        return original(self, vector)

    monkeypatch.setattr(objective._Problem, "batched_loss_and_gradient", batched_raises)
    monkeypatch.setattr(objective._Problem, "loss_and_gradient", single_raises_for_seed_4)
    records = train_seeds_batched("lsda", [3, 4], *data, settings, [tmp_path / "s3", tmp_path / "s4"])
    assert records[0]["status"] == "ok" and records[0]["num_evaluations"] > 6
    assert records[1]["status"] == "failed"
    assert "evaluation 0 raised RuntimeError" in records[1]["failure_reason"]
    assert select_best_seed([tmp_path / "s3", tmp_path / "s4"], max_validation_loss=1.0)["selected"]["seed"] == 3
