"""The authors' training protocol (docs/physics.md section 8, "The published runs") as implemented.

Initialization statistics, evaluation 0 as a checkpoint, SciPy's maxfun counting, the selection threshold,
strict selection under the workflow, and exact resume of a killed seed from its replay log.
"""

import csv
import json

import numpy as np
import pytest
import scipy.optimize

from sksr.core.systems import System
from sksr.functionals import neural as nn
from sksr.training import objective, optimizer, replay, selection
from sksr.training.loss import LossParts
from sksr.training.optimizer import train_seed
from sksr.training.selection import SelectionError, select_best_seed
from sksr.training.settings import TrainingSettings

from conftest import lsda_stand_in_data

TRAIN = [System("H", [1], [0.0], 1, 1), System("He", [2], [0.0], 2, 0)]
VALID = [System("Li", [3], [0.0], 3, 1)]


@pytest.fixture(scope="module")
def data():
    return (*lsda_stand_in_data(TRAIN), *lsda_stand_in_data(VALID))


def _losses(run_dir):
    with open(run_dir / "evaluations.csv") as handle:
        return [(int(r["evaluation"]), r["loss"]) for r in csv.DictReader(handle)]


# ---- initialization -------------------------------------------------------------------------------
def test_kernels_are_he_normal_truncated_and_widths_start_near_1_24_bohr():
    spec = nn.NeuralXCSpec("global")
    samples = [nn.init_params(spec, seed) for seed in range(40)]
    conv = np.concatenate([np.asarray(p["conv_0"]).ravel() for p in samples])  # fan_in = 3 taps x 16
    std = np.sqrt(2.0 / 48)
    assert np.std(conv) == pytest.approx(std, rel=0.03)  # variance 2 / fan_in
    assert abs(np.mean(conv)) < 0.01
    # Truncated at two standard deviations of the underlying normal (rescaled by 1/0.8796).
    assert np.max(np.abs(conv)) <= 2 * std / 0.87962566103423978 + 1e-12
    assert np.max(np.abs(conv)) > 1.9 * std / 0.87962566103423978
    eta = np.concatenate([np.asarray(p["global_eta"]) for p in samples])
    assert np.std(eta) == pytest.approx(0.01, rel=0.15) and abs(np.mean(eta)) < 0.005
    widths = np.asarray(nn.global_widths(eta))
    assert np.all(np.abs(widths - 1.2427) < 0.05)  # 0.1 + 2.285345 * sigmoid(0) = 1.2427 bohr
    dense = np.asarray(nn.init_params(nn.NeuralXCSpec("lsda"), 0)["dense_0"])  # fan_in = 2
    assert dense.shape == (2, 16) and np.max(np.abs(dense)) <= 2 * 1.0 / 0.8796 + 1e-12


# ---- evaluation 0, checkpoints, maxfun ----------------------------------------------------------------
def test_evaluation_zero_is_the_initialization_and_a_checkpoint(data, tmp_path):
    settings = TrainingSettings(max_evaluations=7, num_iterations=6, checkpoint_every=3, network_float32=False)
    record = train_seed("lsda", 2, *data, settings, tmp_path / "run")
    evaluations = [n for n, _ in _losses(tmp_path / "run")]
    assert evaluations[0] == 0 and evaluations == list(range(record["num_evaluations"]))
    assert record["initialization"] == "random (seed)"
    assert record["checkpoints"] == [n for n in evaluations if n % 3 == 0]
    assert record["checkpoints"][0] == 0
    spec, params, metadata = nn.load_params(tmp_path / "run" / "checkpoints" / "eval_000000")
    initial = nn.init_params(spec, 2)
    for name in initial:
        np.testing.assert_array_equal(np.asarray(params[name]), np.asarray(initial[name]))
    with open(tmp_path / "run" / "validation.csv") as handle:
        assert [int(r["evaluation"]) for r in csv.DictReader(handle)] == record["checkpoints"]


def test_a_warm_start_begins_at_the_given_parameters_and_refuses_a_replay_log(data, tmp_path):
    settings = TrainingSettings(max_evaluations=4, num_iterations=6, checkpoint_every=3, network_float32=False)
    spec = nn.NeuralXCSpec("lsda")
    start = {name: 0.5 * np.asarray(value) for name, value in nn.init_params(spec, 7).items()}
    record = train_seed("lsda", 0, *data, settings, tmp_path / "run", initial_params=start)
    _, params, _ = nn.load_params(tmp_path / "run" / "checkpoints" / "eval_000000")
    for name in start:  # evaluation 0 is the warm start, not seed 0's initialization
        np.testing.assert_array_equal(np.asarray(params[name]), start[name])
    assert record["status"] == "ok" and record["num_evaluations"] >= 2
    assert record["initialization"] == "warm start"  # the run record says so
    with pytest.raises(ValueError, match="warm start"):
        train_seed("lsda", 0, *data, settings, tmp_path / "other", replay_dir=tmp_path / "replay",
                   initial_params=start)


