"""Parquet tables larger than the memory budget: a seeded row sample, read one row group at a time.

A Parquet file whose decoded size (:func:`~contextures.datasets.remote.parquet_decoded_bytes`)
is over the memory budget cannot be read whole. With a row cap (``:max_rows=N`` in the spec, or
``max_rows=`` of :func:`~contextures.datasets.load_dataset`) it need not be: the cap keeps a
seeded subsample of N rows, and which rows those are depends only on the number of rows and, for
a classification target, on the target column (the sample is stratified by class;
:func:`~contextures.datasets.splits.subsample_indices`). So

1. the footer gives the number of rows, the columns and the row groups;
2. the target column alone is read (one column of the table), checked and used to choose the
   rows, exactly as for a table held in memory;
3. the row groups are read one after another, and the chosen rows of each are kept.

The result is the same table, row for row and value for value, as reading the whole file and
capping it. The memory held is the sample (N rows, every column) plus one decoded row group and
the target column; that sum is checked against the budget before any row group is read. Without
a cap, such a file is refused with the estimate and the option that reads a sample instead.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import IO, NoReturn

import numpy as np
import pandas as pd

from .._memory import check_allocation, fits
from ..exceptions import DataError
from .remote import parquet_decoded_bytes

Opener = Callable[[], AbstractContextManager[IO[bytes]]]

_ROW_GROUPS_ONLY: ContextVar[bool] = ContextVar("parquet_row_groups_only", default=False)


@contextmanager
def row_groups_only():
    """Inside the block the Parquet loaders read no table whole, whatever its size: they return
    its :class:`ParquetRows` (the footer only), for a streamed read
    (:mod:`~contextures.datasets.streamed`)."""
    token = _ROW_GROUPS_ONLY.set(True)
    try:
        yield
    finally:
        _ROW_GROUPS_ONLY.reset(token)


def to_frame(table) -> pd.DataFrame:
    """An Arrow table as pandas reads it, its column names as strings (as
    :attr:`ParquetRows.columns` names them; pandas metadata may restore other labels)."""
    frame = table.to_pandas()
    frame.columns = [str(c) for c in frame.columns]
    return frame


class ParquetRows:
    """A Parquet file read by row groups (see the module docstring).

    ``opener()`` opens the file (a local path or an fsspec URL) as a binary file object; it is
    called once per read, so nothing stays open between reads. ``source`` names the file in
    messages and ``what`` the spec that asked for it.
    """

    def __init__(self, opener: Opener, source: str, what: str):
        import pyarrow.parquet as pq

        self.opener, self.source, self.what = opener, source, what
        try:
            with opener() as fh:
                footer = pq.ParquetFile(fh)
                metadata, schema = footer.metadata, footer.schema_arrow
        except MemoryError:
            raise
        except Exception as exc:   # not a Parquet file, or truncated: pyarrow's own error types
            raise DataError(f"{what}: cannot read PARQUET file {source}: {exc}") from None
        self.n_rows = int(metadata.num_rows)
        # the columns pandas gives (an index stored by pandas is not one of them)
        self.columns = [str(name) for name in schema.empty_table().to_pandas().columns]
        self.decoded_bytes = parquet_decoded_bytes(metadata)
        groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
        self.group_rows = np.array([g.num_rows for g in groups], dtype=np.int64)
        self.group_bytes = [int(max(g.total_byte_size, 8 * g.num_rows * metadata.num_columns))
                            for g in groups]

    @classmethod
    def of_path(cls, path, what: str) -> ParquetRows:
        """The Parquet file at a local ``path`` (its footer read, nothing else)."""
        return cls(lambda: open(path, "rb"), str(path), what)

    def fits(self, budget=None) -> bool:
        """Whether the whole decoded table fits in the memory budget."""
        return fits(self.decoded_bytes, budget)

    def read_whole(self) -> bool:
        """Whether a loader reads the table whole: it fits, and no :func:`row_groups_only`
        block asks for row groups."""
        return self.fits() and not _ROW_GROUPS_ONLY.get()

    def refuse(self, budget=None) -> NoReturn:
        """The budget error for reading the whole table, naming the option that samples it."""
        check_allocation(self.decoded_bytes, budget,
                         f"{self.what}: reading {self.source} ({self.n_rows} rows × "
                         f"{len(self.columns)} columns; add :max_rows=N to the spec to read a "
                         "seeded sample of N rows, one row group at a time, or give evaluate or "
                         "run a fitting sample, --max-fit N, to stream every row)")
        raise AssertionError("unreachable: the table was found over the budget")  # pragma: no cover

    def read(self) -> pd.DataFrame:
        """The whole table, as pandas reads it (for a file that :meth:`fits`)."""
        try:
            with self.opener() as fh:
                return pd.read_parquet(fh)
        except MemoryError:
            raise
        except Exception as exc:   # pyarrow's and the file system's own error types
            raise DataError(f"{self.what}: cannot read PARQUET file {self.source}: {exc}") from None

    def column(self, name: str) -> pd.Series:
        """One whole column (the target), as pandas reads it from the whole file."""
        import pyarrow.parquet as pq

        check_allocation(16.0 * self.n_rows, None, f"{self.what}: the column {name!r} of "
                         f"{self.source} ({self.n_rows} rows)")
        with self.opener() as fh:
            table = pq.ParquetFile(fh).read(columns=[name])
        return to_frame(table)[name]

    def rows(self, keep: np.ndarray, budget=None) -> pd.DataFrame:
        """The rows ``keep`` (sorted, distinct) with every column (named as :attr:`columns`), in
        file order."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        keep = np.asarray(keep, dtype=np.int64)
        per_row = self.decoded_bytes / max(1, self.n_rows)
        check_allocation(per_row * keep.size + max(self.group_bytes, default=0)
                         + 16.0 * self.n_rows, budget,
                         f"{self.what}: a sample of {keep.size} of the {self.n_rows} rows of "
                         f"{self.source}, read by row groups")
        starts = np.concatenate([[0], np.cumsum(self.group_rows)])
        cuts = np.searchsorted(keep, starts)
        pieces = []
        with self.opener() as fh:
            reader = pq.ParquetFile(fh)
            for i in range(self.group_rows.size):
                chosen = keep[cuts[i]:cuts[i + 1]] - starts[i]
                if chosen.size:
                    pieces.append(reader.read_row_group(i).take(pa.array(chosen)))
            table = pa.concat_tables(pieces) if pieces else reader.schema_arrow.empty_table()
        return to_frame(table)
