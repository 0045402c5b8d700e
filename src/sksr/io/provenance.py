"""Provenance records: which code, config, inputs and environment made an output.

Every workflow job writes one JSON record (``<tree>/provenance/<rule>/<job>.json``) next to its outputs:

- ``outputs``: path -> sha256 of every file the job wrote (directory outputs are expanded);
- ``inputs`` / ``code``: path -> sha256 of every data input and of every source file the job depends on
  (the package modules declared as rule inputs and the rule's script);
- ``settings``: the config slice the job used, as ``{"dotted.key": value}`` (see ``config_slice``);
- ``configfiles``: the config files the workflow was started with;
- ``git``: commit and dirty flag of the working tree; ``packages``: versions of the numerical stack;
- ``device``: host, platform, CPU count and JAX backend; ``timing``: start, end and wall seconds.

``sksr.pipeline.audit`` checks a results tree against these records. Records are written atomically (temp file +
rename), after every output exists, so a record never describes a half-written job.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from sksr.io import interrupts
from sksr.io.atomic import CorruptFileError, atomic_write_json, check_readable, read_json

RECORD_VERSION = 1
PROVENANCE_DIRNAME = "provenance"
TRACKED_PACKAGES = (
    "sksr",
    "jax",
    "jaxlib",
    "optax",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "physics-tenpy",
    "pyyaml",
    "jsonschema",
    "snakemake",
)
CODE_SUFFIXES = (".py", ".smk")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) used for config digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest_value(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def lookup(config: Mapping, dotted: str) -> Any:
    """``config["a"]["b"]`` for ``dotted = "a.b"``; raises KeyError naming the missing key.

    A key may itself contain dots (curve systems such as "systems.H2-R1.28"): at each level the longest
    run of dotted parts that is a key of the mapping is taken.
    """
    node: Any = config
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, Mapping):
            raise KeyError(f"config key {'.'.join(parts[: i + 1])!r} not found")
        for j in range(len(parts), i, -1):
            if ".".join(parts[i:j]) in node:
                node, i = node[".".join(parts[i:j])], j
                break
        else:
            raise KeyError(f"config key {'.'.join(parts[: i + 1])!r} not found")
    return node


def config_slice(config: Mapping, keys: Iterable[str]) -> dict:
    """The part of ``config`` a job depends on, as ``{dotted_key: value}`` (a plain, JSON-able dict)."""
    return {key: json.loads(canonical_json(lookup(config, key))) for key in keys}


def git_state(root: str | os.PathLike = ".") -> dict:
    """Commit and dirty flag of the git work tree at ``root`` (``commit: None`` outside git)."""

    def _git(*args):
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict:
    """Installed version of each package (None when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


def device_info() -> dict:
    """Host, platform, CPU count and, when JAX is already imported, its backend and devices."""
    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
    jax = sys.modules.get("jax")
    if jax is not None:
        try:
            info["jax_backend"] = jax.default_backend()
            info["jax_devices"] = [str(d) for d in jax.devices()]
            info["jax_x64"] = bool(jax.config.jax_enable_x64)
        except Exception as error:  # noqa: BLE001 - a broken backend must not lose the record
            info["jax_backend"] = f"unavailable: {error}"
    return info


def _expand(paths: Iterable[str]) -> list[str]:
    """Files of ``paths``, directories expanded recursively, sorted."""
    files = []
    for path in paths:
        path = str(path)
        if os.path.isdir(path):
            files.extend(str(p) for p in sorted(Path(path).rglob("*")) if p.is_file())
        else:
            files.append(path)
    return sorted(set(files))


def is_code(path: str) -> bool:
    """True for source files (package modules, rule scripts) as opposed to data inputs."""
    return path.endswith(CODE_SUFFIXES)


def digests(paths: Iterable[str]) -> dict:
    """path -> sha256 for existing files (None for missing ones)."""
    return {p: (sha256_file(p) if os.path.isfile(p) else None) for p in _expand(paths)}


def build_record(
    *,
    rule: str,
    wildcards: Mapping,
    inputs: Iterable[str],
    outputs: Iterable[str],
    settings: Mapping,
    configfiles: Iterable[str] = (),
    script: str | None = None,
    started: float,
    finished: float,
    extra: Mapping | None = None,
) -> dict:
    """Assemble a provenance record (see the module docstring for the fields)."""
    inputs = list(inputs) + ([script] if script else [])
    all_inputs = digests(inputs)
    return {
        "record_version": RECORD_VERSION,
        "rule": rule,
        "wildcards": dict(wildcards),
        "outputs": digests(outputs),
        "inputs": {p: d for p, d in all_inputs.items() if not is_code(p)},
        "code": {p: d for p, d in all_inputs.items() if is_code(p)},
        "settings": dict(settings),
        "settings_digest": digest_value(dict(settings)),
        "configfiles": list(configfiles),
        "git": git_state(),
        "packages": package_versions(),
        "device": device_info(),
        "timing": {
            "started": _dt.datetime.fromtimestamp(started, _dt.timezone.utc).isoformat(),
            "finished": _dt.datetime.fromtimestamp(finished, _dt.timezone.utc).isoformat(),
            "wall_seconds": round(finished - started, 3),
        },
        "extra": dict(extra or {}),
    }


def write_record(record: Mapping, path: str | os.PathLike) -> None:
    """Write a record as indented JSON, atomically."""
    atomic_write_json(path, record, default=str)


def load_record(path: str | os.PathLike) -> dict:
    """Read a record written by ``write_record`` (CorruptFileError naming it if it does not parse)."""
    record = read_json(path)
    if not isinstance(record, dict):
        raise CorruptFileError(path, "not a JSON object")
    return record


def corrupt_input(paths: Iterable[str]) -> CorruptFileError | None:
    """A CorruptFileError for the first npz/JSON file among ``paths`` (folders expanded) that does not read."""
    for path in _expand(paths):
        reason = check_readable(path)
        if reason not in (None, "missing"):
            return CorruptFileError(path, reason)
    return None


def _names(files) -> list[str]:
    return [str(f) for f in files]


class _RunnerLost(Exception):
    """The Snakemake process that started this job is gone (raised just before the record is written)."""


@contextlib.contextmanager
def _signals_deferred(signums):
    """Hold back ``signums`` in this thread for the block (delivered after it); a no-op off the main thread
    or where the platform has no ``pthread_sigmask``."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def discard_unrecorded_outputs(paths: Iterable[str]) -> list[str]:
    """Remove the outputs of a job that stops before its provenance record is written, and the temporary
    files its atomic writers left beside them (``.<name>.*.tmp``); returns the paths removed.

    Snakemake removes every output before a job starts, so whatever exists here was written by this job.
    """
    removed = []
    for path in map(Path, paths):
        leftovers = list(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
        for target in ([path] if path.exists() or path.is_symlink() else []) + leftovers:
            with contextlib.suppress(FileNotFoundError):
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            removed.append(str(target))
    return removed


class JobContext:
    """What a workflow script needs besides the ``snakemake`` object: a logger and extra record fields."""

    def __init__(self, smk, log: logging.Logger):
        self.smk = smk
        self.log = log
        self.extra: dict = {}

    @property
    def overrides(self) -> dict:
        """Values a rule sets in place of config keys (``params.overrides``, dotted keys), e.g. the
        energy-only KSR loss weight; recorded apart from the settings, which are the config's own values."""
        return dict(getattr(self.smk.params, "overrides", {}) or {})

    @property
    def settings(self) -> dict:
        """The job's config slice (``params.settings``) with the rule's ``params.overrides`` applied."""
        return {**dict(getattr(self.smk.params, "settings", {}) or {}), **self.overrides}


@contextlib.contextmanager
def snakemake_job(smk, record_output: str = "provenance"):
    """Run a Snakemake script body with logging to the rule's log and a provenance record at the end.

    Usage in ``workflow/scripts/*.py``::

        with snakemake_job(snakemake) as job:
            ...  # read snakemake.input / params by name, call the library, write outputs
            job.extra["note"] = ...

    stdout and stderr go to ``log[0]``; on success the record is written to ``output.provenance``
    (every other output is described in it). On failure no record is written and the exception
    propagates, so Snakemake removes the job's outputs. A job that is stopped (SIGTERM, Ctrl-C, or its
    Snakemake process gone) removes the outputs it has written itself before it exits, since Snakemake
    may not be there to do it: a result file never exists without its record.
    """
    log_path = str(smk.log[0]) if len(smk.log) else None
    handle = open(log_path, "a", buffering=1) if log_path else sys.stderr
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = handle
    logger = logging.getLogger(f"sksr.workflow.{smk.rule}")
    logger.handlers[:] = [logging.StreamHandler(handle)]
    logger.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    started = time.time()
    context = JobContext(smk, logger)
    record_path = str(getattr(smk.output, record_output))
    outputs = [p for p in _names(smk.output) if p != record_path]
    # Held while the record is written: a stop waits, then sees `recorded`. Reentrant, and stop_now runs
    # once: Snakemake repeats SIGTERM every fraction of a second, and a second signal handled inside the
    # first stop_now must not wait on the lock that stop_now itself holds.
    commit = threading.RLock()
    recorded = False
    stopping = threading.Event()
    runner = interrupts.watched_runner()

    def stop_now(reason: str):
        # Say why, take back what this job wrote (it has no record, so none of it may look complete;
        # Snakemake reruns the job), and exit without unwinding. Later calls (repeated signals) return
        # at once: the first call exits the process.
        if stopping.is_set():
            return
        stopping.set()
        logger.error("%s; this job stops and will be rerun", reason)
        with commit:
            if not recorded:
                for path in discard_unrecorded_outputs(outputs):
                    logger.error("removed %s (the job did not finish)", path)
        for stream in (handle, old_err):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(interrupts.LOST_EXIT_STATUS)

    interrupts.watch_runner(runner, lambda: stop_now(f"the Snakemake process {runner} is gone"))
    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(signal.SIGTERM, lambda signum, frame: stop_now(f"stopped by signal {signum}"))
    try:
        logger.info("rule %s, wildcards %s", smk.rule, dict(smk.wildcards.items()))
        yield context
        finished = time.time()
        record = build_record(
            rule=smk.rule,
            wildcards=dict(smk.wildcards.items()),
            inputs=_names(smk.input),
            outputs=outputs,
            settings=dict(getattr(smk.params, "settings", {}) or {}),
            configfiles=smk.config.get("__sksr__", {}).get("configfiles", []),
            script=getattr(smk.params, "script", None),
            started=started,
            finished=finished,
            extra={**context.extra, **({"overrides": context.overrides} if context.overrides else {})},
        )
        missing = [p for p, d in record["outputs"].items() if d is None]
        if missing:
            raise FileNotFoundError(f"rule {smk.rule}: outputs not written: {missing}")
        with _signals_deferred((signal.SIGTERM, signal.SIGINT)), commit:
            if not interrupts.runner_alive(runner):
                raise _RunnerLost(runner)
            write_record(record, record_path)
            recorded = True
        logger.info("done in %.1f s; provenance in %s", finished - started, record_path)
    except _RunnerLost:
        stop_now(f"the Snakemake process {runner} is gone")
    except Exception as error:
        logger.exception("rule %s failed", smk.rule)
        corrupt = None if isinstance(error, CorruptFileError) else corrupt_input(_names(smk.input))
        if corrupt:
            # e.g. a truncated reference read by a library function that does not name its file
            logger.error("%s", corrupt)
            raise corrupt from error
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: no record, so take back the outputs
        logger.exception("rule %s interrupted", smk.rule)
        if not recorded:
            discard_unrecorded_outputs(outputs)
        raise
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        if handle is not old_err:
            handle.close()
