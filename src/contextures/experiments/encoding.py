"""The prepared arrays, fitting samples and neighbour caches the experiment cells share.

Every cell scores its context with :func:`~contextures.evaluation.scoring.score_context`; this
module supplies what the cells of one dataset have in common, computed once per worker process
(:func:`~contextures.experiments.worker_cache`): :func:`load_prepared` (the split arrays, with
regression targets standardised on downstream-train), :func:`fit_rows` and
:func:`fitting_sample` (the rows the contexts are fitted on), and :func:`context_cache`, which
keeps one :class:`ContextCache` per fitting sample and empties the previous one when a worker
moves on to another sample, so a worker holds the distance matrices of one dataset at a time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contexts import ContextCache
from ..datasets.splits import fit_rows
from ..evaluation.scoring import standardised_targets
from ..runner import worker_cache

CACHE_BYTES = 2 * 1024**3
"""Bytes one worker's ContextCache may keep (recomputed beyond): the 50 masks × n_fit² distance
matrices of the masked RBF family (900 MB at n_fit = 1500) and the masked neighbour lists of the
downstream rows fit, so no cell recomputes them."""


def current_blas_threads() -> int:
    """The BLAS thread limit now in force in this process (1 when unknown)."""
    from threadpoolctl import threadpool_info

    counts = [int(info.get("num_threads") or 1) for info in threadpool_info()
              if info.get("user_api") == "blas"]
    return max(1, min(counts)) if counts else 1


@dataclass(frozen=True)
class PreparedArrays:
    """The arrays an experiment cell needs from :func:`~contextures.datasets.prepare`.

    Regression targets are standardised with the downstream-train mean and standard deviation
    (``y_scale`` holds them), so errors read as a fraction of the target's variance; this
    changes no correlation and no ranking.
    """

    name: str
    task: str | None
    X_pre: np.ndarray
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    n_rows: int
    y_scale: tuple[float, float] | None = None
    notes: tuple[str, ...] = ()
    categorical_share: float = 0.0
    """The share of the preprocessed columns that are one-hot columns of categorical ones."""
    n_pretrain: int = 0
    """Rows of the pretrain split (``X_pre`` holds only the fitting sample of a streamed table:
    see :mod:`~contextures.datasets.streamed`)."""


def _prepare(dataset: str, task: str | None, split_seed: int, max_rows: int | None,
             n_fit: int | None = None, fit_seed: int = 0,
             stream: bool | None = False) -> PreparedArrays:
    from ..datasets import prepare

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = prepare(dataset, split_seed=split_seed, max_rows=max_rows, task=task,
                       stream=stream, n_fit=n_fit, fit_seed=fit_seed)
    notes = tuple(dict.fromkeys(str(w.message) for w in caught))
    if data.streamed:
        notes += (f"the table is {data.stream_note()}",)
    y_train, y_test, scale = standardised_targets(data.y_train, data.y_test, data.task)
    n_rows = int(data.n_pretrain + data.X_train.shape[0] + data.X_test.shape[0])
    cats = [str(c) for c in data.metadata.get("preprocessing", {}).get("categorical_columns", [])]
    onehot = sum(1 for name in data.feature_names
                 if any(str(name).startswith(f"{c}_") for c in cats))
    share = onehot / len(data.feature_names) if data.feature_names else 0.0
    return PreparedArrays(data.name, data.task, data.X_pre, data.X_train, data.X_test, y_train,
                          y_test, n_rows, scale, notes, share, data.n_pretrain)


def load_prepared(dataset: str, task: str | None = None, split_seed: int = 0,
                  max_rows: int | None = None, *, n_fit: int | None = None, fit_seed: int = 0,
                  stream: bool | None = False) -> PreparedArrays:
    """``prepare(dataset)`` as :class:`PreparedArrays`, computed once per process.

    ``stream`` and ``n_fit``/``fit_seed`` stream a Parquet table's downstream rows from its file
    (:func:`~contextures.datasets.prepare`); a table in memory ignores ``n_fit``.
    """
    key = ("experiments.prepared", dataset, task, int(split_seed), max_rows)
    if n_fit is not None or stream:
        key += (n_fit, int(fit_seed), stream)
    return worker_cache(key, lambda: _prepare(dataset, task, split_seed, max_rows, n_fit,
                                              fit_seed, stream))


def fitting_sample(data: PreparedArrays, n_fit: int | None, fit_seed: int,
                   key: tuple) -> np.ndarray:
    """The fitting rows of ``data`` as a contiguous array, memoised under ``key``."""
    def make() -> np.ndarray:
        rows = fit_rows(data.X_pre.shape[0], n_fit, fit_seed)
        return np.ascontiguousarray(data.X_pre[rows])

    return worker_cache(("experiments.fit-sample", *key, n_fit, fit_seed), make)


_CURRENT_CACHE: dict[str, Any] = {"key": None, "cache": None}


def context_cache(key: tuple, X: np.ndarray, max_k: int | None = None) -> ContextCache:
    """The ContextCache of the fitting sample ``X`` named by ``key`` (one per worker at a time).

    It is stored with :func:`worker_cache`; when a cell asks for another sample, the cache of
    the previous one is emptied (its matrices freed), so memory stays at one sample's worth.
    """
    full_key = ("experiments.context-cache", *key)
    previous = _CURRENT_CACHE["cache"]
    if _CURRENT_CACHE["key"] != full_key and previous is not None:
        previous.clear()
    cache = worker_cache(full_key, lambda: ContextCache(X, max_k=max_k, max_bytes=CACHE_BYTES))
    _CURRENT_CACHE["key"], _CURRENT_CACHE["cache"] = full_key, cache
    return cache
