"""Writing report files: atomically, and readable like any file the user creates."""

from __future__ import annotations

import os
from pathlib import Path

from .._io import atomic_write_text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (complete or absent) with mode 0666 & ~umask.

    (The atomic writer's temporary file is created private, mode 0600; a report is not.)
    """
    path = Path(path)
    atomic_write_text(path, text)
    try:
        os.chmod(path, 0o666 & ~_umask())
    except OSError:  # pragma: no cover - e.g. a file system without permissions
        pass
    return path
