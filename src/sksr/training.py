"""Training of the neural XC functionals with the KSR loss (physics.md section 8).

Optimizer: L-BFGS with history 20 -- SciPy's L-BFGS-B (``scipy.optimize.minimize``, no bounds) driven by
``jax.value_and_grad`` of the jitted loss, as in the published KSR code. Why SciPy and not ``optax.lbfgs``:

- the budget is counted in *loss evaluations*; with SciPy every call of the objective is exactly one
  evaluation, so the budget, the per-evaluation record and "a checkpoint every 10 evaluations" are exact
  (optax hides a variable number of line-search evaluations inside one jitted update);
- a non-finite loss stops the seed at the evaluation where it appears, with no NaN propagating through
  optimizer state;
- the host round trip per evaluation (a vector of ~1.5k floats) is negligible next to an evaluation
  (about a second: K SCF iterations forward and backward).

Batched seeds (``train_seeds_batched``): each seed keeps its own SciPy L-BFGS-B in its own thread; a
coordinator waits until every running seed has asked for its next evaluation, evaluates all of them in
one ``jax.vmap``-ed call (seeds that finished are padded with their last point) and hands the results
back. Every seed therefore follows exactly the algorithm of a single-seed run; only the floating-point
rounding of the vmapped evaluation may differ in the last bits from a single-seed run. On CPU this pays
only with ``network_float32`` (XLA's batched float64 matmul is slow there; see
benchmarks/README_training.md); with float64 on CPU run one seed per job.

Checkpoints: the parameters of evaluations 10, 20, ... (the point evaluated, which may be a line-search
trial) and of the last evaluation. Selection: every checkpoint is evaluated on the validation batch with
the same loss (same K and weights); the run keeps the checkpoint with the lowest validation loss.
``select_best_seed`` then keeps the seed with the lowest selected validation loss; failed seeds (a
non-finite training loss, an exception during evaluation, or no finite validation loss) are excluded.

Files of one run (``out_dir``)::

    evaluations.csv           one row per loss evaluation (written as it happens)
    checkpoints/eval_NNNNNN.npz/.json   parameters + hyperparameters of each checkpoint
    validation.csv            validation loss of every checkpoint (runs that did not fail)
    best.npz / best.json      the selected checkpoint (runs that did not fail)
    run.json                  the run record (written last; its presence means the run finished)

Determinism: on CPU a seed fixes the run bitwise (initialization, XLA CPU kernels and SciPy are
deterministic). On GPUs, XLA reductions and cuBLAS/cuSOLVER kernels may reorder floating-point sums, so
runs agree only to rounding and L-BFGS trajectories may drift apart after many evaluations.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import platform
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy
import scipy.optimize

from sksr.atomic_io import atomic_write_json
from sksr.functionals.neural import (
    MODEL_KINDS,
    NeuralXCSpec,
    build_xc,
    flatten_params,
    init_params,
    load_params,
    save_params,
    unflatten_params,
)
from sksr.grid import Grid
from sksr.loss import LossParts, LossSettings, References, ksr_loss
from sksr.scf import run_scf
from sksr.workflow_config import TRAINING_JOB_KEYS

LOGGER = logging.getLogger("sksr.training")

WORKFLOW_KEYS = TRAINING_JOB_KEYS  # resources and job layout in the workflow's ``training`` section

EVALUATION_COLUMNS = (
    "evaluation",
    "loss",
    "energy_loss",
    "density_loss",
    "gradient_norm",
    "wall_time_s",
    "elapsed_s",
)
VALIDATION_COLUMNS = ("evaluation", "train_loss", "loss", "energy_loss", "density_loss")
RUN_RECORD = "run.json"
BEST_STEM = "best"


# ----------------------------------------------------------------------------------------------------
# Settings


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"training setting {name!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"training setting {name!r} must be >= {minimum}, got {value}")


def _check_float(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"training setting {name!r} must be a number, got {value!r}")
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ValueError(f"training setting {name!r} must lie in {bracket}{low}, {high}], got {value}")


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Everything that defines a training run besides the model kind, the seed and the data.

    Attributes:
      max_evaluations: budget, number of loss-and-gradient evaluations per seed.
      num_iterations: K, SCF iterations in the training (and validation) loss.
      energy_loss_weight: w in ``L = w L_E + (1 - w) L_n``.
      discount: d of the trajectory energy loss.
      kept_iterations: number of final iterations in the energy loss (1 = the last only, as published).
      checkpoint_every: save parameters every this many evaluations.
      lbfgs_history: L-BFGS memory (number of correction pairs).
      network_float32: evaluate the network in float32 (the KS machinery stays float64).
      self_interaction_gate: add the trainable self-interaction gate to the network.
      eigensolver: SCF eigensolver, ``"banded"`` (host LAPACK, fastest on CPU) or ``"dense"`` (on device).
    """

    max_evaluations: int = 500
    num_iterations: int = 10
    energy_loss_weight: float = 0.5
    discount: float = 0.9
    kept_iterations: int = 1
    checkpoint_every: int = 10
    lbfgs_history: int = 20
    network_float32: bool = False
    self_interaction_gate: bool = False
    eigensolver: str = "banded"

    def __post_init__(self):
        _check_int("max_evaluations", self.max_evaluations, 1)
        _check_int("num_iterations", self.num_iterations, 1)
        _check_int("kept_iterations", self.kept_iterations, 1)
        _check_int("checkpoint_every", self.checkpoint_every, 1)
        _check_int("lbfgs_history", self.lbfgs_history, 1)
        _check_float("energy_loss_weight", self.energy_loss_weight, 0.0, 1.0)
        _check_float("discount", self.discount, 0.0, 1.0, low_open=True)
        for name in ("network_float32", "self_interaction_gate"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"training setting {name!r} must be true or false, got {getattr(self, name)!r}"
                )
        if self.eigensolver not in ("banded", "dense"):
            raise ValueError(
                f"training setting 'eigensolver' must be 'banded' or 'dense', got {self.eigensolver!r}"
            )
        if self.kept_iterations > self.num_iterations:
            raise ValueError(
                f"training setting 'kept_iterations' ({self.kept_iterations}) exceeds "
                f"'num_iterations' ({self.num_iterations})"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], ignore: frozenset = WORKFLOW_KEYS) -> "TrainingSettings":
        """Build from a config mapping (e.g. the workflow's ``training`` section plus ``num_iterations``).

        Keys in ``ignore`` (resources and job layout) are skipped; any other unknown key is an error that
        names it, and so is a value of the wrong type or range.
        """
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - allowed - set(ignore))
        if unknown:
            raise ValueError(f"training settings: unknown keys {unknown} (allowed: {sorted(allowed)})")
        return cls(**{k: v for k, v in config.items() if k in allowed})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def loss_settings(self) -> LossSettings:
        return LossSettings(
            energy_weight=float(self.energy_loss_weight),
            discount=float(self.discount),
            kept_iterations=int(self.kept_iterations),
        )

    def model_spec(self, model_kind: str) -> NeuralXCSpec:
        return NeuralXCSpec(
            kind=model_kind,
            self_interaction_gate=self.self_interaction_gate,
            network_float32=self.network_float32,
        )


