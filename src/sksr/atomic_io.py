"""Atomic file writes: everything goes to a temporary file in the target folder, then ``os.replace``.

Readers (and Snakemake) see either the old file or the complete new one: a killed or failed job never
leaves a half-written output that looks complete. Files get the usual permissions (0666 minus umask).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # read once: os.umask is process-global, not thread-safe


def atomic_write(path: str | os.PathLike, writer: Callable[[Any], None], binary: bool = True) -> None:
    """Call ``writer(handle)`` on a temporary file next to ``path``, then move it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"newline": ""})) as stream:
            writer(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, lambda stream: stream.write(text), binary=False)


def atomic_write_json(path: str | os.PathLike, data: Any, default: Callable | None = None) -> None:
    """Write ``data`` as indented, key-sorted JSON atomically (NaN allowed, as Python's json writes it)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=default) + "\n")


def atomic_savez(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` of ``arrays`` to ``path`` atomically (the name is kept as given, no suffix added)."""
    atomic_write(path, lambda stream: np.savez(stream, **arrays))


def atomic_savefig(figure, path: str | os.PathLike, **kwargs) -> None:
    """``figure.savefig`` to ``path`` atomically; the format comes from the file suffix."""
    file_format = Path(path).suffix.lstrip(".") or None
    atomic_write(path, lambda stream: figure.savefig(stream, format=file_format, **kwargs))
