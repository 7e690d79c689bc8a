"""The built-in OpenML client, used when the ``openml`` package is not installed.

It reads OpenML's JSON REST API (v1) over plain HTTP::

    https://www.openml.org/api/v1/json/data/{id}   dataset description (target, licence, ARFF url,
                                                   md5_checksum of the ARFF file)
    https://www.openml.org/api/v1/json/task/{id}   task (its source dataset, target, task type)

and downloads each dataset's ARFF file. OpenML publishes the md5 checksum of that file in the
description; the Parquet copies it also serves carry none, so this client does not use them.

Everything lands in ``cache_dir()/openml`` (``$CONTEXTURES_CACHE/openml`` when that is set). A
download is streamed to a temporary file beside its cache entry, its md5 compared with the
published one, and only then renamed into place. A mismatch deletes the temporary file and the
cached description (a stale description would refuse every later download) and raises
:class:`DataError`; a cached ARFF file is checked again each time it is read.
``CONTEXTURES_OFFLINE=1`` forbids the network; an uncached item then raises :class:`OfflineError`.

All network access goes through ``urllib.request.urlopen`` (tests replace it with recordings).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..exceptions import DataError, OfflineError
from ._paths import cache_dir

API = "https://www.openml.org/api/v1/json"
OFFLINE_ENV = "CONTEXTURES_OFFLINE"
TIMEOUT_SECONDS = 60.0
_CHUNK = 1 << 20


def openml_cache_dir() -> Path:
    """Where the built-in client keeps OpenML downloads: ``cache_dir()/openml``."""
    return cache_dir() / "openml"


def offline_forced() -> bool:
    """Whether ``$CONTEXTURES_OFFLINE`` forbids the network."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _http_error(exc: urllib.error.HTTPError, url: str, what: str) -> DataError:
    detail = ""
    try:
        err = json.loads(exc.read().decode("utf-8", "replace")).get("error", {})
        detail = f": {err.get('message', '')} (OpenML error {err.get('code', '?')})"
    except (ValueError, AttributeError, OSError):
        pass
    return DataError(f"{what}: OpenML answered HTTP {exc.code} for {url}{detail}")


def _unreachable(exc: OSError, url: str, what: str, where: Path) -> OfflineError:
    reason = getattr(exc, "reason", exc)
    return OfflineError(f"{what} needs the network the first time and OpenML is not reachable "
                        f"({url}: {reason}); once downloaded it is cached in {where}")


def _download(url: str, path: Path, what: str, md5: str | None = None) -> None:
    """Stream ``url`` into ``path`` atomically; given ``md5``, keep it only if the md5 matches."""
    if offline_forced():
        raise OfflineError(f"{what} is not in the cache ({path.parent}) and the network is "
                           f"disabled (${OFFLINE_ENV} is set); run once online to download it")
    request = urllib.request.Request(url, headers={"User-Agent": "contextures"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        raise _http_error(exc, url, what) from None
    except OSError as exc:  # URLError, timeouts and connection errors are all OSError
        raise _unreachable(exc, url, what, path.parent) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with response, tmp.open("wb") as out:
            while True:
                try:
                    block = response.read(_CHUNK)
                except OSError as exc:
                    raise _unreachable(exc, url, what, path.parent) from None
                if not block:
                    break
                digest.update(block)
                out.write(block)
    except OfflineError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{what}: cannot write the cache file {tmp} ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if md5 is not None and digest.hexdigest() != md5.lower():
        tmp.unlink(missing_ok=True)
        raise DataError(f"{what}: the file downloaded from {url} has md5 {digest.hexdigest()}, not "
                        f"the checksum OpenML publishes for it ({md5}); it was not kept, so the "
                        f"next attempt downloads it again")
    os.replace(tmp, path)


def _json(url: str, cache_name: str, what: str) -> dict:
    path = openml_cache_dir() / cache_name
    if not path.is_file():
        _download(url, path, what)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise DataError(f"{what}: OpenML sent an unreadable answer ({exc})") from None
    if not isinstance(doc, dict) or "error" in doc:
        path.unlink(missing_ok=True)
        err = doc.get("error", {}) if isinstance(doc, dict) else {}
        raise DataError(f"{what}: OpenML error {err.get('code', '?')}: {err.get('message', '')}")
    return doc


def dataset_description(dataset_id: int) -> dict:
    """The ``data_set_description`` of an OpenML dataset (cached)."""
    doc = _json(f"{API}/data/{dataset_id}", f"data-{dataset_id}.json",
                f"OpenML dataset {dataset_id}")
    try:
        return doc["data_set_description"]
    except KeyError:
        raise DataError(f"OpenML dataset {dataset_id}: unexpected answer "
                        f"(no description)") from None


def task_description(task_id: int) -> dict:
    """The ``task`` description of an OpenML task (cached)."""
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


def _arff_path(dataset_id: int) -> Path:
    return openml_cache_dir() / f"dataset-{dataset_id}.arff"


def arff_file(desc: dict, dataset_id: int) -> Path:
    """The dataset's ARFF file in the cache, downloaded and md5-checked first when needed."""
    what = f"OpenML dataset {dataset_id}"
    url = desc.get("url")
    if not url:
        raise DataError(f"{what}: its description names no data file")
    md5 = str(desc.get("md5_checksum") or "").strip()
    if not md5:
        raise DataError(f"{what}: OpenML publishes no md5 checksum for its data file, so the "
                        f"built-in client will not use it (the openml package, "
                        f"pip install 'contextures[openml]', loads it without the check)")
    path = _arff_path(dataset_id)
    if path.is_file() and _md5_of_file(path) != md5.lower():
        path.unlink()  # damaged in the cache: download it again
    if not path.is_file():
        try:
            _download(url, path, what, md5=md5)
        except DataError as exc:
            if not isinstance(exc, OfflineError):
                (openml_cache_dir() / f"data-{dataset_id}.json").unlink(missing_ok=True)
            raise
    return path


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
    return _arff_path(dataset_id).is_file()