# ----------------------------------------------------------------------------------------------------
# Jitted objective on flat parameter vectors (module level: the compile cache is shared across seeds)


def _loss_parts(vector, batch, references, spec, grid, loss_settings, num_iterations, solver) -> LossParts:
    """KSR loss at a flat parameter vector (P,): build xc, run K SCF iterations, compare."""
    xc = build_xc(spec, unflatten_params(spec, vector), grid)
    trajectory = run_scf(batch, xc, num_iterations, solver=solver)
    return ksr_loss(trajectory, references, grid.spacing, loss_settings)


def _loss_and_gradient(vector, batch, references, spec, grid, loss_settings, num_iterations, solver):
    def total(v):
        parts = _loss_parts(v, batch, references, spec, grid, loss_settings, num_iterations, solver)
        return parts.total, parts

    (_, parts), gradient = jax.value_and_grad(total, has_aux=True)(vector)
    return parts, gradient


def _batched(function):
    """vmap ``function(vector, batch, references, **static)`` over a leading axis of ``vector``."""

    def batched(vectors, batch, references, **static):
        return jax.vmap(lambda v: function(v, batch, references, **static))(vectors)

    return batched


_STATIC = ("spec", "grid", "loss_settings", "num_iterations", "solver")
_jit_loss_and_gradient = jax.jit(_loss_and_gradient, static_argnames=_STATIC)
_jit_batched_loss_and_gradient = jax.jit(_batched(_loss_and_gradient), static_argnames=_STATIC)
_jit_loss = jax.jit(_loss_parts, static_argnames=_STATIC)
_jit_batched_loss = jax.jit(_batched(_loss_parts), static_argnames=_STATIC)


