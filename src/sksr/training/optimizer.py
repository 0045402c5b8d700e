"""Training of the neural XC functionals with the KSR loss (docs/physics.md section 8).

The protocol is the authors' (their published run scripts and logs), and the paper config's defaults:

- **Optimizer**: SciPy L-BFGS-B driven by ``jax.value_and_grad`` of the jitted loss, history 20,
  ``maxfun = 300`` (``max_evaluations``), ``factr = 1`` (``lbfgs_factr``), ``pgtol = 1e-14``
  (``lbfgs_pgtol``). SciPy checks ``maxfun`` only between iterations, so a seed normally makes 301
  evaluations (numbered 0..300) and a few more when the last line search needed extra trials; a seed also
  stops earlier when the line search stalls. Every call of the objective is exactly one loss evaluation.
- **Checkpoints**: the parameters of evaluations 0, 10, 20, ... (evaluation 0 is the random
  initialization; a checkpoint can be a line-search trial point). No extra checkpoint at the end.
- **Selection**: every checkpoint is evaluated on the validation batch with the training loss (same K,
  weights); a seed's candidate is its checkpoint with the lowest validation loss. ``select_best_seed``
  then keeps the seed with the lowest candidate validation loss among the seeds below
  ``max_validation_loss`` (0.1 in the published runs).

Why SciPy and not ``optax.lbfgs`` for single seeds: the budget and the checkpoints are counted in loss
evaluations, exactly as the authors counted them (optax hides a variable number of line-search
evaluations inside one jitted update), and a non-finite loss stops the seed at the evaluation where it
appears.

**Resume.** Every evaluation (point, loss parts, gradient) is appended to a replay log outside the run
directory (``replay_dir``; the workflow keeps it under ``results/.checkpoints/``, which Snakemake never
deletes). A restarted seed runs L-BFGS-B from the start but answers every evaluation the log already
holds from the log (after checking that the point is bitwise the recorded one), so the resumed trajectory
is exactly the uninterrupted one; only the evaluations after the interruption are computed. The log is
deleted once ``run.json`` is written, and ignored when it was written by other settings, data, code
or library versions (``run_fingerprint``).

Batched seeds (``train_seeds_batched``): each seed keeps its own SciPy L-BFGS-B in its own thread; a
coordinator waits until every running seed has asked for its next evaluation, evaluates all of them in
one ``jax.vmap``-ed call (seeds that finished are padded with their last point) and hands the results
back. Every seed therefore follows exactly the algorithm of a single-seed run; only the floating-point
rounding of the vmapped evaluation may differ in the last bits from a single-seed run.

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
import functools
import hashlib
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

import sksr.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp
import numpy as np
import scipy
import scipy.optimize

from sksr.atomic_io import atomic_write_json
from sksr.provenance import package_versions
from sksr.functionals.neural import (
    MODEL_KINDS,
    NeuralXCSpec,
    build_xc,
    flatten_params,
    init_params,
    save_params,
    unflatten_params,
)
from sksr.grid import Grid
from sksr.loss import LossParts, LossSettings, References, ksr_loss
from sksr.eigensolver import SOLVERS
from sksr.scf import check_mirror_symmetric, run_scf
from sksr.selection import (  # noqa: F401 (the paper's selection rule, re-exported)
    BEST_STEM,
    DEFAULT_MAX_VALIDATION_LOSS,
    RUN_RECORD,
    SelectionError,
    exclusion_reason,
    load_run_record,
    select_best_seed,
)

LOGGER = logging.getLogger("sksr.training")

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

    Defaults are the authors' published protocol (docs/physics.md section 8, "The published runs").

    Attributes:
      max_evaluations: SciPy's ``maxfun``: L-BFGS-B stops at the end of the first iteration after more
        than this many loss evaluations (300: evaluations 0..300).
      num_iterations: K, SCF iterations in the training (and validation) loss.
      energy_loss_weight: w in ``L = w L_E + (1 - w) L_n``.
      discount: d of the trajectory energy loss.
      kept_iterations: number of final iterations in the energy loss (1 = the last only, as published).
      checkpoint_every: save parameters at evaluations 0, c, 2c, ...
      lbfgs_history: L-BFGS memory (number of correction pairs), SciPy ``m``.
      lbfgs_factr: SciPy ``factr``; stop when the relative loss decrease is below factr * machine eps.
      lbfgs_pgtol: SciPy ``pgtol``; stop when the largest gradient component is below it.
      network_float32: evaluate the network in float32 (the KS machinery stays float64), as published.
      self_interaction_gate: add the trainable self-interaction gate to the network.
      eigensolver: SCF eigensolver (``sksr.eigensolver``): ``"banded"`` (host LAPACK), ``"dense"``
        (jnp.linalg.eigh) or ``"device"`` (banded in JAX: no host callback, fastest on CPU, for GPUs).
      reflection_symmetry: enforce each molecule's mirror symmetry in the SCF (``sksr.scf.run_scf``), as
        the original KSR study did for its H2 / H4 curves; every system must be mirror symmetric.
    """

    max_evaluations: int = 300
    num_iterations: int = 10
    energy_loss_weight: float = 0.5
    discount: float = 0.9
    kept_iterations: int = 1
    checkpoint_every: int = 10
    lbfgs_history: int = 20
    lbfgs_factr: float = 1.0
    lbfgs_pgtol: float = 1e-14
    network_float32: bool = True
    self_interaction_gate: bool = False
    eigensolver: str = "device"
    reflection_symmetry: bool = False

    def __post_init__(self):
        _check_int("max_evaluations", self.max_evaluations, 1)
        _check_int("num_iterations", self.num_iterations, 1)
        _check_int("kept_iterations", self.kept_iterations, 1)
        _check_int("checkpoint_every", self.checkpoint_every, 1)
        _check_int("lbfgs_history", self.lbfgs_history, 1)
        _check_float("energy_loss_weight", self.energy_loss_weight, 0.0, 1.0)
        _check_float("discount", self.discount, 0.0, 1.0, low_open=True)
        _check_float("lbfgs_factr", self.lbfgs_factr, 0.0, 1e20)
        _check_float("lbfgs_pgtol", self.lbfgs_pgtol, 0.0, 1e20)
        for name in ("network_float32", "self_interaction_gate", "reflection_symmetry"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"training setting {name!r} must be true or false, got {getattr(self, name)!r}"
                )
        if self.eigensolver not in SOLVERS:
            raise ValueError(
                f"training setting 'eigensolver' must be one of {SOLVERS}, got {self.eigensolver!r}"
            )
        if self.kept_iterations > self.num_iterations:
            raise ValueError(
                f"training setting 'kept_iterations' ({self.kept_iterations}) exceeds "
                f"'num_iterations' ({self.num_iterations})"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], ignore: frozenset = frozenset()) -> "TrainingSettings":
        """Build from a config mapping (e.g. the workflow's ``training`` section plus ``num_iterations``).

        Keys in ``ignore`` (the workflow passes its resource and job-layout keys) are skipped; any other
        unknown key is an error that names it, and so is a value of the wrong type or range.
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


def _loss_parts(
    vector, batch, references, spec, grid, loss_settings, num_iterations, solver, reflection_symmetry=False
) -> LossParts:
    """KSR loss at a flat parameter vector (P,): build xc, run K SCF iterations, compare."""
    xc = build_xc(spec, unflatten_params(spec, vector), grid)
    trajectory = run_scf(
        batch, xc, num_iterations, solver=solver, energy_iterations=loss_settings.kept_iterations,
        reflection_symmetry=reflection_symmetry,
    )  # only the kept iterations' energies enter the loss: the others are not computed
    return ksr_loss(trajectory, references, grid.spacing, loss_settings)


def _loss_and_gradient(vector, batch, references, **static):
    def total(v):
        parts = _loss_parts(v, batch, references, **static)
        return parts.total, parts

    (_, parts), gradient = jax.value_and_grad(total, has_aux=True)(vector)
    return parts, gradient


def _batched(function):
    """vmap ``function(vector, batch, references, **static)`` over a leading axis of ``vector``."""

    def batched(vectors, batch, references, **static):
        return jax.vmap(lambda v: function(v, batch, references, **static))(vectors)

    return batched


_STATIC = ("spec", "grid", "loss_settings", "num_iterations", "solver", "reflection_symmetry")
_jit_loss_and_gradient = jax.jit(_loss_and_gradient, static_argnames=_STATIC)
_jit_batched_loss_and_gradient = jax.jit(_batched(_loss_and_gradient), static_argnames=_STATIC)
_jit_loss = jax.jit(_loss_parts, static_argnames=_STATIC)
_jit_batched_loss = jax.jit(_batched(_loss_parts), static_argnames=_STATIC)


def settings_from_job(job_settings: Mapping[str, Any]) -> TrainingSettings:
    """TrainingSettings from a training job's config slice ``{"training.<key>": value, ...,
    "scf.train_iterations": K}`` (the workflow's ``params.settings``)."""
    training = {k.removeprefix("training."): v for k, v in job_settings.items() if k.startswith("training.")}
    return TrainingSettings.from_config({**training, "num_iterations": job_settings["scf.train_iterations"]})


def load_training_data(train_path: str | os.PathLike, validation_path: str | os.PathLike) -> tuple:
    """(train batch, train References, validation batch, validation References) from two dataset files."""
    from sksr.datasets import load_dataset
    from sksr.scf import prepare_batch

    train, validation = load_dataset(train_path), load_dataset(validation_path)
    return (
        prepare_batch(list(train.systems), train.grid),
        train.references(),
        prepare_batch(list(validation.systems), validation.grid),
        validation.references(),
    )


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
            reflection_symmetry=self.settings.reflection_symmetry,
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
        at a time; a vector that still raises gets NaN. Both are logged as warnings.
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
                except Exception as error:  # noqa: BLE001 -- redo the block one vector at a time below
                    LOGGER.warning("validation of checkpoints %d..%d as one batch raised %s: %s; one at a time",
                                   start, start + len(block) - 1, type(error).__name__, error)
            for i, vector in enumerate(block):
                try:
                    parts = _jit_loss(jnp.asarray(vector), self.batch, self.references, **self._static())
                    results[start + i] = [float(p) for p in parts]
                except Exception as error:  # noqa: BLE001 -- the vector that raises keeps NaN
                    LOGGER.warning("validation loss of checkpoint %d set to NaN: %s: %s",
                                   start + i, type(error).__name__, error)
        return results


# ----------------------------------------------------------------------------------------------------
# Per-seed bookkeeping: evaluation record, checkpoints, stopping rules


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


class ReplayLog:
    """Append-only log of one seed's evaluations, so that a killed run resumes exactly (module docstring).

    File ``<dir>/replay.f64``: float64 records ``[loss, energy loss, density loss, wall s, x (P), g (P)]``;
    ``<dir>/replay.json``: the fingerprint of the run (settings, spec, seed, data) the records belong to.
    A log with another fingerprint, or a torn last record, is discarded (or truncated) on open.
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: str, size: int, log: logging.Logger):
        self.directory = Path(directory)
        self.path = self.directory / "replay.f64"
        self.header = self.directory / "replay.json"
        self.record_length = 4 + 2 * size
        self.size = size
        self.log = log
        self.directory.mkdir(parents=True, exist_ok=True)
        self.records = self._read(fingerprint)
        self.position = 0
        self._file = open(self.path, "ab")

    def _read(self, fingerprint: str) -> np.ndarray:
        """Complete records of a log of this run; anything else is removed."""
        try:
            same_run = json.loads(self.header.read_text()).get("fingerprint") == fingerprint
        except (OSError, ValueError, AttributeError):  # absent or unreadable header: not this run's log
            same_run = False
        if not same_run or not self.path.exists():
            self.path.unlink(missing_ok=True)
            atomic_write_json(self.header, {"fingerprint": fingerprint})
            return np.empty((0, self.record_length))
        raw = np.fromfile(self.path, dtype=np.float64)
        complete = len(raw) // self.record_length
        if complete * self.record_length != len(raw):  # a record torn by the kill
            with open(self.path, "r+b") as handle:
                handle.truncate(complete * self.record_length * 8)
        return raw[: complete * self.record_length].reshape(complete, self.record_length)

    def next(self, x: np.ndarray):
        """``(LossParts, gradient, wall)`` recorded for the next evaluation if it was at ``x``, else None.

        A point that differs from the recorded one (other code or library) ends the replay: the rest of the
        log is dropped and evaluations are computed from here on.
        """
        if self.position >= len(self.records):
            return None
        record = self.records[self.position]
        if not np.array_equal(record[4 : 4 + self.size], x):
            self.log.warning(
                "replay log diverges at evaluation %d; computing from here on", self.position
            )
            self._truncate(self.position)
            return None
        self.position += 1
        parts = LossParts(float(record[0]), float(record[1]), float(record[2]))
        return parts, record[4 + self.size :].copy(), float(record[3])

    def _truncate(self, count: int) -> None:
        self._file.close()
        with open(self.path, "r+b") as handle:
            handle.truncate(count * self.record_length * 8)
        self.records = self.records[:count]
        self._file = open(self.path, "ab")

    def append(self, x: np.ndarray, parts: LossParts, gradient: np.ndarray, wall: float) -> None:
        """Record one computed evaluation (flushed to disk at once)."""
        row = np.concatenate([[parts.total, parts.energy, parts.density, wall], x, gradient])
        self._file.write(np.asarray(row, dtype=np.float64).tobytes())
        self._file.flush()
        self.position += 1

    def remove(self) -> None:
        """Delete the log (the run finished and wrote run.json)."""
        self._file.close()
        self.path.unlink(missing_ok=True)
        self.header.unlink(missing_ok=True)


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of the sksr package's source and the numerical libraries' versions: any change of the code
    that computes a loss makes old replay logs unusable (their evaluations came from other code).
    Computed once per process."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(package_versions(("jax", "jaxlib", "numpy", "scipy"))).encode())
    return digest.hexdigest()


def runtime_fingerprint() -> list:
    """Backend, device kinds and XLA flags: the same code compiles to other programs elsewhere."""
    return [jax.default_backend(), sorted({d.device_kind for d in jax.devices()}), os.environ.get("XLA_FLAGS", "")]


def run_fingerprint(model_kind: str, seed: int, spec, settings, train: "_Problem", mode: str = "single") -> str:
    """SHA-256 of everything that fixes a seed's trajectory: model, seed, settings, training data, code,
    runtime (backend, devices, XLA flags) and evaluation ``mode`` (``"single"`` or ``"batched:S"``)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([model_kind, int(seed), spec.to_dict(), settings.to_dict(), mode]).encode())
    digest.update(json.dumps(runtime_fingerprint()).encode())
    digest.update(code_fingerprint().encode())
    for leaf in jax.tree_util.tree_leaves((train.batch, train.references)):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()


