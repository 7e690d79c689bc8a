"""Crash-safe files: atomic writes, stray temporary files, and a per-directory lock.

A file written with :func:`atomic_write_text` is either absent or complete: the text goes to a
temporary file in the same directory (named ``.tmp-*``, never matching ``*.json``), which is
flushed and ``fsync``-ed, then renamed over the destination with :func:`os.replace` (atomic on
POSIX), and the directory entry is ``fsync``-ed. A process killed at any point leaves at most a
stray temporary file, which :func:`remove_temp_files` deletes on the next run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .exceptions import ResultsConflictError

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


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


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
