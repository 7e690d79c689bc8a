"""Loading a dataset from its spec: :func:`load_dataset` → :class:`Dataset`.

Steps, the same for every source: read the table (the source's loader), drop the spec's
``drop=`` columns, separate the target, refuse a target with missing values (the error gives the
count; rows are never dropped silently: clean the file, or pick another target), settle the
task, cap the rows, and refuse a table with no usable feature.

Task rule (:func:`infer_task`), used when neither the caller (``task=``), the spec (``:task=``)
nor the source (manifest, OpenML task, scikit-learn) states it: a target that is not numeric
(text, categorical, boolean) is a classification target; a numeric target whose values are all
integers and take at most ``MAX_INFERRED_CLASSES`` (10) distinct values is a classification
target; anything else is a regression target.

Row cap: the smaller of ``max_rows`` and the spec's ``:max_rows=``; a seeded subsample
(stratified by class for classification, see :mod:`~contextures.datasets.splits`) keeps the
table's row order and is recorded in ``metadata["cap"]``. A Parquet file too large for the memory
budget is read only through a cap: its target column alone, then the kept rows one row group at
a time (:mod:`~contextures.datasets.parquet_sample`), which gives the same table as reading it
whole; without a cap it is refused, naming ``:max_rows=N``, unless the caller streams it
(``stream``): then nothing but the target column is read, and the :class:`Dataset` holds the
file's :class:`~contextures.datasets.parquet_sample.ParquetRows` instead of ``X_raw``, for
:func:`~contextures.datasets.prepare` to read by row groups (:mod:`~contextures.datasets.streamed`).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError, ParameterError
from .loaders import LOADERS
from .parquet_sample import row_groups_only
from .preprocess import _as_numeric, _as_text, _is_numeric, encode_target, is_bool_like
from .specs import TASKS, DatasetSpec, format_dataset_spec, parse_dataset_spec
from .splits import subsample_indices

MAX_INFERRED_CLASSES = 10


@dataclass
class Dataset:
    """A loaded dataset: raw features, raw target, task and metadata.

    ``X_raw`` is a DataFrame of feature columns (target and dropped columns removed, index
    0..n−1); ``y_raw`` the target Series (None when unlabelled); ``task`` is
    ``"regression"``, ``"classification"`` or None (unlabelled). ``metadata`` holds ``source``,
    ``license``, ``citation``, ``n_rows``, ``n_features``, ``target``, ``target_summary``,
    ``task_origin``, ``cap`` and ``dropped_columns``.

    A streamed Parquet table (``load_dataset(..., stream=...)``) has ``X_raw`` None, ``rows``
    its :class:`~contextures.datasets.parquet_sample.ParquetRows` and ``feature_columns`` the
    names of its feature columns; ``y_raw`` is then the whole target column, read alone.
    """

    name: str
    spec: str
    X_raw: pd.DataFrame | None
    y_raw: pd.Series | None
    task: str | None
    metadata: dict = field(default_factory=dict)
    rows: Any = field(default=None, repr=False)
    feature_columns: list[str] | None = None

    @property
    def streamed(self) -> bool:
        """Whether the rows stay in the file (read by row groups, never whole)."""
        return self.X_raw is None

    @property
    def n_rows(self) -> int:
        return int(self.rows.n_rows if self.streamed else self.X_raw.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_columns) if self.streamed else int(self.X_raw.shape[1])

    @property
    def target_name(self) -> str | None:
        return None if self.y_raw is None else str(self.y_raw.name)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, spec={self.spec!r}, n_rows={self.n_rows}, "
                f"n_features={self.n_features}, task={self.task!r}, "
                f"target={self.target_name!r})")


def _missing_mask(y: pd.Series) -> np.ndarray:
    mask = y.isna().to_numpy().copy()
    if _is_numeric(y):
        mask |= ~np.isfinite(y.to_numpy(dtype=np.float64, na_value=np.nan))
    return mask


def infer_task(y: pd.Series) -> str:
    """``"classification"`` or ``"regression"`` by the rule of the module docstring."""
    if not _is_numeric(y) or is_bool_like(y):
        return "classification"
    values = y.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    if values.size and np.all(values == np.round(values)) \
            and np.unique(values).size <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def target_summary(y: pd.Series, task: str) -> dict:
    """Class counts (classification) or mean/std/min/median/max (regression)."""
    if task == "classification":
        codes, names = encode_target(y, task)
        counts = np.bincount(codes, minlength=len(names))
        return {"n_classes": len(names),
                "class_counts": {n: int(c) for n, c in zip(names, counts, strict=True)}}
    values = pd.to_numeric(y).to_numpy(dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if values.size > 1
            else 0.0, "min": float(values.min()), "median": float(np.median(values)),
            "max": float(values.max())}


def _column_list(columns, limit: int = 40) -> str:
    names = [str(c) for c in columns]
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_features(X: pd.DataFrame, name: str) -> None:
    if X.shape[1] == 0:
        raise DataError(f"dataset {name!r} has no feature columns besides the target")
    for col in X.columns:
        series = X[col]
        numeric = _is_numeric(series) or is_bool_like(series)
        values = _as_numeric(series) if numeric else _as_text(series)
        if values.dropna().nunique() > 1:
            return
    raise DataError(f"dataset {name!r}: all {X.shape[1]} feature column(s) are constant or "
                    f"all missing ({_column_list(X.columns, 10)})")


def _effective_cap(max_rows, spec_cap) -> int | None:
    caps = []
    for value in (max_rows, spec_cap):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ParameterError(f"max_rows must be a positive integer, got {value!r}")
        caps.append(int(value))
    return min(caps) if caps else None


def load_dataset(spec: str | DatasetSpec = "abalone", *, task: str | None = None,
                 max_rows: int | None = None, random_state: int = 0,
                 stream: bool | None = False) -> Dataset:
    """Load the dataset named by ``spec`` (see :mod:`contextures.datasets.specs`).

    ``task`` overrides the task (otherwise: the spec's ``:task=``, the source's, or
    :func:`infer_task`); ``max_rows`` caps the rows (module docstring) with ``random_state``
    seeding the subsample. ``stream``: False refuses a Parquet file over the memory budget
    without a cap; None keeps such a file in place (a streamed :class:`Dataset`); True keeps
    every uncapped Parquet file in place, whatever its size, and refuses other sources.
    """
    parsed = parse_dataset_spec(spec) if not isinstance(spec, DatasetSpec) else spec
    if task is not None and task not in TASKS:
        raise ParameterError(f"task must be 'regression' or 'classification', got {task!r}")
    cap = _effective_cap(max_rows, parsed.max_rows)
    with row_groups_only() if stream else nullcontext():
        raw = LOADERS[parsed.kind](parsed)
    frame = raw.frame
    columns = raw.columns
    n_before = int(frame.shape[0]) if frame is not None else raw.rows.n_rows
    if frame is not None:
        frame.columns = columns
    label = format_dataset_spec(parsed)
    if n_before == 0 or len(columns) == 0:
        raise DataError(f"dataset {label!r} is an empty table ({n_before} rows, "
                        f"{len(columns)} columns)")
    uncapped = cap is None or cap >= n_before
    streamed = frame is None and uncapped
    if streamed and stream is False:
        raw.rows.refuse()   # too large to read whole, and no cap to sample it
    if stream and frame is not None and uncapped:
        raise DataError(f"dataset {label!r}: only a Parquet file can be streamed (read by row "
                        "groups); convert the table to Parquet (pandas: DataFrame.to_parquet), "
                        "or load it whole")
    dropped = list(raw.dropped)
    if parsed.drop:
        absent = [c for c in parsed.drop if c not in columns]
        if absent:
            raise DataError(f"dataset {label!r}: cannot drop {', '.join(absent)}: no such "
                            f"column; columns: {_column_list(columns)}")
        columns = [c for c in columns if c not in parsed.drop]
        if frame is not None:
            frame = frame.drop(columns=list(parsed.drop))
        dropped += list(parsed.drop)

    y = None
    task_origin = None
    if raw.target is not None:
        if raw.target not in columns:
            hint = [c for c in columns if c.lower() == raw.target.lower()]
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise DataError(f"dataset {label!r}: target column {raw.target!r} not found{did}; "
                            f"columns: {_column_list(columns)}")
        y = frame[raw.target] if frame is not None else raw.rows.column(raw.target)
        n_missing = int(_missing_mask(y).sum())
        if n_missing:
            raise DataError(f"dataset {label!r}: target {raw.target!r} has {n_missing} missing "
                            f"value(s) in {len(y)} rows; rows are not dropped silently: remove "
                            f"them from the data or choose another target")
        if frame is not None:
            frame = frame.drop(columns=[raw.target])
        for origin, value in (("argument", task), ("spec", parsed.task),
                              ("source", raw.task_hint)):
            if value is not None:
                chosen, task_origin = value, origin
                break
        else:
            chosen, task_origin = infer_task(y), "inferred"
        if chosen == "regression" and (not _is_numeric(y) or is_bool_like(y)):
            raise DataError(f"dataset {label!r}: target {raw.target!r} is not numeric "
                            f"({y.dtype}); it cannot be a regression target")
        n_distinct = y.nunique()
        if n_distinct < 2:
            raise DataError(f"dataset {label!r}: target {raw.target!r} takes a single value "
                            f"({y.iloc[0]!r}); there is nothing to predict")
    else:
        chosen = None
        if task is not None or parsed.task is not None:
            raise DataError(f"dataset {label!r} has no target column, so it has no task; name "
                            f"one as in csv:PATH:TARGET")

    cap_info = None
    if cap is not None:
        stratified = chosen == "classification"
        cap_info = {"max_rows": cap, "n_rows_before_cap": n_before, "capped": n_before > cap,
                    "stratified": stratified, "random_state": int(random_state)}
        if n_before > cap:
            labels = y.astype(str).to_numpy() if stratified else None
            keep = subsample_indices(n_before, cap, labels=labels, random_state=random_state)
            if frame is None:   # read by row groups: only the kept rows are ever held
                frame = raw.rows.rows(keep)[[c for c in columns if c != raw.target]]
                cap_info["read_by_row_groups"] = True
            else:
                frame = frame.iloc[keep]
            y = y.iloc[keep] if y is not None else None

    X = None if streamed else frame.reset_index(drop=True)
    features = [c for c in columns if c != raw.target]
    if y is not None:
        y = y.reset_index(drop=True)
        if isinstance(y.dtype, pd.CategoricalDtype):
            y = y.cat.remove_unused_categories()
    if X is not None:
        _check_features(X, label)
    elif not features:
        raise DataError(f"dataset {label!r} has no feature column besides the target")

    metadata = {
        "name": raw.name,
        "spec": label,
        "source": raw.metadata.get("source", "unknown"),
        "license": raw.metadata.get("license", "unknown"),
        "citation": raw.metadata.get("citation", "unknown"),
        **{k: v for k, v in raw.metadata.items() if k not in ("source", "license", "citation")},
        "n_rows": int(n_before if X is None else X.shape[0]),
        "n_features": int(len(features) if X is None else X.shape[1]),
        "target": None if y is None else str(y.name),
        "task": chosen,
        "task_origin": task_origin,
        "target_summary": None if y is None else target_summary(y, chosen),
        "cap": cap_info,
        "dropped_columns": dropped,
    }
    if X is None:
        metadata["streamed"] = True
        return Dataset(raw.name, label, None, y, chosen, metadata, rows=raw.rows,
                       feature_columns=features)
    return Dataset(raw.name, label, X, y, chosen, metadata)