class _Recorder:
    """A stand-in _SeedRun bookkeeper for _minimize on an analytic function (no files)."""

    def __init__(self, settings):
        self.settings, self.count, self.checkpoints, self.replay = settings, 0, [], None

    def replayed_evaluation(self, x):
        return None

    def log_evaluation(self, *args):
        pass

    def record(self, x, parts, gradient, wall):
        if self.count % self.settings.checkpoint_every == 0:
            self.checkpoints.append(self.count)
        self.count += 1
        return parts.total, gradient


@pytest.mark.parametrize("maxfun", [5, 30, 100, 1000])
def test_budget_counts_evaluations_exactly_as_scipy_fmin_l_bfgs_b(maxfun):
    """Our optimizer call makes the same number of evaluations as the authors' fmin_l_bfgs_b call."""

    def rosenbrock(x):
        return scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)

    x0 = np.linspace(-1.2, 1.0, 40)
    _, _, info = scipy.optimize.fmin_l_bfgs_b(rosenbrock, x0, m=20, factr=1, pgtol=1e-14, maxfun=maxfun)
    run = _Recorder(TrainingSettings(max_evaluations=maxfun))

    def evaluate(x):
        value, gradient = rosenbrock(x)
        return LossParts(value, value, 0.0), gradient, 0.0

    status, message = optimizer._minimize(evaluate, x0, run)
    assert status == "ok"
    assert run.count == info["funcalls"]
    if info["warnflag"] == 1:  # stopped by the budget: at the first iteration boundary past maxfun
        assert maxfun < run.count <= maxfun + 20
    else:  # converged (factr / pgtol) before the budget
        assert run.count <= maxfun


def test_paper_protocol_is_the_default():
    settings = TrainingSettings()
    assert (settings.max_evaluations, settings.lbfgs_history, settings.lbfgs_factr, settings.lbfgs_pgtol) == (
        300, 20, 1.0, 1e-14,
    )
    assert settings.network_float32 and settings.checkpoint_every == 10 and settings.kept_iterations == 1
    assert settings.energy_loss_weight == 0.5 and settings.num_iterations == 10
    assert selection.DEFAULT_MAX_VALIDATION_LOSS == 0.1


# ---- selection ----------------------------------------------------------------------------------------
def _fake_run(root, seed, validation_loss, status="ok"):
    run = root / f"seed{seed}"
    spec = nn.NeuralXCSpec("lsda")
    record = {"model_kind": "lsda", "seed": seed, "status": status, "selected": None,
              "failure_reason": None if status == "ok" else "non-finite training loss"}
    if status == "ok":
        nn.save_params(run / "best", spec, nn.init_params(spec, seed), {"seed": seed})
        record["selected"] = {"evaluation": 10, "train_loss": 1.0, "validation_loss": validation_loss,
                              "params": "best.npz"}
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(json.dumps(record))
    return run


def test_selection_threshold_excludes_seeds_at_or_above_it(tmp_path):
    runs = [_fake_run(tmp_path, 0, 0.1), _fake_run(tmp_path, 1, 0.3), _fake_run(tmp_path, 2, 0.09)]
    selection = select_best_seed(runs)
    assert selection["selected"]["seed"] == 2
    reasons = {f["seed"]: f["reason"] for f in selection["failed"]}
    assert set(reasons) == {0, 1} and "not below 0.1" in reasons[0]
    with pytest.raises(SelectionError, match="not below 0.05"):
        select_best_seed(runs, max_validation_loss=0.05)
    assert select_best_seed(runs, max_validation_loss=1.0)["selected"]["seed"] == 2


def test_workflow_selection_fails_loudly_on_a_missing_or_unreadable_record(tmp_path):
    runs = [_fake_run(tmp_path, 0, 1e-4), _fake_run(tmp_path, 1, 2e-4)]
    (runs[1] / "run.json").unlink()
    with pytest.raises(SelectionError, match=r"seed1/run.json: missing"):
        select_best_seed(runs, require_records=True)
    (runs[1] / "run.json").write_text("{not json")
    with pytest.raises(SelectionError, match=r"seed1/run.json: unreadable"):
        select_best_seed(runs, require_records=True)
    # A failed seed is a recorded, skipped seed, not an error.
    _fake_run(tmp_path, 1, 0.0, status="failed")
    assert select_best_seed(runs, require_records=True)["selected"]["seed"] == 0