def _replay_log(replay_dir, model_kind, seed, spec, settings, train, mode, log) -> ReplayLog | None:
    """The replay log of one seed in ``replay_dir`` (None without a directory)."""
    if replay_dir is None:
        return None
    fingerprint = run_fingerprint(model_kind, seed, spec, settings, train, mode)
    replay = ReplayLog(replay_dir, fingerprint, spec.parameter_count, log)
    if len(replay.records):
        log.info("%s seed %d: replay log holds %d evaluations", model_kind, seed, len(replay.records))
    return replay


class _SeedRun:
    """Counts evaluations of one seed, writes its record and checkpoints, checks finiteness.

    Evaluations are numbered from 0 (the initial parameters), as in the authors' logs.
    """

    def __init__(self, model_kind, seed, spec, settings, out_dir, log, train_names=(), replay=None):
        self.model_kind, self.seed, self.spec, self.settings = model_kind, int(seed), spec, settings
        self.train_names = tuple(train_names)
        self.out_dir = Path(out_dir)
        self.log = log
        self.replay: ReplayLog | None = replay
        self.label = f"{model_kind} seed {seed}"
        self.count = 0
        self.replayed = 0
        self.checkpoints: list[tuple[int, float, np.ndarray]] = []  # (evaluation, train loss, vector)
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
            "replayed_evaluations": self.replayed,
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

    def replayed_evaluation(self, x: np.ndarray):
        """``(LossParts, gradient, wall)`` of the next evaluation from the replay log, or None."""
        replayed = self.replay.next(x) if self.replay is not None else None
        if replayed is not None:
            self.replayed += 1
        elif self.replayed and self.count == self.replayed:
            self.log.info("%s: resumed, %d evaluations replayed from the log", self.label, self.replayed)
        return replayed

    def log_evaluation(self, x: np.ndarray, parts: LossParts, gradient: np.ndarray, wall: float) -> None:
        """Append a computed evaluation to the replay log (an I/O error fails the job, not the seed)."""
        if self.replay is not None:
            self.replay.append(x, parts, np.asarray(gradient, dtype=np.float64), wall)

    def record(self, vector: np.ndarray, parts: LossParts, gradient: np.ndarray, wall: float):
        """Book evaluation number ``self.count``; returns (loss, gradient) for SciPy or raises _SeedFailed."""
        n = self.count
        self.count += 1
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
            "%s: evaluation %d (maxfun %d) loss %.6e (energy %.3e, density %.3e) |grad| %.2e %.2fs%s",
            self.label,
            n,
            self.settings.max_evaluations,
            parts.total,
            parts.energy,
            parts.density,
            gradient_norm,
            wall,
            " (replayed)" if n < self.replayed else "",
        )
        if not math.isfinite(parts.total):
            raise _SeedFailed(f"non-finite training loss ({parts.total}) at evaluation {n}")
        if not np.all(np.isfinite(gradient)):
            raise _SeedFailed(f"non-finite gradient at evaluation {n}")
        if self.best_train is None or parts.total < self.best_train[1]:
            self.best_train = (n, parts.total)
        if n % self.settings.checkpoint_every == 0:
            self.save_checkpoint(n, parts.total, vector)
        return parts.total, gradient


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
            options=dict(
                maxcor=settings.lbfgs_history,
                maxfun=settings.max_evaluations,
                ftol=settings.lbfgs_factr * np.finfo(np.float64).eps,
                gtol=settings.lbfgs_pgtol,
                maxls=20,
            ),
        )
    except _SeedFailed as error:
        return "failed", str(error)
    if not run.checkpoints:
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
    if run.replay is not None:
        run.replay.remove()
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
      replay_dir: directory of the replay log that makes a killed run resume exactly (None: no log).
        Keep it outside ``out_dir`` when a workflow deletes ``out_dir`` before a rerun.

    Returns:
      The run record (also written to ``out_dir/run.json``); ``status`` is ``"ok"`` or ``"failed"``.
    """
    log = log or LOGGER
    spec, train, valid = _problems(model_kind, train_batch, train_refs, valid_batch, valid_refs, settings)
    env = environment_record()
    log.info(
        "%s seed %d: %d parameters, devices %s", model_kind, seed, spec.parameter_count, env["jax_devices"]
    )
    replay = _replay_log(replay_dir, model_kind, seed, spec, settings, train, "single", log)
    run = _SeedRun(model_kind, seed, spec, settings, out_dir, log, _system_names(train_batch), replay)
    x0 = flatten_params(spec, init_params(spec, seed))

    def evaluate(x):
        start = time.perf_counter()
        parts, gradient = train.loss_and_gradient(x)
        return parts, gradient, time.perf_counter() - start

    status, message = _minimize(evaluate, x0, run)
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
