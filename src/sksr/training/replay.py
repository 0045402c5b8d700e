"""The replay log that makes a killed training run resume exactly.

Every evaluation (point, loss parts, gradient) is appended to a replay log outside the run directory
(``replay_dir``; the workflow keeps it under ``results/.checkpoints/``, which Snakemake never deletes). A
restarted seed runs L-BFGS-B from the start but answers every evaluation the log already holds from the log
(after checking that the point is bitwise the recorded one), so the resumed trajectory is exactly the
uninterrupted one; only the evaluations after the interruption are computed. The log is deleted once
``run.json`` is written, and ignored when it was written by other settings, data, code or library versions
(``run_fingerprint``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import numpy as np

from sksr.io.atomic import atomic_write_json
from sksr.io.provenance import package_versions
from sksr.training.loss import LossParts
from sksr.training.objective import _Problem


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
    package = Path(__file__).resolve().parents[1]
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
