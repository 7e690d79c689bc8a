"""The raw table every source loader returns, before targets, tasks and caps are applied."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class RawTable:
    """A loaded table: all columns (target included), which column is the target, hints.

    ``task_hint`` is the task a source states (a manifest, an OpenML task, scikit-learn's loader);
    ``dropped`` lists columns the loader removed (R row names, OpenML row ids); ``metadata``
    holds ``source``, ``license``, ``citation`` and anything else worth recording.
    """

    name: str
    frame: pd.DataFrame
    target: str | None
    task_hint: str | None = None
    dropped: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
