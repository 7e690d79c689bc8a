"""OpenML datasets and tasks (``openml:ID``, ``openml:task/ID``), downloaded once and cached.

Two clients fetch the files; the table is built here, the same way for both:

- the ``openml`` package (the ``openml`` extra), whenever it is importable. It downloads into its
  own cache (``$OPENML_CACHE_DIR``, or ``cachedir`` in its config file, else ``~/.cache/openml``)
  and refuses an ARFF file whose md5 differs from the checksum OpenML publishes. It takes the
  Parquet copy when the dataset has one (no checksum is published for those;
  ``OPENML_SKIP_PARQUET=true`` makes it use the checksummed ARFF file instead). Its downloads are
  serialised across processes by a lock file, as it writes its cache files in place;
- a built-in client otherwise (:mod:`._openml_builtin`): JSON API, ARFF files only, every download
  md5-checked before it enters ``$CONTEXTURES_CACHE/openml``.

``$CONTEXTURES_OPENML_CLIENT`` chooses: ``openml`` (the package, an error if it is missing),
``builtin``, or ``auto`` (the default: the package when installed). ARFF files are parsed by
:func:`.arff.read_arff` on both paths, Parquet files by pandas.

``CONTEXTURES_OFFLINE=1`` forbids the network (cached items still load). Without network an
uncached item raises :class:`OfflineError`; an id OpenML does not know, a download whose checksum
does not match, or a file that does not parse raises :class:`DataError`.
"""

from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pandas as pd

from ..exceptions import ContexturesError, DataError, OfflineError
from . import _openml_builtin as builtin
from ._openml_builtin import OFFLINE_ENV, offline_forced, openml_cache_dir, task_source
from ._paths import cache_dir
from ._table import RawTable
from .arff import decode_text, read_arff

__all__ = ["CLIENT_ENV", "OFFLINE_ENV", "active_client", "cache_location", "is_cached",
           "load_openml", "openml_cache_dir", "openml_package", "task_source"]

try:  # POSIX advisory locks; elsewhere downloads are not serialised
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX platforms
    fcntl = None  # type: ignore[assignment]

CLIENT_ENV = "CONTEXTURES_OPENML_CLIENT"
_OML_NS = {"oml": "http://openml.org/openml"}
_CLASSIFICATION_TASK_TYPES = {"1", "3"}  # supervised classification, learning curve


def _client_choice() -> str:
    value = os.environ.get(CLIENT_ENV, "").strip().lower() or "auto"
    if value not in ("auto", "openml", "builtin"):
        raise DataError(f"${CLIENT_ENV}={value!r}: expected auto, openml or builtin")
    return value


def openml_package() -> ModuleType | None:
    """The ``openml`` module when it is used for downloads (see the module docstring), else None."""
    choice = _client_choice()
    if choice == "builtin":
        return None
    try:
        import openml
    except ImportError:
        if choice == "openml":
            raise DataError(f"${CLIENT_ENV}=openml but the openml package is not installed "
                            f"(pip install 'contextures[openml]')") from None
        return None
    return openml


def active_client() -> str:
    """``'openml'`` when the openml package fetches datasets, else ``'builtin'``."""
    return "builtin" if openml_package() is None else "openml"


def cache_location() -> Path:
    """The directory the active client caches OpenML downloads in."""
    oml = openml_package()
    return openml_cache_dir() if oml is None else Path(oml.config.get_cache_directory())


