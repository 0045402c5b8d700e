"""What a training run writes: the evaluation record, checkpoints, the validation of every checkpoint, the
selected one and the run record (``sksr.training`` lists the files).
"""

from __future__ import annotations

import csv
import math
import os
import platform
import time
from pathlib import Path

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import numpy as np
import scipy

from sksr.functionals.neural import save_params, unflatten_params
from sksr.io.atomic import atomic_write_json
from sksr.training.loss import LossParts
from sksr.training.objective import _Problem, _system_names
from sksr.training.replay import ReplayLog
from sksr.training.selection import BEST_STEM, RUN_RECORD, checkpoint_stem
from sksr.training.settings import VALIDATION_LOSSES


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


class _SeedFailed(Exception):
    pass


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
        self.initialization = "random (seed)"  # or "warm start" (train_seed's initial_params)
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
            checkpoint_stem(self.out_dir, evaluation),
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


def _checkpoint_vectors(run: _SeedRun) -> np.ndarray:
    return np.stack([vector for _, _, vector in run.checkpoints])


def _validate_and_finish(run: _SeedRun, status, message, valid: _Problem, env: dict, losses=None) -> dict:
    """Evaluate checkpoints on the validation batch (unless ``losses`` (M, 3) are given), pick the best,
    write validation.csv, best.* and run.json; returns the run record."""
    run.close()
    record = {
        "model_kind": run.model_kind,
        "seed": run.seed,
        "initialization": run.initialization,
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
        criterion = losses[:, VALIDATION_LOSSES[run.settings.validation_loss]]  # settings.validation_loss
        finite = np.isfinite(criterion)
        if not finite.any():
            record["status"] = "failed"
            record["stop_reason"] = None
            record["failure_reason"] = "validation loss is non-finite at every checkpoint"
        else:
            i = int(np.argmin(np.where(finite, criterion, np.inf)))
            evaluation, train_loss, vector = run.checkpoints[i]
            selected = {
                "evaluation": evaluation,
                "train_loss": train_loss,
                "validation_loss": float(criterion[i]),
                "validation_criterion": run.settings.validation_loss,
                "validation_total_loss": float(losses[i, 0]),
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
