"""The exact encoder of one context on one prepared dataset, shared by the experiments.

:func:`exact_encoder` is the protocol step of spec §7A for one context: fit the context on the
fitting rows (the pretrain split, or a seeded subsample of it), solve for the top-d₀ contexture
(s_1..s_{d₀}, μ_1..μ_{d₀}) and extend μ to the downstream rows with the out-of-sample formula

    μ_i(x) = s_i⁻¹ Σ_a P⁺(a | x) ν_i(a) = p(x) · W[:, i],     W = D_c^{-1/2} V / s

(``ContextOperator.extension_weights``, as :class:`~contextures.spectral.Contexture` does), so
the features of the downstream rows never see their labels. Unlike ``Contexture.fit`` it fits the
context with a :class:`~contextures.contexts.ContextCache`, so contexts of one family fitted on
the same rows share neighbour lists and distance matrices, and it runs the solver with the BLAS
thread count the caller set (a grid worker is capped at ``cores // workers``).

Helpers for grid cells: :func:`load_prepared` and :func:`fit_rows` (memoised per worker process
through :func:`~contextures.experiments.worker_cache`) and :func:`context_cache`, which keeps one
:class:`ContextCache` per fitting sample and empties the previous one when a worker moves on to
another sample, so a worker holds the distance matrices of one dataset at a time.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..contexts import ContextCache, make_context
from ..exceptions import DataError, ParameterError
from ._worker_cache import worker_cache

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


def _standardise(y_train: np.ndarray, y_test: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   tuple[float, float]]:
    mean = float(np.mean(y_train))
    std = float(np.std(y_train))
    if not std > 0:
        std = 1.0
    return (y_train - mean) / std, (y_test - mean) / std, (mean, std)


def _prepare(dataset: str, task: str | None, split_seed: int,
             max_rows: int | None) -> PreparedArrays:
    from ..datasets import prepare

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = prepare(dataset, split_seed=split_seed, max_rows=max_rows, task=task)
    notes = tuple(dict.fromkeys(str(w.message) for w in caught))
    y_train, y_test, scale = data.y_train, data.y_test, None
    if data.task == "regression" and y_train is not None and y_test is not None:
        y_train, y_test, scale = _standardise(np.asarray(y_train, float),
                                              np.asarray(y_test, float))
    n_rows = int(data.X_pre.shape[0] + data.X_train.shape[0] + data.X_test.shape[0])
    cats = [str(c) for c in data.metadata.get("preprocessing", {}).get("categorical_columns", [])]
    onehot = sum(1 for name in data.feature_names
                 if any(str(name).startswith(f"{c}_") for c in cats))
    share = onehot / len(data.feature_names) if data.feature_names else 0.0
    return PreparedArrays(data.name, data.task, data.X_pre, data.X_train, data.X_test, y_train,
                          y_test, n_rows, scale, notes, share)


def load_prepared(dataset: str, task: str | None = None, split_seed: int = 0,
                  max_rows: int | None = None) -> PreparedArrays:
    """``prepare(dataset)`` as :class:`PreparedArrays`, computed once per process."""
    key = ("experiments.prepared", dataset, task, int(split_seed), max_rows)
    return worker_cache(key, lambda: _prepare(dataset, task, split_seed, max_rows))


def fit_rows(n_pretrain: int, n_fit: int | None, fit_seed: int) -> np.ndarray:
    """Sorted pretrain rows the contexts are fitted on: all, or a seeded uniform subsample.

    The subsample is not stratified: the contexts are label-free, so labels play no part.
    """
    if n_fit is None or n_fit >= n_pretrain:
        return np.arange(n_pretrain)
    if n_fit < 4:
        raise ParameterError(f"n_fit must be at least 4, got {n_fit}")
    rng = np.random.default_rng(fit_seed)
    return np.sort(rng.choice(n_pretrain, size=n_fit, replace=False))


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


@dataclass
class EncoderResult:
    """One context's exact encoder on one dataset."""

    context: str
    singular_values: np.ndarray
    F_train: np.ndarray | None
    F_test: np.ndarray | None
    solver: str
    converged: bool
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    operator: Any = None
    fitted_context: Any = None


def exact_encoder(context: str, X_fit: np.ndarray, d: int, *, X_train: np.ndarray | None = None,
                  X_test: np.ndarray | None = None, y_fit: np.ndarray | None = None,
                  cache: ContextCache | None = None, solver: str = "auto",
                  random_state: int = 0, keep_operator: bool = False) -> EncoderResult:
    """Fit ``context`` on ``X_fit``, solve its top-``d`` contexture, extend μ to new rows.

    Returns the singular values s_1..s_d and, when ``X_train``/``X_test`` are given, the features
    μ_1..μ_d on them. ``keep_operator`` keeps the operator and fitted context (for diagnostics).
    """
    from ..spectral import solve

    ctx = make_context(context)
    if ctx.needs_labels and y_fit is None:
        raise DataError(f"context {context} needs labels on the fitting rows")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx.fit(X_fit, y_fit, cache=cache)
    op = ctx.operator()
    t1 = time.perf_counter()
    seconds["operator"] = t1 - t0
    result = solve(op, d, solver, random_state=random_state, threads=current_blas_threads())
    t2 = time.perf_counter()
    seconds["solve"] = t2 - t1
    F_train = F_test = None
    if X_train is not None or X_test is not None:
        W = op.extension_weights(result.right_vectors, result.singular_values)
        if X_train is not None:
            F_train = np.asarray(ctx.transition(X_train) @ W)
        if X_test is not None:
            F_test = np.asarray(ctx.transition(X_test) @ W)
    seconds["extend"] = time.perf_counter() - t2
    return EncoderResult(context=context, singular_values=np.asarray(result.singular_values),
                         F_train=F_train, F_test=F_test, solver=result.solver,
                         converged=bool(result.converged), notes=list(result.notes),
                         seconds=seconds, operator=op if keep_operator else None,
                         fitted_context=ctx if keep_operator else None)
