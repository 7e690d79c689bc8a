"""Crash-safe files: atomic writes, stray temporary files, and a per-directory lock.

This module is the only place the project writes files. A file written with
:func:`atomic_write_bytes` (or its wrappers :func:`atomic_write_text`, :func:`atomic_write_json`,
:func:`atomic_save_figure`) is either absent or complete: the bytes go to a temporary file in the
same directory (named ``.tmp-*``, never matching ``*.json``), which is flushed and ``fsync``-ed,
then renamed over the destination with :func:`os.replace` (atomic on POSIX), and the directory
entry is ``fsync``-ed. A process killed at any point leaves at most a stray temporary file, which
:func:`remove_temp_files` deletes on the next run; a full disk or a failed write leaves the old
file as it was. Two writers on one path each rename a complete file, so a reader never sees a
partial or empty one.

The destination must be a regular file or absent (a device such as ``/dev/full``, a directory or
a FIFO is refused, never replaced), and its folder is created if needed. Every ``OSError`` of the
write (read-only or full file system, no permission, a missing folder that cannot be created)
becomes an :class:`~contextures.exceptions.OutputError` naming the path (exit code 12 on the
command line). New files get mode ``0666 & ~umask``, as if the user had created them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .exceptions import OutputError, ResultsConflictError

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".part"
LOCK_NAME = ".lock"

try:  # POSIX advisory locks; elsewhere the directory lock is a no-op
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX platforms
    fcntl = None  # type: ignore[assignment]


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _output_error(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    return OutputError(f"cannot write {str(path)!r}: {reason}")


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Refuse, before any work, an output path that cannot be a file: a directory, a device, a
    FIFO, or a path under an existing file. The write itself reports what only it can find (a
    full or read-only file system)."""
    path = Path(path)
    _check_target(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot write {str(path)!r}: {str(parent)!r} is not a "
                                  "directory")
            break
    return path


def _check_target(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _output_error(path, exc) from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {str(path)!r}: it is a directory")
    if not stat.S_ISREG(mode):
        raise OutputError(f"cannot write {str(path)!r}: it is not a regular file (a device, "
                          "FIFO or socket is never replaced); give a file path")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    _check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):  # e.g. a file system without permissions
            os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _output_error(path, exc) from None
        raise
    _fsync_directory(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and lists, tuples as lists, and
    NaN or infinite floats as ``None`` (strict JSON has no spelling for them)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):   # numpy
        return json_ready(value.tolist())
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    return value


def json_text(payload: Any, *, indent: int = 2, sort_keys: bool = False) -> str:
    """Strict JSON of :func:`json_ready` ``(payload)``, with a trailing newline."""
    return json.dumps(json_ready(payload), indent=indent, sort_keys=sort_keys,
                      allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike[str], payload: Any, *, indent: int = 2,
                      sort_keys: bool = False) -> Path:
    """Write ``payload`` as strict JSON (:func:`json_text`) atomically."""
    return atomic_write_text(path, json_text(payload, indent=indent, sort_keys=sort_keys))


def atomic_save_figure(fig: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> Path:
    """Render a matplotlib figure in memory and write it atomically (format from the suffix,
    unless ``format=`` is given)."""
    path = Path(path)
    savefig_kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    buffer = io.BytesIO()
    fig.savefig(buffer, **savefig_kwargs)
    return atomic_write_bytes(path, buffer.getvalue())


def remove_temp_files(directory: str | os.PathLike[str]) -> int:
    """Delete the stray temporary files a killed writer left in ``directory``; return how many."""
    removed = 0
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    for tmp in directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``directory`` (one writer at a time).

    The lock is a ``flock`` on ``directory/.lock``; the kernel releases it when the process dies,
    so a killed run never leaves the directory locked. A second run into the same directory while
    the first is alive raises :class:`ResultsConflictError` at once instead of interleaving files.
    """
    directory = Path(directory)
    if fcntl is None:  # pragma: no cover
        yield
        return
    fh = open(directory / LOCK_NAME, "a+b")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ResultsConflictError(
                f"another run is writing to {str(directory)!r}; wait for it to finish or use "
                "another output directory") from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()
