"""The raw table every source loader returns, before targets, tasks and caps are applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class RawTable:
    """A loaded table: all columns (target included), which column is the target, hints.

    ``task_hint`` is the task a source states (a manifest, an OpenML task, scikit-learn's loader);
    ``dropped`` lists columns the loader removed (R row names, OpenML row ids); ``metadata``
    holds ``source``, ``license``, ``citation`` and anything else worth recording.

    A Parquet file too large for the memory budget comes without ``frame`` (None) and with
    ``rows``, a :class:`~contextures.datasets.parquet_sample.ParquetRows` that reads its target
    column and a sample of its rows (:func:`~contextures.datasets.load_dataset` does, when the
    rows are capped).
    """

    name: str
    frame: pd.DataFrame | None
    target: str | None
    task_hint: str | None = None
    dropped: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    rows: Any = None

    @property
    def columns(self) -> list[str]:
        """The column names, target included (read from the footer for a sampled file)."""
        if self.frame is None:
            return list(self.rows.columns)
        return [str(c) for c in self.frame.columns]