def _system_names(batch) -> tuple:
    """System names of a Kohn-Sham batch (empty if it carries none)."""
    return tuple(getattr(getattr(batch, "layout", None), "names", ()) or ())


def _grid_of(batch) -> Grid:
    try:
        return batch.layout.grid
    except AttributeError as error:
        raise TypeError(
            "expected a Kohn-Sham batch from sksr.scf.prepare_batch (with .layout.grid)"
        ) from error


def _check_data(batch, references: References, what: str) -> None:
    n_batch = int(np.shape(batch.external_potential)[0])
    n_refs = int(np.shape(references.energies)[0])
    if n_batch != n_refs:
        raise ValueError(f"{what}: the SCF batch has {n_batch} systems but the references have {n_refs}")
    grid = _grid_of(batch)
    if np.shape(references.densities) != (n_refs, grid.num_points):
        raise ValueError(
            f"{what}: reference densities must have shape ({n_refs}, {grid.num_points}), "
            f"got {np.shape(references.densities)}"
        )
    batch_counts = np.asarray(batch.num_electrons)
    if not np.array_equal(batch_counts, np.asarray(references.n_electrons)):
        raise ValueError(
            f"{what}: electron counts of the references {np.asarray(references.n_electrons).tolist()} do not "
            f"match the SCF batch {batch_counts.tolist()} (same systems, same order?)"
        )


@dataclasses.dataclass(frozen=True)
class _Problem:
    """A batch + references + everything static about the loss."""

    batch: Any
    references: References
    spec: NeuralXCSpec
    settings: TrainingSettings

    def _static(self) -> dict:
        return dict(
            spec=self.spec,
            grid=_grid_of(self.batch),
            loss_settings=self.settings.loss_settings(),
            num_iterations=self.settings.num_iterations,
            solver=self.settings.eigensolver,
        )

    def loss_and_gradient(self, vector: np.ndarray):
        """(LossParts of floats, gradient (P,)) at one parameter vector."""
        parts, gradient = _jit_loss_and_gradient(
            jnp.asarray(vector), self.batch, self.references, **self._static()
        )
        return LossParts(*(float(p) for p in parts)), np.asarray(gradient)

    def batched_loss_and_gradient(self, vectors: np.ndarray):
        """(LossParts of (S,) arrays, gradients (S, P)) at S parameter vectors."""
        parts, gradients = _jit_batched_loss_and_gradient(
            jnp.asarray(vectors), self.batch, self.references, **self._static()
        )
        return LossParts(*(np.asarray(p) for p in parts)), np.asarray(gradients)

    def losses(self, vectors: np.ndarray, chunk: int) -> np.ndarray:
        """Loss parts at M vectors, shape (M, 3) [total, energy, density]; vmapped in chunks of ``chunk``.

        A chunk that raises (e.g. the eigensolver refusing a non-finite potential) is redone one vector
        at a time; a vector that still raises gets NaN.
        """
        results = np.full((len(vectors), 3), np.nan)
        for start in range(0, len(vectors), chunk):
            block = vectors[start : start + chunk]
            if chunk > 1:
                padded = np.concatenate([block, np.repeat(block[-1:], chunk - len(block), axis=0)])
                try:
                    parts = _jit_batched_loss(jnp.asarray(padded), self.batch, self.references, **self._static())
                    results[start : start + len(block)] = np.stack([np.asarray(p) for p in parts], 1)[
                        : len(block)
                    ]
                    continue
                except Exception:  # noqa: BLE001 -- redo the block one vector at a time below
                    pass
            for i, vector in enumerate(block):
                try:
                    parts = _jit_loss(jnp.asarray(vector), self.batch, self.references, **self._static())
                    results[start + i] = [float(p) for p in parts]
                except Exception:  # noqa: BLE001 -- the vector that raises keeps NaN
                    pass
        return results


