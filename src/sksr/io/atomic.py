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


# ---- readers that name the file on any corruption ------------------------------------------------


class CorruptFileError(ValueError):
    """A file that exists but cannot be read as what it should be (truncated, edited, not npz/JSON).

    The message names the file and says how to have the workflow remake it.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        super().__init__(
            f"{self.path}: corrupt or truncated ({reason}); remove it (`sksr audit --repair`) so that the "
            "next run remakes it"
        )


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()


def read_json(path: str | os.PathLike) -> Any:
    """``json.load`` of ``path``; a missing file raises FileNotFoundError, anything unreadable CorruptFileError."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise CorruptFileError(path, _reason(error)) from error


def read_npz(path: str | os.PathLike) -> dict:
    """Every array of the npz file ``path`` (read eagerly, pickles refused) as ``{name: ndarray}``.

    A missing file raises FileNotFoundError; a truncated or otherwise unreadable one raises CorruptFileError
    naming it (a truncated zip can fail when opened or only when a member is read, so all members are read).
    """
    import zipfile
    import zlib

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an npz archive")
        with data:
            return {name: np.array(data[name]) for name in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as error:
        raise CorruptFileError(path, _reason(error)) from error


def check_readable(path: str | os.PathLike) -> str | None:
    """Why ``path`` (an .npz or .json file) cannot be read, or None when it reads (other kinds: None)."""
    suffix = Path(path).suffix
    try:
        if suffix == ".npz":
            read_npz(path)
        elif suffix == ".json":
            read_json(path)
    except CorruptFileError as error:
        return str(error.__cause__ and _reason(error.__cause__))
    except FileNotFoundError:
        return "missing"
    return None