# ---- resume -------------------------------------------------------------------------------------------
def test_a_killed_seed_resumes_from_its_replay_log_exactly(data, tmp_path, monkeypatch):
    settings = TrainingSettings(max_evaluations=9, num_iterations=6, checkpoint_every=3, network_float32=False)
    reference = train_seed("lsda", 5, *data, settings, tmp_path / "uninterrupted")

    original = objective._Problem.loss_and_gradient
    calls = {"n": 0}

    def killed_after_five(self, vector):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt  # stands in for SIGTERM/SIGKILL of the job
        return original(self, vector)

    monkeypatch.setattr(objective._Problem, "loss_and_gradient", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        train_seed("lsda", 5, *data, settings, tmp_path / "run", replay_dir=tmp_path / "replay")
    assert not (tmp_path / "run" / "run.json").exists()

    def counted(self, vector):
        calls["n"] += 1
        return original(self, vector)

    calls["n"] = 0
    monkeypatch.setattr(objective._Problem, "loss_and_gradient", counted)
    resumed = train_seed("lsda", 5, *data, settings, tmp_path / "run", replay_dir=tmp_path / "replay")
    assert _losses(tmp_path / "run") == _losses(tmp_path / "uninterrupted")  # bitwise (repr of floats)
    assert calls["n"] == reference["num_evaluations"] - 5  # the first five came from the log
    assert resumed["timing"]["replayed_evaluations"] == 5
    assert resumed["selected"] == reference["selected"]
    assert not (tmp_path / "replay" / "replay.f64").exists()  # removed once run.json exists


def test_the_replay_fingerprint_covers_seed_settings_data_and_code(data, monkeypatch):
    settings = TrainingSettings(num_iterations=6, network_float32=False)
    spec, train, _ = optimizer._problems("lsda", *data, settings)
    base = replay.run_fingerprint("lsda", 1, spec, settings, train)
    assert base == replay.run_fingerprint("lsda", 1, spec, settings, train)
    assert base != replay.run_fingerprint("lsda", 2, spec, settings, train)
    other = TrainingSettings(num_iterations=5, network_float32=False)
    assert base != replay.run_fingerprint("lsda", 1, spec, other, train)
    _, other_data, _ = optimizer._problems("lsda", data[0], data[1]._replace(energies=data[1].energies + 1e-9),
                                          data[2], data[3], settings)
    assert base != replay.run_fingerprint("lsda", 1, spec, settings, other_data)
    assert base != replay.run_fingerprint("lsda", 1, spec, settings, train, mode="batched:30")
    monkeypatch.setattr(replay, "runtime_fingerprint", lambda: ["gpu", ["H100"], ""])
    assert base != replay.run_fingerprint("lsda", 1, spec, settings, train)
    monkeypatch.undo()
    monkeypatch.setattr(replay, "code_fingerprint", lambda: "edited code")
    assert base != replay.run_fingerprint("lsda", 1, spec, settings, train)


def test_a_disk_error_in_the_replay_log_fails_the_job_not_the_seed(data, tmp_path, monkeypatch):
    settings = TrainingSettings(max_evaluations=4, num_iterations=6, checkpoint_every=2, network_float32=False)

    def disk_full(self, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(replay.ReplayLog, "append", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train_seed("lsda", 1, *data, settings, tmp_path / "run", replay_dir=tmp_path / "replay")
    assert not (tmp_path / "run" / "run.json").exists()  # no record saying "failed": the job reruns


def test_a_corrupt_replay_header_is_discarded(data, tmp_path):
    (tmp_path / "replay").mkdir()
    (tmp_path / "replay" / "replay.json").write_text("{torn")
    settings = TrainingSettings(max_evaluations=3, num_iterations=6, checkpoint_every=2, network_float32=False)
    record = train_seed("lsda", 1, *data, settings, tmp_path / "run", replay_dir=tmp_path / "replay")
    assert record["status"] == "ok" and record["timing"]["replayed_evaluations"] == 0


def test_a_replay_log_of_another_run_is_discarded(data, tmp_path):
    settings = TrainingSettings(max_evaluations=4, num_iterations=6, checkpoint_every=2, network_float32=False)
    log = replay.ReplayLog(tmp_path / "replay", "another run", 560, objective.LOGGER)
    log.append(np.zeros(560), LossParts(1.0, 1.0, 0.0), np.zeros(560), 0.1)
    log._file.close()
    record = train_seed("lsda", 1, *data, settings, tmp_path / "run", replay_dir=tmp_path / "replay")
    assert record["timing"]["replayed_evaluations"] == 0 and record["status"] == "ok"
