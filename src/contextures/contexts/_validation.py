"""Checks that only the contexts need: new points for ``transition``, row indices, fitted state,
seeds as numpy Generators. Arrays and typed parameters go through :mod:`contextures.validation`."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..validation import check_array


def check_new_data(X_new: Any, n_features: int, who: str) -> np.ndarray:
    """New points for ``transition``: finite, 2-D, with the training number of features."""
    arr = check_array(X_new, what=who, min_samples=0, representable=True)
    if arr.shape[1] != n_features:
        raise ParameterError(f"{who}: new points have {arr.shape[1]} features, the context was "
                             f"fitted on {n_features}")
    return arr


def make_rng(random_state: Any) -> np.random.Generator:
    """A numpy Generator from None, an int, a SeedSequence, a Generator or a RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, numbers.Integral | np.random.SeedSequence):
        if isinstance(random_state, bool):
            raise ParameterError(f"random_state must be an integer or None, got {random_state!r}")
        if isinstance(random_state, numbers.Integral) and random_state < 0:
            raise ParameterError(f"random_state must be non-negative, got {random_state}")
        return np.random.default_rng(random_state)
    raise ParameterError(f"random_state must be an integer, a numpy Generator or None, "
                         f"got {random_state!r}")


def check_indices(indices: Any, n: int, who: str) -> np.ndarray:
    """Training row indices for ``sample``: integers in [0, n)."""
    idx = np.asarray(indices)
    if idx.ndim == 0:
        idx = idx.reshape(1)
    if idx.ndim != 1:
        raise ParameterError(f"{who}: indices must be a 1-D array of row numbers")
    if idx.size == 0:
        return idx.astype(np.int64)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ParameterError(f"{who}: indices must be integers, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= n:
        raise ParameterError(f"{who}: indices must lie in [0, {n}), got values in "
                             f"[{idx.min()}, {idx.max()}]")
    return idx.astype(np.int64)


def check_fitted(ctx: Any, attribute: str = "n_samples_") -> None:
    if not hasattr(ctx, attribute):
        raise ParameterError(f"{ctx.spec()}: the context is not fitted; call fit(X) first")


def half_up(x: float) -> int:
    """round(x) with halves rounded up (Python's round() rounds halves to even)."""
    return int(np.floor(x + 0.5))
