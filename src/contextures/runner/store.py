"""A grid directory on disk: ``grid.json`` and one JSON record per finished cell.

::

    out_dir/
      grid.json            {"format": "contextures-grid", "config": <grid_config>, ...}
      cells/<cell_id>.json one record per finished cell (config, key, result, timing, status)

Records are read as JSON only (nothing is unpickled or executed) and checked before use
(:func:`validate_record`: format, identity, status, configuration hash and checksum); a record
that fails is set aside as ``*.corrupt`` by the runner, or skipped or refused by
:func:`load_results`. The runner (:mod:`contextures.runner.grid`) writes through these helpers.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import warnings
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..exceptions import ModelFileError, ParameterError
from .cells import (
    RECORD_FORMAT,
    RECORD_FORMAT_VERSION,
    canonical_json,
    config_sha256,
    record_checksum,
)

GRID_FILE = "grid.json"
CELLS_DIR = "cells"
GRID_FORMAT = "contextures-grid"
GRID_FORMAT_VERSION = 1
CORRUPT_SUFFIX = ".corrupt"


class CorruptCellWarning(UserWarning):
    """A cell record on disk is unreadable or inconsistent and was skipped or set aside."""


def cells_dir(out_dir: Path) -> Path:
    return out_dir / CELLS_DIR


def cell_path(out_dir: Path, cell_id: str) -> Path:
    return cells_dir(out_dir) / f"{cell_id}.json"


def read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: not valid JSON, truncated or corrupted ({exc})") from exc


def validate_record(obj: Any, path: Path) -> dict[str, Any]:
    """Check that ``obj`` is a complete cell record for the file ``path``; return it."""
    def bad(reason: str) -> ModelFileError:
        return ModelFileError(f"{path}: not a valid cell record ({reason})")

    if not isinstance(obj, dict):
        raise bad(f"a JSON {type(obj).__name__}, expected an object")
    if obj.get("format") != RECORD_FORMAT:
        raise bad(f"format {obj.get('format')!r}, expected {RECORD_FORMAT!r}")
    version = obj.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("format_version missing")
    if version > RECORD_FORMAT_VERSION:
        raise bad(f"format_version {version} was written by a newer contextures "
                  f"(this one reads up to {RECORD_FORMAT_VERSION})")
    if obj.get("cell_id") != path.stem:
        raise bad(f"cell_id {obj.get('cell_id')!r} does not match the file name")
    for name, kind in (("key", str), ("fn", str), ("config", dict)):
        if not isinstance(obj.get(name), kind):
            raise bad(f"{name!r} missing or not a {kind.__name__}")
    status = obj.get("status")
    if status == "ok":
        if not isinstance(obj.get("result"), dict):
            raise bad("status 'ok' without a result object")
    elif status == "failed":
        if not isinstance(obj.get("error"), str):
            raise bad("status 'failed' without an error message")
    else:
        raise bad(f"status {status!r}, expected 'ok' or 'failed'")
    if version >= 2:
        try:
            config_hash = config_sha256(canonical_json(obj["config"]))
        except ParameterError:   # e.g. NaN in a hand-edited config
            config_hash = None
        if obj.get("config_sha256") != config_hash:
            raise bad("config_sha256 does not match its configuration")
        if obj.get("checksum") != record_checksum(obj):
            raise bad("checksum does not match its content (edited or damaged)")
    return obj


def read_record(path: Path) -> dict[str, Any]:
    return validate_record(read_json(path), path)


def set_aside(path: Path, reason: str) -> None:
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    warnings.warn(f"{reason}; moved to {target.name} and recomputing the cell",
                  CorruptCellWarning, stacklevel=3)
    with contextlib.suppress(OSError):
        os.replace(path, target)


def diff_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys: list[str] = []
        for name in sorted(set(old) | set(new)):
            path = f"{prefix}.{name}" if prefix else name
            if name not in old or name not in new:
                keys.append(path)
            else:
                keys.extend(diff_keys(old[name], new[name], path))
        return keys
    return [] if old == new else [prefix or "<whole configuration>"]


def describe_diff(old: dict[str, Any], new: dict[str, Any], keys: list[str]) -> str:
    parts = []
    for key in keys[:8]:
        def lookup(cfg: Any, dotted: str) -> Any:
            for part in dotted.split("."):
                if not isinstance(cfg, dict) or part not in cfg:
                    return "<absent>"
                cfg = cfg[part]
            return cfg
        parts.append(f"{key}: {lookup(old, key)!r} -> {lookup(new, key)!r}")
    more = f" (and {len(keys) - 8} more)" if len(keys) > 8 else ""
    return "; ".join(parts) + more


def load_grid_config(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The grid configuration recorded in ``out_dir/grid.json``."""
    path = Path(out_dir) / GRID_FILE
    if not path.is_file():
        raise ModelFileError(f"{Path(out_dir)} holds no grid results ({GRID_FILE} is missing)")
    obj = read_json(path)
    if not isinstance(obj, dict) or obj.get("format") != GRID_FORMAT:
        raise ModelFileError(f"{path}: not a contextures grid file")
    version = obj.get("format_version")
    if not isinstance(version, int) or version > GRID_FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported format_version {version!r}")
    if not isinstance(obj.get("config"), dict):
        raise ModelFileError(f"{path}: 'config' missing or not an object")
    return obj["config"]


def write_grid_file(out_dir: Path, config: dict[str, Any]) -> None:
    from .. import __version__

    payload = {
        "format": GRID_FORMAT,
        "format_version": GRID_FORMAT_VERSION,
        "config": config,
        "contextures_version": __version__,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(out_dir / GRID_FILE, json.dumps(payload, indent=2, sort_keys=True,
                                                      ensure_ascii=False) + "\n")


def remove_records(out_dir: Path) -> None:
    folder = cells_dir(out_dir)
    for path in list(folder.glob("*.json")) + list(folder.glob("*.json" + CORRUPT_SUFFIX)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def load_results(out_dir: str | os.PathLike[str], *, on_corrupt: str = "raise"
                 ) -> list[dict[str, Any]]:
    """Read every cell record of a grid directory, sorted by key.

    Only complete files named ``cells/<cell_id>.json`` are read; temporary files left by a killed
    run and records set aside as ``*.corrupt`` are ignored. A record that is unreadable or
    inconsistent (truncated JSON, wrong format, a name that is not its identity...) raises
    :class:`~contextures.exceptions.ModelFileError` naming the file with ``on_corrupt="raise"``
    (the default), or is skipped with a :class:`CorruptCellWarning` with ``on_corrupt="skip"``.
    Files are parsed as JSON only: nothing is ever unpickled or executed.
    """
    if on_corrupt not in ("raise", "skip"):
        raise ParameterError(f"on_corrupt must be 'raise' or 'skip', got {on_corrupt!r}")
    root = Path(out_dir)
    load_grid_config(root)  # the directory must be a grid directory
    records = []
    for path in sorted(cells_dir(root).glob("*.json")):
        try:
            records.append(read_record(path))
        except ModelFileError as exc:
            if on_corrupt == "raise":
                raise ModelFileError(f"{exc}; delete the file (a rerun recomputes the cell) or "
                                     "load with on_corrupt='skip'") from exc
            warnings.warn(f"skipping {exc}", CorruptCellWarning, stacklevel=2)
    records.sort(key=lambda r: (r["key"], r["cell_id"]))
    return records