# ----------------------------------------------------------------------------------------------------
# Per-seed bookkeeping: evaluation record, checkpoints, stopping rules


class _BudgetReached(Exception):
    pass


class _SeedFailed(Exception):
    pass


def _checkpoint_stem(out_dir: Path, evaluation: int) -> Path:
    return out_dir / "checkpoints" / f"eval_{evaluation:06d}"


def environment_record() -> dict:
    """Devices, backend and library versions of this process (stored in every run record)."""
    return {
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_backend": jax.default_backend(),
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "python_version": platform.python_version(),
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


class _SeedRun:
    """Counts evaluations of one seed, writes its record and checkpoints, enforces budget and finiteness."""

    def __init__(self, model_kind, seed, spec, settings, out_dir, log, train_names=()):
        self.model_kind, self.seed, self.spec, self.settings = model_kind, int(seed), spec, settings
        self.train_names = tuple(train_names)
        self.out_dir = Path(out_dir)
        self.log = log
        self.label = f"{model_kind} seed {seed}"
        self.count = 0
        self.checkpoints: list[tuple[int, float, np.ndarray]] = []  # (evaluation, train loss, vector)
        self.last: tuple[int, float, np.ndarray] | None = None
        self.best_train: tuple[int, float] | None = None
        self.start = time.perf_counter()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "checkpoints").mkdir(exist_ok=True)
        self._remove_stale_outputs()
        self._csv_file = open(self.out_dir / "evaluations.csv", "w", newline="")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(EVALUATION_COLUMNS)

    def _remove_stale_outputs(self) -> None:
        """A rerun into the same directory must not inherit records or checkpoints of an earlier run."""
        stale = [self.out_dir / RUN_RECORD, self.out_dir / "validation.csv"]
        stale += [self.out_dir / f"{BEST_STEM}{suffix}" for suffix in (".npz", ".json")]
        stale += list((self.out_dir / "checkpoints").glob("eval_*.*"))
        for path in stale:
            if path.exists():
                path.unlink()

    def close(self):
        self._csv_file.close()

    def timing(self) -> dict:
        """Wall times from evaluations.csv: the first (includes compilation) and the median of the rest."""
        with open(self.out_dir / "evaluations.csv") as handle:
            walls = [float(row["wall_time_s"]) for row in csv.DictReader(handle)]
        return {
            "first_evaluation_s (includes compilation)": walls[0] if walls else None,
            "median_evaluation_s": float(np.median(walls[1:])) if len(walls) > 1 else None,
        }

    def save_checkpoint(self, evaluation: int, train_loss: float, vector: np.ndarray) -> None:
        params = unflatten_params(self.spec, np.asarray(vector))
        save_params(
            _checkpoint_stem(self.out_dir, evaluation),
            self.spec,
            params,
            {
                "model_kind": self.model_kind,
                "seed": self.seed,
                "evaluation": evaluation,
                "train_loss": train_loss,
            },
        )
        self.checkpoints.append((evaluation, train_loss, np.array(vector)))

    def record(self, vector: np.ndarray, parts: LossParts, gradient: np.ndarray, wall: float):
        """Book one evaluation; returns (loss, gradient) for SciPy or raises a stop exception."""
        self.count += 1
        n = self.count
        gradient_norm = float(np.linalg.norm(gradient))
        elapsed = time.perf_counter() - self.start
        self._csv.writerow(
            [
                n,
                repr(parts.total),
                repr(parts.energy),
                repr(parts.density),
                repr(gradient_norm),
                f"{wall:.4f}",
                f"{elapsed:.3f}",
            ]
        )
        self._csv_file.flush()
        self.log.info(
            "%s: evaluation %d/%d loss %.6e (energy %.3e, density %.3e) |grad| %.2e %.2fs",
            self.label,
            n,
            self.settings.max_evaluations,
            parts.total,
            parts.energy,
            parts.density,
            gradient_norm,
            wall,
        )
        if not math.isfinite(parts.total):
            raise _SeedFailed(f"non-finite training loss ({parts.total}) at evaluation {n}")
        if not np.all(np.isfinite(gradient)):
            raise _SeedFailed(f"non-finite gradient at evaluation {n}")
        self.last = (n, parts.total, np.array(vector))
        if self.best_train is None or parts.total < self.best_train[1]:
            self.best_train = (n, parts.total)
        if n % self.settings.checkpoint_every == 0:
            self.save_checkpoint(n, parts.total, vector)
        if n >= self.settings.max_evaluations:
            raise _BudgetReached()
        return parts.total, gradient

    def finish_optimization(self) -> None:
        """Checkpoint the last evaluation unless it already is one."""
        if self.last is not None and (not self.checkpoints or self.checkpoints[-1][0] != self.last[0]):
            self.save_checkpoint(*self.last)


