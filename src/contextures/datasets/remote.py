"""Tables read by URL: ``csv:`` and ``parquet:`` specs whose path is an fsspec URL.

A path that starts with a protocol (``s3://``, ``gs://``, ``https://``, ``http://``,
``file://``, ``memory://``...) is opened with `fsspec <https://filesystem-spec.readthedocs.io>`_
(the ``remote`` extra: ``pip install 'contextures[remote]'``, which brings fsspec and aiohttp for
``http(s)://``; ``s3://`` also needs ``s3fs`` and ``gs://`` ``gcsfs``, installed beside it).
Credentials come from where those libraries look for them (environment variables, the cloud's
configuration files): contextures passes none. So every process that names the spec (a dask
worker included) reads the same table from the same place.

What can go wrong gets one line and an exit code:

- fsspec (or the protocol's package) is not installed: :class:`DataError` (3), with the
  ``pip install`` that fixes it;
- the host does not resolve or refuses the connection: :class:`OfflineError` (4);
- no such object (HTTP 404, a missing key or file): :class:`DataError` (3);
- a Parquet file whose decoded size is over the memory budget: :class:`MemoryBudgetError` (5),
  checked from the file's metadata before any row is read (:func:`parquet_decoded_bytes`,
  :class:`~contextures.datasets.parquet_sample.ParquetRows`), unless a row cap samples it.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pandas as pd

from ..exceptions import DataError, OfflineError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
INSTALL = "pip install 'contextures[remote]'"


def is_url(path: str) -> bool:
    """Whether a ``csv:``/``parquet:`` path is a URL (``PROTOCOL://...``)."""
    return bool(_URL.match(str(path)))


def _causes(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _host(url: str) -> str:
    rest = url.split("://", 1)[1]
    return rest.split("/", 1)[0] or url


def access_error(exc: BaseException, url: str, what: str) -> DataError:
    """The one-line error for a failure to reach ``url`` (see the module docstring)."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return OfflineError(f"{what}: cannot resolve the host {_host(url)!r} of {url} (no "
                                "such host, or no network)")
        if isinstance(cause, ConnectionError | TimeoutError):
            return OfflineError(f"{what}: cannot connect to {_host(url)} for {url}: {cause}")
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{what}: not found: {url}")
    if isinstance(exc, PermissionError):
        return DataError(f"{what}: access denied to {url}: {exc}")
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{what}: {url} is a directory, not a file")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{what}: cannot read {url}: {text}")


def filesystem(url: str, what: str) -> tuple[Any, str]:
    """(fsspec file system, path inside it) for ``url``, with the install hint when the
    package for its protocol is missing."""
    try:
        import fsspec
    except ImportError:
        raise DataError(f"{what}: reading a URL needs fsspec: {INSTALL}") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:  # the protocol's own package (s3fs, gcsfs, aiohttp) is missing
        raise DataError(f"{what}: {exc} ({url})") from None
    except ValueError as exc:   # an unknown protocol
        raise DataError(f"{what}: cannot open {url}: {exc}") from None


def parquet_decoded_bytes(metadata) -> int:
    """Bytes the table takes once read, estimated from Parquet metadata: the larger of its
    uncompressed size (Σ of the row groups' ``total_byte_size``) and rows × columns × 8 (every
    column as float64, as the preprocessed features are)."""
    uncompressed = sum(metadata.row_group(i).total_byte_size
                       for i in range(metadata.num_row_groups))
    return int(max(uncompressed, 8 * metadata.num_rows * metadata.num_columns))


def _url_file(url: str, what: str) -> tuple[Any, str]:
    """(file system, path) of the file at ``url``, checked to exist and not be a directory."""
    fs, path = filesystem(url, what)
    try:
        info = fs.info(path)
    except Exception as exc:  # fsspec back ends raise their own types
        raise access_error(exc, url, what) from None
    if info.get("type") == "directory":
        raise DataError(f"{what}: {url} is a directory, not a file")
    return fs, path


def url_parquet_rows(url: str, what: str):
    """A :class:`~contextures.datasets.parquet_sample.ParquetRows` for the Parquet file at
    ``url`` (its footer read, nothing else)."""
    from .parquet_sample import ParquetRows

    fs, path = _url_file(url, what)
    try:
        return ParquetRows(lambda: fs.open(path, "rb"), url, what)
    except DataError:
        raise
    except Exception as exc:
        raise access_error(exc, url, what) from None


def read_url_csv(url: str, what: str) -> pd.DataFrame:
    """Read the CSV table at ``url`` (compression inferred from the name). Parquet files are
    read through :func:`url_parquet_rows`, whose footer decides whether they fit."""
    fs, path = _url_file(url, what)
    try:
        from fsspec.utils import infer_compression

        with fs.open(path, "rb", compression=infer_compression(path)) as fh:
            return pd.read_csv(fh)
    except (DataError, MemoryError):
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{what}: the file {url} is empty (no header, no rows)") from None
    except Exception as exc:
        raise access_error(exc, url, what) from None
