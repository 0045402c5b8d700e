"""One seed: SciPy L-BFGS-B on the KSR loss with the authors' settings (``sksr.training``), checkpoints,
then the selection of the best checkpoint on the validation batch (:func:`train_seed`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Mapping

import numpy as np
import scipy.optimize

from sksr.functionals.neural import MODEL_KINDS, flatten_params, init_params
from sksr.ks.scf import check_mirror_symmetric
from sksr.training.loss import References
from sksr.training.objective import LOGGER, _check_data, _grid_of, _Problem, _system_names
from sksr.training.records import _SeedFailed, _SeedRun, _validate_and_finish, environment_record
from sksr.training.replay import _replay_log
from sksr.training.settings import TrainingSettings, lbfgs_options


def _minimize(evaluate: Callable, x0: np.ndarray, run: _SeedRun) -> tuple[str, str | None]:
    """SciPy L-BFGS-B (the authors' settings) on ``evaluate(x) -> (LossParts, gradient, wall)``.

    Returns (status, message): ``"ok"`` when SciPy stopped by itself (maxfun, factr, pgtol or a stalled
    line search), ``"failed"`` when an evaluation was non-finite or raised.
    """

    def objective(x):
        x = np.asarray(x, dtype=np.float64)
        replayed = run.replayed_evaluation(x)
        if replayed is not None:
            return run.record(x, *replayed)
        try:
            parts, gradient, wall = evaluate(x)
        except (OSError, MemoryError):
            raise  # the machine, not the seed: fail the job so that it reruns (and resumes)
        except Exception as error:  # noqa: BLE001 -- an evaluation that raises fails this seed only
            raise _SeedFailed(f"evaluation {run.count} raised {type(error).__name__}: {error}") from error
        run.log_evaluation(x, parts, gradient, wall)
        return run.record(x, parts, gradient, wall)

    settings = run.settings
    try:
        result = scipy.optimize.minimize(
            objective,
            np.asarray(x0, dtype=np.float64),
            jac=True,
            method="L-BFGS-B",
            options=lbfgs_options(
                settings.max_evaluations, settings.lbfgs_history, settings.lbfgs_factr, settings.lbfgs_pgtol
            ),
        )
    except _SeedFailed as error:
        return "failed", str(error)
    if not run.checkpoints:
        return "failed", f"optimizer stopped without a finite evaluation: {result.message}"
    return "ok", f"L-BFGS-B stopped after {run.count} evaluations: {result.message}"


def _problems(model_kind, train_batch, train_refs, valid_batch, valid_refs, settings):
    if model_kind not in MODEL_KINDS:
        raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {model_kind!r}")
    if not isinstance(settings, TrainingSettings):
        raise TypeError(f"settings must be a TrainingSettings, got {type(settings).__name__}")
    _check_data(train_batch, train_refs, "training set")
    if settings.reflection_symmetry:
        for batch in (train_batch, valid_batch):
            check_mirror_symmetric(batch)
    _check_data(valid_batch, valid_refs, "validation set")
    if _grid_of(train_batch) != _grid_of(valid_batch):
        raise ValueError("training and validation batches are on different grids")
    spec = settings.model_spec(model_kind)
    return (
        spec,
        _Problem(train_batch, train_refs, spec, settings),
        _Problem(valid_batch, valid_refs, spec, settings),
    )


def train_seed(
    model_kind: str,
    seed: int,
    train_batch,
    train_refs: References,
    valid_batch,
    valid_refs: References,
    settings: TrainingSettings,
    out_dir: str | os.PathLike,
    log: logging.Logger | None = None,
    replay_dir: str | os.PathLike | None = None,
    initial_params: Mapping[str, np.ndarray] | None = None,
) -> dict:
    """Train one seed with L-BFGS, checkpoint, select the best checkpoint on validation; write ``out_dir``.

    Args:
      model_kind: ``"lsda"``, ``"gga"`` or ``"global"``.
      seed: non-negative integer; fixes the initial parameters.
      train_batch, valid_batch: from ``sksr.ks.scf.prepare_batch`` (same grid).
      train_refs, valid_refs: ``sksr.training.loss.References`` in the order of the batches' systems.
      settings: ``TrainingSettings``.
      out_dir: run directory (created); see the module docstring for the files.
      log: logger for progress (default ``logging.getLogger("sksr.training")``).
      replay_dir: directory of the replay log that makes a killed run resume exactly (None: no log).
        Keep it outside ``out_dir`` when a workflow deletes ``out_dir`` before a rerun.
      initial_params: a warm start (e.g. a published model's parameters, shapes of ``settings.model_spec``)
        instead of the seed's random initialization; ``seed`` then only labels the run. Evaluation 0 is
        these parameters. Not combined with ``replay_dir`` (the replay log knows the seed, not the start).

    Returns:
      The run record (also written to ``out_dir/run.json``); ``status`` is ``"ok"`` or ``"failed"``.
    """
    log = log or LOGGER
    if initial_params is not None and replay_dir is not None:
        raise ValueError("train_seed: a warm start (initial_params) cannot resume from a replay log (replay_dir)")
    spec, train, valid = _problems(model_kind, train_batch, train_refs, valid_batch, valid_refs, settings)
    env = environment_record()
    log.info(
        "%s seed %d: %d parameters, devices %s", model_kind, seed, spec.parameter_count, env["jax_devices"]
    )
    replay = _replay_log(replay_dir, model_kind, seed, spec, settings, train, "single", log)
    run = _SeedRun(model_kind, seed, spec, settings, out_dir, log, _system_names(train_batch), replay)
    if initial_params is None:
        x0 = flatten_params(spec, init_params(spec, seed))
    else:
        run.initialization = "warm start"
        x0 = flatten_params(spec, initial_params)

    def evaluate(x):
        start = time.perf_counter()
        parts, gradient = train.loss_and_gradient(x)
        return parts, gradient, time.perf_counter() - start

    status, message = _minimize(evaluate, x0, run)
    return _validate_and_finish(run, status, message, valid, env)