def _minimize(evaluate: Callable, x0: np.ndarray, run: _SeedRun) -> tuple[str, str | None]:
    """SciPy L-BFGS-B on ``evaluate(x) -> (LossParts, gradient, wall)``; returns (status, message)."""

    def objective(x):
        try:
            parts, gradient, wall = evaluate(np.asarray(x, dtype=np.float64))
        except (_BudgetReached, _SeedFailed):
            raise
        except Exception as error:  # noqa: BLE001 -- an evaluation that raises fails this seed only
            raise _SeedFailed(f"evaluation {run.count + 1} raised {type(error).__name__}: {error}") from error
        return run.record(x, parts, gradient, wall)

    settings = run.settings
    try:
        result = scipy.optimize.minimize(
            objective,
            np.asarray(x0, dtype=np.float64),
            jac=True,
            method="L-BFGS-B",
            options=dict(
                maxcor=settings.lbfgs_history,
                maxfun=settings.max_evaluations + 1,  # our own counter stops at the budget
                maxiter=10 * settings.max_evaluations + 10,
                ftol=0.0,
                gtol=0.0,
                maxls=20,
            ),
        )
    except _BudgetReached:
        return "ok", f"budget of {settings.max_evaluations} evaluations reached"
    except _SeedFailed as error:
        return "failed", str(error)
    if run.last is None:
        return "failed", f"optimizer stopped without a finite evaluation: {result.message}"
    return "ok", f"L-BFGS-B stopped after {run.count} evaluations: {result.message}"


def _checkpoint_vectors(run: _SeedRun) -> np.ndarray:
    return np.stack([vector for _, _, vector in run.checkpoints])


