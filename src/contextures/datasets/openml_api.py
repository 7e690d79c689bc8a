"""OpenML datasets and tasks over plain HTTP, cached on disk after the first download.

Endpoints (OpenML REST API v1, JSON)::

    https://www.openml.org/api/v1/json/data/{id}   dataset description (target, licence, files)
    https://www.openml.org/api/v1/json/task/{id}   task (its source dataset, target, task type)

The data file is the Parquet copy (``parquet_url``) when the description has one, else the ARFF
file (``url``). Every response is stored under ``cache_dir()/openml`` and read from there next
time, so a dataset needs the network once. ``CONTEXTURES_OFFLINE=1`` forbids the network (cached
datasets still load). Without network an uncached spec raises :class:`OfflineError`; an id OpenML
does not know raises :class:`DataError`.

All network access goes through :func:`_http_get` (tests replace it with recorded responses).
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from ..exceptions import DataError, OfflineError
from ._paths import cache_dir
from ._table import RawTable
from .arff import read_arff

API = "https://www.openml.org/api/v1/json"
OFFLINE_ENV = "CONTEXTURES_OFFLINE"
TIMEOUT_SECONDS = 60.0


def openml_cache_dir() -> Path:
    return cache_dir() / "openml"


def _offline_forced() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _http_get(url: str) -> bytes:
    """GET ``url``; raise OfflineError when unreachable, DataError on an OpenML error answer."""
    request = urllib.request.Request(url, headers={"User-Agent": "contextures"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            err = json.loads(exc.read().decode("utf-8", "replace")).get("error", {})
            detail = f": {err.get('message', '')} (OpenML error {err.get('code', '?')})"
        except (ValueError, AttributeError, OSError):
            pass
        raise DataError(f"OpenML answered HTTP {exc.code} for {url}{detail}") from None
    except OSError as exc:  # URLError, timeouts and connection errors are all OSError
        reason = getattr(exc, "reason", exc)
        raise OfflineError(f"cannot reach OpenML ({url}): {reason}") from None


def _fetch(url: str, cache_name: str, what: str) -> bytes:
    """Bytes of ``url``, from the cache when present, else downloaded and cached atomically."""
    path = openml_cache_dir() / cache_name
    if path.is_file():
        return path.read_bytes()
    if _offline_forced():
        raise OfflineError(f"{what} is not in the cache ({path.parent}) and the network is "
                           f"disabled (${OFFLINE_ENV} is set); run once online to download it")
    try:
        payload = _http_get(url)
    except OfflineError as exc:
        raise OfflineError(f"{what} needs the network the first time and it is not reachable "
                           f"({exc}); once downloaded it is cached in {path.parent}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
    return payload


def _json(url: str, cache_name: str, what: str) -> dict:
    payload = _fetch(url, cache_name, what)
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        (openml_cache_dir() / cache_name).unlink(missing_ok=True)
        raise DataError(f"{what}: OpenML sent an unreadable answer ({exc})") from None
    if "error" in doc:
        (openml_cache_dir() / cache_name).unlink(missing_ok=True)
        err = doc["error"]
        raise DataError(f"{what}: OpenML error {err.get('code', '?')}: {err.get('message', '')}")
    return doc


def dataset_description(dataset_id: int) -> dict:
    doc = _json(f"{API}/data/{dataset_id}", f"data-{dataset_id}.json",
                f"OpenML dataset {dataset_id}")
    try:
        return doc["data_set_description"]
    except KeyError:
        raise DataError(f"OpenML dataset {dataset_id}: unexpected answer (no description)") from None


def task_description(task_id: int) -> dict:
    doc = _json(f"{API}/task/{task_id}", f"task-{task_id}.json", f"OpenML task {task_id}")
    try:
        return doc["task"]
    except KeyError:
        raise DataError(f"OpenML task {task_id}: unexpected answer (no task)") from None


def task_source(task: dict, task_id: int) -> tuple[int, str | None, str | None]:
    """(dataset id, target feature, 'classification'|'regression'|None) of a task description."""
    inputs = task.get("input", [])
    if isinstance(inputs, dict):
        inputs = [inputs]
    for item in inputs:
        if item.get("name") == "source_data":
            data_set = item.get("data_set", {})
            try:
                dataset_id = int(data_set["data_set_id"])
            except (KeyError, TypeError, ValueError):
                break
            target = data_set.get("target_feature") or None
            task_type = str(task.get("task_type", "")).lower()
            hint = ("classification" if "classification" in task_type
                    else "regression" if "regression" in task_type else None)
            return dataset_id, target, hint
    raise DataError(f"OpenML task {task_id} has no source dataset in its description")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _read_data_file(desc: dict, dataset_id: int) -> pd.DataFrame:
    fmt = str(desc.get("format", "ARFF")).lower()
    parquet_url = desc.get("parquet_url") or desc.get("minio_url")
    what = f"OpenML dataset {dataset_id}"
    if parquet_url:
        payload = _fetch(parquet_url, f"dataset-{dataset_id}.pq", what)
        try:
            return pd.read_parquet(io.BytesIO(payload))
        except Exception as exc:  # any pyarrow failure means a bad file
            (openml_cache_dir() / f"dataset-{dataset_id}.pq").unlink(missing_ok=True)
            raise DataError(f"{what}: cannot read its Parquet file ({exc})") from None
    if "sparse" in fmt:
        raise DataError(f"{what} is stored as sparse ARFF, which is not supported")
    url = desc.get("url")
    if not url:
        raise DataError(f"{what}: its description names no data file")
    payload = _fetch(url, f"dataset-{dataset_id}.arff", what)
    return read_arff(payload.decode("utf-8", "replace"))


def load_openml(dataset_id: int | None = None, *, task_id: int | None = None,
                target: str | None = None) -> RawTable:
    """Load an OpenML dataset (by dataset id, or through a task id) as a table."""
    task_hint = None
    source = ""
    if task_id is not None:
        task = task_description(task_id)
        dataset_id, task_target, task_hint = task_source(task, task_id)
        target = target or task_target
        source = f"OpenML task {task_id} ({task.get('task_type', 'task')}) on "
    assert dataset_id is not None
    desc = dataset_description(dataset_id)
    if "sparse" in str(desc.get("format", "")).lower() and not desc.get("parquet_url"):
        raise DataError(f"OpenML dataset {dataset_id} is stored as sparse ARFF, which is not "
                        f"supported")
    if target is None:
        defaults = _as_list(desc.get("default_target_attribute"))
        if len(defaults) > 1:
            raise DataError(f"OpenML dataset {dataset_id} has several default targets "
                            f"({', '.join(defaults)}); choose one with openml:{dataset_id}:TARGET")
        target = defaults[0] if defaults else None
    frame = _read_data_file(desc, dataset_id)
    drop = [c for c in _as_list(desc.get("row_id_attribute")) + _as_list(desc.get("ignore_attribute"))
            if c in frame.columns and c != target]
    frame = frame.drop(columns=drop)
    name = str(desc.get("name", f"openml-{dataset_id}"))
    metadata = {
        "source": f"{source}OpenML dataset {dataset_id} ({name}, version {desc.get('version', '?')})",
        "url": f"https://www.openml.org/d/{dataset_id}",
        "license": desc.get("licence") or "unknown (see the OpenML page)",
        "citation": desc.get("citation") or desc.get("original_data_url")
        or f"https://www.openml.org/d/{dataset_id}",
        "openml_dataset_id": dataset_id,
        "openml_task_id": task_id,
        "openml_name": name,
    }
    return RawTable(name, frame, target, task_hint, drop, metadata)


def is_cached(dataset_id: int | None = None, *, task_id: int | None = None) -> bool:
    """Whether loading this dataset/task needs no network (every file is in the cache)."""
    root = openml_cache_dir()
    if task_id is not None:
        path = root / f"task-{task_id}.json"
        if not path.is_file():
            return False
        try:
            dataset_id, _, _ = task_source(json.loads(path.read_text())["task"], task_id)
        except (KeyError, ValueError, DataError):
            return False
    if dataset_id is None or not (root / f"data-{dataset_id}.json").is_file():
        return False
    return any((root / f"dataset-{dataset_id}.{ext}").is_file() for ext in ("pq", "arff"))
