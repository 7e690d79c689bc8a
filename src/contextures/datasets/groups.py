"""A dataset with a group column: :func:`prepare_grouped` → :class:`GroupedPrepared`.

The group column (a subpopulation, a site, a period) is taken out of the table *before*
anything else sees it: it is removed from the features, so neither the context, the
preprocessing nor a probe can read it, and kept as one label per row (its values as text;
missing values form the group ``"missing"``). The rest is :func:`~contextures.datasets.prepare`
on the remaining columns: the same seeded 70/15/15 split (stratified by class for
classification), preprocessing fitted on the pretrain rows. The group labels of each part follow
the part's rows (``index_pre`` / ``index_train`` / ``index_test``).

A group column must be a feature column of the table (not its target) with at least two values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .dataset import Dataset, load_dataset
from .prepare import Prepared, prepare
from .splits import DEFAULT_FRACTIONS

MISSING_GROUP = "missing"


@dataclass
class GroupedPrepared:
    """A :class:`~contextures.datasets.Prepared` dataset and the group of every row of each part.

    ``groups_pre``, ``groups_train``, ``groups_test``: arrays of group names (str), aligned with
    ``data.X_pre``, ``data.X_train``, ``data.X_test``; ``group_names``: the sorted distinct
    names; ``column``: the group column's name.
    """

    data: Prepared
    column: str
    groups_pre: np.ndarray
    groups_train: np.ndarray
    groups_test: np.ndarray
    group_names: list[str]

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per group in each part: ``{group: {"pretrain": n, "train": n, "test": n}}``."""
        return {g: {"pretrain": int(np.sum(self.groups_pre == g)),
                    "train": int(np.sum(self.groups_train == g)),
                    "test": int(np.sum(self.groups_test == g))} for g in self.group_names}

    @property
    def majority_group(self) -> str:
        """The group with the most rows over all parts (ties: the first name in order)."""
        totals = {g: sum(c.values()) for g, c in self.counts().items()}
        return max(self.group_names, key=lambda g: totals[g])


def group_labels(series: pd.Series) -> np.ndarray:
    """The group of every row as text; missing values are the group ``"missing"``."""
    labels = series.astype(object).where(series.notna(), MISSING_GROUP)
    return np.asarray([str(v) for v in labels], dtype=object).astype(str)


def split_group_column(dataset: Dataset, column: str) -> tuple[Dataset, np.ndarray]:
    """(the dataset without ``column`` among its features, the group label of every row)."""
    if dataset.y_raw is not None and column == dataset.target_name:
        raise DataError(f"dataset {dataset.spec!r}: the group column {column!r} is the target; "
                        f"choose a feature column")
    if column not in dataset.X_raw.columns:
        hint = [c for c in dataset.X_raw.columns if c.lower() == column.lower()]
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        cols = ", ".join(map(str, dataset.X_raw.columns[:40]))
        raise DataError(f"dataset {dataset.spec!r}: no column {column!r}{did}; columns: {cols}")
    if dataset.X_raw.shape[1] < 2:
        raise DataError(f"dataset {dataset.spec!r}: {column!r} is its only feature; without it "
                        f"nothing is left to learn from")
    groups = group_labels(dataset.X_raw[column])
    if np.unique(groups).size < 2:
        raise DataError(f"dataset {dataset.spec!r}: the group column {column!r} has a single "
                        f"group ({groups[0]!r}); a shift needs at least two")
    metadata = dict(dataset.metadata)
    metadata["group_column"] = column
    rest = replace(dataset, X_raw=dataset.X_raw.drop(columns=[column]), metadata=metadata)
    return rest, groups


def prepare_grouped(spec: str | Dataset, column: str, *, split_seed: int = 0,
                    max_rows: int | None = None, fractions=DEFAULT_FRACTIONS,
                    cap_seed: int = 0) -> GroupedPrepared:
    """Load ``spec``, take ``column`` out as the group of every row, then :func:`prepare`."""
    dataset = spec if isinstance(spec, Dataset) else load_dataset(spec, max_rows=max_rows,
                                                                 random_state=cap_seed)
    rest, groups = split_group_column(dataset, column)
    data = prepare(rest, split_seed=split_seed, fractions=fractions)
    return GroupedPrepared(data=data, column=column, groups_pre=groups[data.index_pre],
                           groups_train=groups[data.index_train],
                           groups_test=groups[data.index_test],
                           group_names=sorted(np.unique(groups).tolist()))
