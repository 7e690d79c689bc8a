"""Downstream rows streamed from a Parquet file: split, preprocessed and handed out in blocks.

A table that does not fit in memory can still be scored on every row when the context is fitted
on a sample (``max_fit``) and only the *downstream* rows (downstream-train and test, 30% of the
table by default) need its features: those are computed a block of rows at a time and never held
together. :func:`~contextures.datasets.prepare` does this for a Parquet file when asked
(``stream=True``) or when the file is over the memory budget and a fitting sample size is given:

1. the footer gives the rows and columns; the target column alone is read and encoded;
2. the rows are split exactly as for a table in memory (the same seeded, stratified
   :func:`~contextures.datasets.splits.split_indices`, which needs the target only), and the
   fitting sample is drawn from the pretrain rows with the main job's rule
   (:func:`~contextures.datasets.splits.fit_rows`);
3. the fitting rows are read by row groups (:meth:`ParquetRows.rows`) and the preprocessing
   pipeline is fitted on them: on the fitting sample, not on every pretrain row as in memory,
   since the pretrain rows are what does not fit;
4. :class:`StreamedRows` then reads the file in record batches of at most
   :data:`BATCH_BYTES` decoded, keeps each batch's downstream rows, preprocesses them with the
   fitted pipeline and yields them as ``(part, block)`` in file order, the part being
   ``"train"`` or ``"test"``.

Since the split indices are sorted, the blocks of a part arrive in the part's own row order: the
rows ``X_train[i]`` of the in-memory path, one block at a time. What is held is the target
column, the O(n) row indices of the parts, the fitting sample, and one decoded batch (with the
row group pyarrow decodes it from).

:class:`StreamedPart` stands where :class:`~contextures.datasets.prepare.Prepared` holds the
``X_train`` and ``X_test`` arrays: it has their ``shape`` and refuses to become an array, so code
that expects the rows in memory fails with a message instead of computing on the wrong thing.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.pipeline import Pipeline

from .._memory import check_allocation, resolve_budget
from ..exceptions import DataError
from .parquet_sample import ParquetRows, to_frame

BATCH_BYTES = 32 * 1024**2
"""Decoded bytes of one record batch read from the file, at most (and at most an eighth of the
memory budget), but at least :data:`MIN_BATCH_ROWS` rows."""
MIN_BATCH_ROWS = 1024

PARTS = ("train", "test")


class StreamedRows:
    """The downstream rows of a Parquet file, preprocessed a batch at a time (module docstring).

    ``rows`` is the file's :class:`ParquetRows`; ``columns`` the feature columns in the order the
    pipeline was fitted on; ``pipeline`` the fitted preprocessing; ``parts`` maps ``"train"`` and
    ``"test"`` to their sorted row numbers in the file; ``n_features`` the pipeline's output width.
    """

    def __init__(self, rows: ParquetRows, columns: list[str], pipeline: Pipeline,
                 parts: dict[str, np.ndarray], n_features: int):
        self.rows, self.columns, self.pipeline = rows, list(columns), pipeline
        self.parts = {name: np.asarray(index, dtype=np.int64) for name, index in parts.items()}
        self.n_features = int(n_features)
        self.row_bytes = max(1.0, rows.decoded_bytes / max(1, rows.n_rows))
        batch_bytes = min(BATCH_BYTES, resolve_budget(None) / 8)
        self.batch_rows = int(min(max(1, rows.n_rows),
                                  max(MIN_BATCH_ROWS, batch_bytes // self.row_bytes)))

    def n_rows(self, parts=PARTS) -> int:
        return int(sum(self.parts[p].size for p in parts))

    def blocks(self, parts=PARTS) -> Iterator[tuple[str, np.ndarray]]:
        """``(part, X)`` for the rows of ``parts`` in each record batch of the file, in file
        order: X float64, C-contiguous, preprocessed by the fitted pipeline."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        check_allocation(self.row_bytes * self.batch_rows * 3
                         + max(self.rows.group_bytes, default=0)
                         + 16.0 * self.n_features * self.batch_rows, None,
                         f"{self.rows.what}: streaming {self.rows.source} in batches of "
                         f"{self.batch_rows} rows")
        wanted = [(p, self.parts[p]) for p in parts]
        start = 0
        try:
            with self.rows.opener() as fh:
                reader = pq.ParquetFile(fh)
                for group in range(reader.num_row_groups):
                    # one row group at a time (iter_batches keeps the buffers it has read from
                    # a Python file object until it ends), cut into batches
                    table = reader.read_row_group(group, columns=self.columns)
                    for batch in table.to_batches(max_chunksize=self.batch_rows):
                        stop = start + batch.num_rows
                        for part, index in wanted:
                            lo, hi = np.searchsorted(index, [start, stop])
                            if hi > lo:
                                taken = batch.take(pa.array(index[lo:hi] - start))
                                yield part, self._preprocess(to_frame(taken))
                        start = stop
                    del table
        except (DataError, MemoryError):
            raise
        except OSError as exc:   # the file changed or went away between reads
            raise DataError(f"{self.rows.what}: cannot stream {self.rows.source}: {exc}") from None
        if start != self.rows.n_rows:
            raise DataError(f"{self.rows.what}: {self.rows.source} gave {start} rows, its footer "
                            f"says {self.rows.n_rows}: was it changed while being read?")

    def _preprocess(self, frame) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(self.pipeline.transform(frame[self.columns]),
                                               dtype=np.float64))


class StreamedPart:
    """The rows of one downstream part (``"train"`` or ``"test"``) of a :class:`StreamedRows`,
    standing where the in-memory path holds an array (module docstring)."""

    def __init__(self, source: StreamedRows, part: str):
        self.source, self.part = source, part

    @property
    def shape(self) -> tuple[int, int]:
        return (self.source.n_rows((self.part,)), self.source.n_features)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, *args, **kwargs):
        raise DataError(f"the {self.part} rows of {self.source.rows.source} are streamed from the "
                        "file, not held in memory: this step needs them as an array (read the "
                        "table with a row cap, :max_rows=N, instead)")

    def __repr__(self) -> str:
        n, f = self.shape
        return f"StreamedPart({self.part!r}, {n} rows × {f} features of {self.source.rows.source})"


def is_streamed(X) -> bool:
    """Whether ``X`` stands for rows streamed from a file (:class:`StreamedPart`)."""
    return isinstance(X, StreamedPart)
