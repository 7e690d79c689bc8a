"""Where datasets live on disk: the data directory and the download cache.

- Data directory (bare dataset names such as ``diabetes``; a file there overrides the table of
  that name bundled with the package): ``$CONTEXTURES_DATA`` when set, else the per-user data
  directory of the platform: ``$XDG_DATA_HOME/contextures/datasets``
  (``~/.local/share/contextures/datasets``) on Linux, ``~/Library/Application Support/contextures/
  datasets`` on macOS, ``%LOCALAPPDATA%\\contextures\\datasets`` on Windows.
- Cache (the built-in OpenML client's downloads; the ``openml`` package, when installed, keeps
  its own, see :mod:`.openml_api`): ``$CONTEXTURES_CACHE`` when set, else
  ``$XDG_CACHE_HOME/contextures`` (``~/.cache/contextures``) on Linux,
  ``~/Library/Caches/contextures`` on macOS, ``%LOCALAPPDATA%\\contextures\\Cache`` on Windows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DATA_ENV = "CONTEXTURES_DATA"
CACHE_ENV = "CONTEXTURES_CACHE"
APP_NAME = "contextures"


def _home() -> Path:
    return Path(os.path.expanduser("~"))


def default_data_dir() -> Path:
    """The per-user data directory used when ``$CONTEXTURES_DATA`` is unset."""
    if sys.platform == "win32":  # pragma: no cover - platform specific
        base = Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local")
        return base / APP_NAME / "datasets"
    if sys.platform == "darwin":  # pragma: no cover - platform specific
        return _home() / "Library" / "Application Support" / APP_NAME / "datasets"
    base = Path(os.environ.get("XDG_DATA_HOME") or _home() / ".local" / "share")
    return base / APP_NAME / "datasets"


def data_dir() -> Path:
    """The data directory: ``$CONTEXTURES_DATA`` when set, else :func:`default_data_dir`."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else default_data_dir()


def data_dir_description() -> str:
    """``'/path (from $CONTEXTURES_DATA)'`` or ``'/path (default; set $CONTEXTURES_DATA ...)'``."""
    if os.environ.get(DATA_ENV, "").strip():
        return f"{data_dir()} (from ${DATA_ENV})"
    return f"{data_dir()} (the default; set ${DATA_ENV} to use another directory)"


def cache_dir() -> Path:
    """The download cache: ``$CONTEXTURES_CACHE`` when set, else the per-user cache directory."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    if sys.platform == "win32":  # pragma: no cover - platform specific
        base = Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local")
        return base / APP_NAME / "Cache"
    if sys.platform == "darwin":  # pragma: no cover - platform specific
        return _home() / "Library" / "Caches" / APP_NAME
    base = Path(os.environ.get("XDG_CACHE_HOME") or _home() / ".cache")
    return base / APP_NAME
