"""Jobs never outlive the Snakemake process that started them.

Snakemake's local executor runs every job as a child process (``bash -c 'python script.py'``). When
Snakemake dies without cleaning up (SIGKILL, an OOM kill, or SIGINT sent to its PID alone), those children
would keep running and write outputs after Snakemake's lock is gone. To prevent that:

- ``register_runner`` (called by ``workflow/rules/common.smk`` while the Snakefile is parsed) stores the
  identity of the Snakemake process (host, PID, start time) in the environment variable ``SKSR_RUNNER``,
  which every job inherits;
- ``watch_runner`` (started by ``sksr.io.provenance.snakemake_job`` in every job) polls that process; once
  it is gone, the job logs why, removes the outputs it has written so far, and exits at once (exit
  status 143) without writing its provenance record. A job's record is written last and only while the
  runner is alive (``runner_alive``), so an interrupted job never looks complete: no output of it is
  left behind, and Snakemake reruns it.

Jobs on another host (cluster executors) are not watched: there the scheduler owns them (Snakemake's
SLURM executor cancels its jobs on Ctrl-C / SIGTERM; ``scancel`` stops them otherwise).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Callable

RUNNER_ENV = "SKSR_RUNNER"
LOST_EXIT_STATUS = 143  # as if terminated by SIGTERM


def _start_time(pid: int) -> str | None:
    """Start time (clock ticks since boot) of process ``pid`` from /proc, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _ancestors(pid: int) -> list[int]:
    chain, seen = [], set()
    while pid and pid not in seen and pid != 1:
        seen.add(pid)
        pid = _parent(pid)
        if pid:
            chain.append(pid)
    return chain


def token(pid: int | None = None) -> str | None:
    """``host:pid:start_time`` identifying a process (None where /proc is unavailable)."""
    pid = os.getpid() if pid is None else pid
    start = _start_time(pid)
    return None if start is None else f"{socket.gethostname()}:{pid}:{start}"


def _parse(value: str | None) -> tuple[str, int, str] | None:
    try:
        host, pid, start = (value or "").rsplit(":", 2)
        return host, int(pid), start
    except ValueError:
        return None


def _is_alive(value: str | None) -> bool:
    parsed = _parse(value)
    return parsed is not None and parsed[0] == socket.gethostname() and _start_time(parsed[1]) == parsed[2]


def register_runner(environ=os.environ) -> None:
    """Record this process as the runner, unless an ancestor already is (e.g. a spawned Snakemake job)."""
    parsed = _parse(environ.get(RUNNER_ENV))
    if parsed and _is_alive(environ[RUNNER_ENV]) and parsed[1] in _ancestors(os.getpid()):
        return
    own = token()
    if own:
        environ[RUNNER_ENV] = own
    else:
        environ.pop(RUNNER_ENV, None)


def watched_runner(environ=os.environ) -> str | None:
    """The runner this process should follow: the recorded one if it is alive, on this host, and an
    ancestor of this process; otherwise None (not under a local Snakemake, or on a cluster node)."""
    value = environ.get(RUNNER_ENV)
    parsed = _parse(value)
    if parsed and _is_alive(value) and parsed[1] in _ancestors(os.getpid()):
        return value
    return None


def runner_alive(runner: str | None) -> bool:
    """True when ``runner`` (from ``watched_runner``) still runs, or when there is none to follow."""
    return runner is None or _is_alive(runner)


def watch_runner(runner: str | None, on_lost: Callable[[], None], interval: float = 0.5) -> threading.Thread | None:
    """Call ``on_lost()`` from a daemon thread as soon as ``runner`` is gone (no thread if runner is None)."""
    if runner is None:
        return None

    def poll():
        while _is_alive(runner):
            time.sleep(interval)
        on_lost()

    thread = threading.Thread(target=poll, name="sksr-runner-watch", daemon=True)
    thread.start()
    return thread


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    return children


def job_processes(runner: str | None = None) -> list[int]:
    """Descendants of this process that are jobs of ``runner`` (their environment names it)."""
    runner = runner or os.environ.get(RUNNER_ENV)
    if not runner or not os.path.isdir("/proc"):
        return []
    children, found, todo = _children(), [], [os.getpid()]
    marker = f"{RUNNER_ENV}={runner}".encode()
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                with open(f"/proc/{child}/environ", "rb") as handle:
                    if marker in handle.read().split(b"\0"):
                        found.append(child)
            except OSError:
                continue
    return found


def terminate_jobs(runner: str | None = None) -> list[int]:
    """SIGTERM every job process of ``runner`` that is a descendant of this process; returns their PIDs."""
    import signal

    pids = job_processes(runner)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    return pids


def install_stop_handlers(grace_seconds: float = 10.0) -> None:
    """Make SIGINT and SIGTERM of the runner stop its jobs now (Snakemake's own handling waits for running
    jobs to finish, hours for a training job). Call in the runner's main thread once Snakemake's scheduler
    exists (the Snakefile's ``onstart``); the previous handlers still run afterwards, so Snakemake then sees
    the jobs fail, removes their outputs and exits. For ``grace_seconds`` jobs that start in the meantime
    are stopped too."""
    import signal

    runner = os.environ.get(RUNNER_ENV)
    if not runner or not os.path.isdir("/proc"):
        return

    def sweep():
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            terminate_jobs(runner)
            time.sleep(0.25)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)

        def handler(number, frame, previous=previous):
            terminate_jobs(runner)
            threading.Thread(target=sweep, name="sksr-stop-jobs", daemon=True).start()
            if callable(previous):
                previous(number, frame)
            elif number == signal.SIGINT:
                raise KeyboardInterrupt

        signal.signal(signum, handler)