@dataclass
class _Fetched:
    """What either client hands over: the data file and the dataset's description fields."""

    dataset_id: int
    data_file: Path
    name: str
    version: object = "?"
    licence: str | None = None
    citation: str | None = None
    original_data_url: str | None = None
    default_target: list[str] = field(default_factory=list)
    row_id: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    task_id: int | None = None
    task_type: str | None = None
    task_target: str | None = None


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _one_line(text: object, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


# -- the built-in client ------------------------------------------------------------------------

def _fetch_builtin(dataset_id: int | None, task_id: int | None) -> _Fetched:
    task_type = task_target = None
    if task_id is not None:
        task = builtin.task_description(task_id)
        dataset_id, task_target, _ = task_source(task, task_id)
        task_type = str(task.get("task_type") or "task")
    assert dataset_id is not None
    desc = builtin.dataset_description(dataset_id)
    path = builtin.arff_file(desc, dataset_id)
    return _Fetched(
        dataset_id, path, str(desc.get("name") or f"openml-{dataset_id}"),
        version=desc.get("version", "?"), licence=desc.get("licence"),
        citation=desc.get("citation"), original_data_url=desc.get("original_data_url"),
        default_target=_as_list(desc.get("default_target_attribute")),
        row_id=_as_list(desc.get("row_id_attribute")),
        ignore=_as_list(desc.get("ignore_attribute")),
        task_id=task_id, task_type=task_type, task_target=task_target)


# -- the openml package ---------------------------------------------------------------------------

@contextlib.contextmanager
def _package_errors(oml: ModuleType, what: str):
    """Turn the openml package's exceptions (and requests' network errors) into ours."""
    import requests

    errors = oml.exceptions
    try:
        yield
    except errors.OpenMLHashException as exc:
        raise DataError(f"{what}: the downloaded file does not match the md5 checksum OpenML "
                        f"publishes for it, so it was not kept; the next attempt downloads it "
                        f"again ({_one_line(exc)})") from None
    except errors.OpenMLServerException as exc:
        message = _one_line(exc.message).removesuffix(" - None")  # no additional information
        raise DataError(f"{what}: OpenML error {exc.code}: {message}") from None
    except errors.PyOpenMLError as exc:
        raise DataError(f"{what}: {_one_line(exc)}") from None
    except ContexturesError:
        raise
    except (NotImplementedError, ValueError, KeyError) as exc:  # an answer it cannot use
        raise DataError(f"{what}: the openml package cannot use OpenML's answer "
                        f"({type(exc).__name__}: {_one_line(exc)})") from None
    except requests.exceptions.RequestException as exc:
        raise OfflineError(f"{what} needs the network the first time and OpenML is not reachable "
                           f"({type(exc).__name__}); once downloaded it is cached in "
                           f"{cache_location()}") from None


@contextlib.contextmanager
def _download_lock():
    """Hold an exclusive lock while the openml package fills its cache.

    The package writes its cache files in place, so a second process loading the same item at the
    same time could read a half-written file; with the lock it waits and then finds the files
    complete. The lock file is ``cache_dir()/openml-package.lock``; without a writable cache
    directory (or on platforms without ``flock``) downloads go unserialised.
    """
    handle = None
    if fcntl is not None:
        try:
            path = cache_dir() / "openml-package.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+b")
        except OSError:
            handle = None
    if handle is None:
        yield
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing releases the lock


def _package_task_files(root: Path, task_id: int) -> tuple[int, bool] | None:
    """(dataset id, whether the task is a classification task) from a cached ``task.xml``."""
    try:
        doc = ET.parse(root / "tasks" / str(task_id) / "task.xml").getroot()
        dataset_id = int(doc.findtext(".//oml:data_set_id", namespaces=_OML_NS) or "")
    except (OSError, ET.ParseError, ValueError):
        return None
    task_type = (doc.findtext("oml:task_type_id", namespaces=_OML_NS) or "").strip()
    return dataset_id, task_type in _CLASSIFICATION_TASK_TYPES


def _package_is_cached(oml: ModuleType, dataset_id: int | None, task_id: int | None) -> bool:
    root = Path(oml.config.get_cache_directory())
    needs_features = False
    if task_id is not None:
        found = _package_task_files(root, task_id)
        if found is None:
            return False
        dataset_id, needs_features = found
    if dataset_id is None:
        return False
    folder = root / "datasets" / str(dataset_id)
    if not (folder / "description.xml").is_file():
        return False
    if needs_features and not (folder / "features.xml").is_file():
        return False  # the package reads a classification task's labels from it
    return (folder / "dataset.arff").is_file() or (folder / f"dataset_{dataset_id}.pq").is_file()


