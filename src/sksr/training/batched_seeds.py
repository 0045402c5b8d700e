"""Batched seeds (:func:`train_seeds_batched`): several seeds in one vmapped evaluation per step.

Each seed keeps its own SciPy L-BFGS-B in its own thread; a coordinator waits until every running seed has
asked for its next evaluation, evaluates all of them in one ``jax.vmap``-ed call (seeds that finished are
padded with their last point) and hands the results back. Every seed therefore follows exactly the
algorithm of a single-seed run; only the floating-point rounding of the vmapped evaluation may differ in
the last bits from a single-seed run.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from sksr.functionals.neural import flatten_params, init_params
from sksr.training.loss import LossParts, References
from sksr.training.objective import LOGGER, _system_names
from sksr.training.optimizer import _minimize, _problems
from sksr.training.records import _checkpoint_vectors, _SeedRun, _validate_and_finish, environment_record
from sksr.training.replay import _replay_log
from sksr.training.settings import TrainingSettings


_DONE = object()


def train_seeds_batched(
    model_kind: str,
    seeds: Sequence[int],
    train_batch,
    train_refs: References,
    valid_batch,
    valid_refs: References,
    settings: TrainingSettings,
    out_dirs: Sequence[str | os.PathLike],
    log: logging.Logger | None = None,
    replay_dirs: Sequence[str | os.PathLike] | None = None,
) -> list[dict]:
    """Train several seeds in one vmapped evaluation per step (fills a GPU); same files as ``train_seed``.

    Each seed runs its own SciPy L-BFGS-B (own history, budget, stopping rules, checkpoints and
    selection, exactly as ``train_seed``) in a thread; a coordinator waits until every running seed has
    asked for its next point and evaluates them all in one ``jax.vmap``-ed call (seeds that stopped are
    padded with their last point). A batched call that raises is redone seed by seed, so one bad seed
    cannot fail the others. With ``replay_dirs`` (one per seed) every seed keeps a replay log and a
    killed job resumes exactly, as with ``train_seed``: replayed evaluations never reach the device.
    Returns the run records in the order of ``seeds``.

    On a GPU use ``settings.eigensolver = "device"`` so that the whole vmapped SCF stays on the device.
    """
    log = log or LOGGER
    seeds = [int(s) for s in seeds]
    if len(seeds) != len(out_dirs):
        raise ValueError(f"{len(seeds)} seeds but {len(out_dirs)} output directories")
    if len(set(seeds)) != len(seeds) or len({str(Path(d).resolve()) for d in out_dirs}) != len(seeds):
        raise ValueError("seeds and output directories must be unique")
    spec, train, valid = _problems(model_kind, train_batch, train_refs, valid_batch, valid_refs, settings)
    env = environment_record()
    log.info("%s seeds %s batched: devices %s", model_kind, seeds, env["jax_devices"])
    if replay_dirs is not None and len(replay_dirs) != len(seeds):
        raise ValueError(f"{len(seeds)} seeds but {len(replay_dirs)} replay directories")
    mode = f"batched:{len(seeds)}"
    replays = [
        _replay_log(d, model_kind, s, spec, settings, train, mode, log)
        for s, d in zip(seeds, replay_dirs or [None] * len(seeds))
    ]
    runs = [
        _SeedRun(model_kind, s, spec, settings, d, log, _system_names(train_batch), replay)
        for s, d, replay in zip(seeds, out_dirs, replays)
    ]
    x0s = [flatten_params(spec, init_params(spec, s)) for s in seeds]
    requests: queue.Queue = queue.Queue()
    replies = [queue.Queue(maxsize=1) for _ in seeds]
    outcomes: list[tuple[str, str] | None] = [None] * len(seeds)

    def evaluator(i):
        def evaluate(x):
            requests.put((i, np.array(x)))
            reply = replies[i].get()
            if isinstance(reply, BaseException):
                raise reply
            return reply

        return evaluate

    def worker(i):
        try:
            outcomes[i] = _minimize(evaluator(i), x0s[i], runs[i])
        except BaseException as error:  # noqa: BLE001
            outcomes[i] = ("failed", f"optimizer thread raised {type(error).__name__}: {error}")
        finally:
            requests.put((i, _DONE))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(seeds))]
    for thread in threads:
        thread.start()
    active, last = set(range(len(seeds))), [x.copy() for x in x0s]
    while active:
        pending: dict[int, np.ndarray] = {}
        while len(pending) < len(active):
            i, x = requests.get()
            if x is _DONE:
                active.discard(i)
            else:
                pending[i] = x
        if not pending:
            break
        for i, x in pending.items():
            last[i] = x
        start = time.perf_counter()
        try:
            parts, gradients = train.batched_loss_and_gradient(np.stack(last))
            wall = time.perf_counter() - start
            for i in pending:
                replies[i].put((LossParts(*(float(p[i]) for p in parts)), gradients[i], wall))
        except Exception:  # noqa: BLE001 -- redo one by one so that only the culprit fails
            log.warning("batched evaluation raised; evaluating %d seeds one by one", len(pending))
            for i, x in pending.items():
                start = time.perf_counter()
                try:
                    single_parts, gradient = train.loss_and_gradient(x)
                    replies[i].put((single_parts, gradient, time.perf_counter() - start))
                except Exception as error:  # noqa: BLE001
                    replies[i].put(error)
    for thread in threads:
        thread.join()
    outcomes = [outcome or ("failed", "optimizer thread ended without a result") for outcome in outcomes]
    finished = [run for run, (status, _) in zip(runs, outcomes) if status == "ok"]
    # Validate every checkpoint of every seed in vmapped chunks of len(seeds) points.
    all_losses = {}
    if finished:
        counts = [len(run.checkpoints) for run in finished]
        stacked = valid.losses(
            np.concatenate([_checkpoint_vectors(run) for run in finished]), chunk=len(seeds)
        )
        for run, block in zip(finished, np.split(stacked, np.cumsum(counts)[:-1])):
            all_losses[id(run)] = block
    return [
        _validate_and_finish(run, status, message, valid, env, all_losses.get(id(run)))
        for run, (status, message) in zip(runs, outcomes)
    ]