def _validate_and_finish(run: _SeedRun, status, message, valid: _Problem, env: dict, losses=None) -> dict:
    """Evaluate checkpoints on the validation batch (unless ``losses`` (M, 3) are given), pick the best,
    write validation.csv, best.* and run.json; returns the run record."""
    run.close()
    record = {
        "model_kind": run.model_kind,
        "seed": run.seed,
        "status": status,
        "stop_reason": message if status == "ok" else None,
        "failure_reason": message if status == "failed" else None,
        "num_evaluations": run.count,
        "best_train": (
            {"evaluation": run.best_train[0], "loss": run.best_train[1]} if run.best_train else None
        ),
        "spec": run.spec.to_dict(),
        "settings": run.settings.to_dict(),
        "train_systems": list(run.train_names),
        "validation_systems": list(_system_names(valid.batch)),
        "timing": run.timing(),
        "environment": env,
        "checkpoints": [evaluation for evaluation, _, _ in run.checkpoints],
        "selected": None,
    }
    if status == "ok":
        if losses is None:
            losses = valid.losses(_checkpoint_vectors(run), chunk=1)
        with open(run.out_dir / "validation.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(VALIDATION_COLUMNS)
            for (evaluation, train_loss, _), row in zip(run.checkpoints, losses):
                writer.writerow([evaluation, repr(train_loss), *(repr(float(v)) for v in row)])
        finite = np.isfinite(losses[:, 0])
        if not finite.any():
            record["status"] = "failed"
            record["stop_reason"] = None
            record["failure_reason"] = "validation loss is non-finite at every checkpoint"
        else:
            i = int(np.argmin(np.where(finite, losses[:, 0], np.inf)))
            evaluation, train_loss, vector = run.checkpoints[i]
            selected = {
                "evaluation": evaluation,
                "train_loss": train_loss,
                "validation_loss": float(losses[i, 0]),
                "validation_energy_loss": float(losses[i, 1]),
                "validation_density_loss": float(losses[i, 2]),
                "params": f"{BEST_STEM}.npz",
            }
            save_params(
                run.out_dir / BEST_STEM,
                run.spec,
                unflatten_params(run.spec, vector),
                {"model_kind": run.model_kind, "seed": run.seed, **selected},
            )
            record["selected"] = selected
    record["wall_time_s"] = time.perf_counter() - run.start
    atomic_write_json(run.out_dir / RUN_RECORD, record)
    if record["status"] == "ok":
        run.log.info(
            "%s: done, %d evaluations, selected checkpoint %d (validation loss %.6e)",
            run.label,
            run.count,
            record["selected"]["evaluation"],
            record["selected"]["validation_loss"],
        )
    else:
        run.log.warning("%s: FAILED: %s", run.label, record["failure_reason"])
    return record


# ----------------------------------------------------------------------------------------------------
# Public entry points


def _problems(model_kind, train_batch, train_refs, valid_batch, valid_refs, settings):
    if model_kind not in MODEL_KINDS:
        raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {model_kind!r}")
    if not isinstance(settings, TrainingSettings):
        raise TypeError(f"settings must be a TrainingSettings, got {type(settings).__name__}")
    _check_data(train_batch, train_refs, "training set")
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
) -> dict:
    """Train one seed with L-BFGS, checkpoint, select the best checkpoint on validation; write ``out_dir``.

    Args:
      model_kind: ``"lsda"``, ``"gga"`` or ``"global"``.
      seed: non-negative integer; fixes the initial parameters.
      train_batch, valid_batch: from ``sksr.scf.prepare_batch`` (same grid).
      train_refs, valid_refs: ``sksr.loss.References`` in the order of the batches' systems.
      settings: ``TrainingSettings``.
      out_dir: run directory (created); see the module docstring for the files.
      log: logger for progress (default ``logging.getLogger("sksr.training")``).

    Returns:
      The run record (also written to ``out_dir/run.json``); ``status`` is ``"ok"`` or ``"failed"``.
    """
    log = log or LOGGER
    spec, train, valid = _problems(model_kind, train_batch, train_refs, valid_batch, valid_refs, settings)
    env = environment_record()
    log.info(
        "%s seed %d: %d parameters, devices %s", model_kind, seed, spec.parameter_count, env["jax_devices"]
    )
    run = _SeedRun(model_kind, seed, spec, settings, out_dir, log, _system_names(train_batch))
    x0 = flatten_params(spec, init_params(spec, seed))

    def evaluate(x):
        start = time.perf_counter()
        parts, gradient = train.loss_and_gradient(x)
        return parts, gradient, time.perf_counter() - start

    status, message = _minimize(evaluate, x0, run)
    if status == "ok":
        run.finish_optimization()
    return _validate_and_finish(run, status, message, valid, env)


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
) -> list[dict]:
    """Train several seeds in one vmapped evaluation per step (fills a GPU); same files as ``train_seed``.

    Each seed runs its own L-BFGS-B in a thread; a coordinator evaluates all pending points in one batched
    call. A batched call that raises is redone seed by seed, so one bad seed cannot fail the others.
    Returns the run records in the order of ``seeds``.
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
    runs = [
        _SeedRun(model_kind, s, spec, settings, d, log, _system_names(train_batch))
        for s, d in zip(seeds, out_dirs)
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
    for run in finished:
        run.finish_optimization()
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


def train_seeds(
    model_kind: str,
    seeds: Sequence[int],
    train_batch,
    train_refs: References,
    valid_batch,
    valid_refs: References,
    settings: TrainingSettings,
    out_root: str | os.PathLike,
    batched: bool = False,
    log: logging.Logger | None = None,
) -> list[dict]:
    """Train ``seeds`` into ``out_root/seed_NNN`` one after another, or all at once with ``batched=True``."""
    out_dirs = [Path(out_root) / f"seed_{int(s):03d}" for s in seeds]
    if batched:
        return train_seeds_batched(
            model_kind, seeds, train_batch, train_refs, valid_batch, valid_refs, settings, out_dirs, log
        )
    return [
        train_seed(model_kind, s, train_batch, train_refs, valid_batch, valid_refs, settings, d, log)
        for s, d in zip(seeds, out_dirs)
    ]


class SelectionError(RuntimeError):
    """No seed can be selected (every run failed or none finished)."""


def load_run_record(run_dir: str | os.PathLike) -> dict:
    """The ``run.json`` of a run directory (SelectionError if the run never finished)."""
    path = Path(run_dir) / RUN_RECORD
    if not path.exists():
        raise SelectionError(f"{run_dir}: no {RUN_RECORD} (the run did not finish)")
    return json.loads(path.read_text())


def select_best_seed(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike | None = None) -> dict:
    """Pick the run whose selected checkpoint has the lowest validation loss (ties: lowest seed).

    Failed runs (and runs without ``run.json``) are excluded and listed with their reasons. Raises
    ``SelectionError`` naming every run's reason when no run succeeded. With ``out_dir``, writes
    ``out_dir/selection.json`` (the returned record) and copies the winner's parameters to
    ``out_dir/params.npz`` + ``out_dir/params.json``.

    Returns:
      ``{"selected": {seed, run_dir, model_kind, evaluation, validation_loss, train_loss, params},
      "candidates": [...], "failed": [{run_dir, seed, reason}, ...]}``.
    """
    if len(run_dirs) == 0:
        raise SelectionError("no runs to select from")
    candidates, failed = [], []
    for run_dir in run_dirs:
        try:
            record = load_run_record(run_dir)
        except SelectionError as error:
            failed.append({"run_dir": str(run_dir), "seed": None, "reason": str(error)})
            continue
        selected = record.get("selected")
        if record.get("status") != "ok" or not selected or not math.isfinite(selected["validation_loss"]):
            failed.append(
                {
                    "run_dir": str(run_dir),
                    "seed": record.get("seed"),
                    "reason": record.get("failure_reason") or "no finite validation loss",
                }
            )
            continue
        candidates.append(
            {
                "run_dir": str(run_dir),
                "seed": record["seed"],
                "model_kind": record["model_kind"],
                "evaluation": selected["evaluation"],
                "validation_loss": selected["validation_loss"],
                "train_loss": selected["train_loss"],
                "params": str(Path(run_dir) / selected["params"]),
            }
        )
    if not candidates:
        reasons = "; ".join(f"seed {f['seed']} ({f['run_dir']}): {f['reason']}" for f in failed)
        raise SelectionError(f"every seed failed, nothing to select from {len(run_dirs)} runs: {reasons}")
    kinds = {c["model_kind"] for c in candidates}
    if len(kinds) > 1:
        raise SelectionError(f"runs of different model kinds cannot be compared: {sorted(kinds)}")
    best = min(candidates, key=lambda c: (c["validation_loss"], c["seed"]))
    selection = {"selected": best, "candidates": candidates, "failed": failed}
    if out_dir is not None:
        out_dir = Path(out_dir)
        spec, params, metadata = load_params(Path(best["run_dir"]) / BEST_STEM)
        save_params(out_dir / "params", spec, params, {**metadata, "selected_from": len(run_dirs)})
        atomic_write_json(out_dir / "selection.json", selection)
    return selection