def _fetch_with_package(oml: ModuleType, dataset_id: int | None,
                        task_id: int | None) -> _Fetched:
    what = f"OpenML task {task_id}" if task_id is not None else f"OpenML dataset {dataset_id}"
    if offline_forced() and not _package_is_cached(oml, dataset_id, task_id):
        raise OfflineError(f"{what} is not in the openml package's cache ({cache_location()}) "
                           f"and the network is disabled (${OFFLINE_ENV} is set); run once "
                           f"online to download it")
    task_type = task_target = None
    with _download_lock(), _package_errors(oml, what):
        if task_id is not None:
            task = oml.tasks.get_task(task_id, download_splits=False, download_data=False,
                                      download_qualities=False,
                                      download_features_meta_data=False)
            dataset_id = int(task.dataset_id)
            task_type = str(task.task_type or "task")
            task_target = getattr(task, "target_name", None) or None
            what = f"OpenML dataset {dataset_id}"
        dataset = oml.datasets.get_dataset(dataset_id, download_data=True,
                                           download_qualities=False,
                                           download_features_meta_data=False)
    data_file = dataset.parquet_file or dataset.data_file
    if not data_file:
        raise DataError(f"{what}: the openml package returned no data file")
    return _Fetched(
        int(dataset_id), Path(data_file), str(dataset.name or f"openml-{dataset_id}"),
        version=dataset.version if dataset.version is not None else "?",
        licence=dataset.licence, citation=dataset.citation,
        original_data_url=dataset.original_data_url,
        default_target=_as_list(dataset.default_target_attribute),
        row_id=_as_list(dataset.row_id_attribute), ignore=_as_list(dataset.ignore_attribute),
        task_id=task_id, task_type=task_type, task_target=task_target)


# -- the table ------------------------------------------------------------------------------------

def _read_data_file(path: Path, what: str) -> pd.DataFrame:
    """The DataFrame of a downloaded ARFF or Parquet file."""
    if path.suffix == ".pq":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # any pyarrow failure means a damaged file
            path.unlink(missing_ok=True)
            raise DataError(f"{what}: cannot read its Parquet file {path} ({_one_line(exc)}); "
                            f"the file was removed from the cache, so the next attempt downloads "
                            f"it again") from None
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what}: cannot read {path} ({exc})") from None
    return read_arff(decode_text(payload, f"{what} ({path})"), source=f"{what} ({path})")


def _table(fetched: _Fetched, target: str | None) -> RawTable:
    dataset_id = fetched.dataset_id
    task_hint = None
    source = ""
    if fetched.task_id is not None:
        target = target or fetched.task_target
        task_type = (fetched.task_type or "").lower()
        task_hint = ("classification" if "classification" in task_type
                     else "regression" if "regression" in task_type else None)
        source = f"OpenML task {fetched.task_id} ({fetched.task_type}) on "
    if target is None:
        if len(fetched.default_target) > 1:
            raise DataError(f"OpenML dataset {dataset_id} has several default targets "
                            f"({', '.join(fetched.default_target)}); choose one with "
                            f"openml:{dataset_id}:TARGET")
        target = fetched.default_target[0] if fetched.default_target else None
    frame = _read_data_file(fetched.data_file, f"OpenML dataset {dataset_id}")
    drop = [c for c in fetched.row_id + fetched.ignore if c in frame.columns and c != target]
    frame = frame.drop(columns=drop)
    metadata = {
        "source": f"{source}OpenML dataset {dataset_id} ({fetched.name}, version "
                  f"{fetched.version})",
        "url": f"https://www.openml.org/d/{dataset_id}",
        "license": fetched.licence or "unknown (see the OpenML page)",
        "citation": fetched.citation or fetched.original_data_url
        or f"https://www.openml.org/d/{dataset_id}",
        "openml_dataset_id": dataset_id,
        "openml_task_id": fetched.task_id,
        "openml_name": fetched.name,
    }
    return RawTable(fetched.name, frame, target, task_hint, drop, metadata)


def load_openml(dataset_id: int | None = None, *, task_id: int | None = None,
                target: str | None = None) -> RawTable:
    """Load an OpenML dataset (by dataset id, or through a task id) as a table."""
    if dataset_id is None and task_id is None:
        raise DataError("load_openml needs a dataset id or a task id")
    oml = openml_package()
    fetched = (_fetch_builtin(dataset_id, task_id) if oml is None
               else _fetch_with_package(oml, dataset_id, task_id))
    return _table(fetched, target)


def is_cached(dataset_id: int | None = None, *, task_id: int | None = None) -> bool:
    """Whether loading this dataset/task needs no network (every file is in the cache)."""
    oml = openml_package()
    if oml is None:
        return builtin.is_cached(dataset_id, task_id=task_id)
    return _package_is_cached(oml, dataset_id, task_id)
