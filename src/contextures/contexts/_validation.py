"""Input and parameter checks shared by the contexts (typed errors, messages that name the problem)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..exceptions import ParameterError


def check_data(X: Any, who: str, *, min_rows: int = 2) -> np.ndarray:
    """X as a C-contiguous float64 array of shape (n, F); NaN/inf or a wrong shape is an error."""
    if X is None:
        raise ParameterError(f"{who}: X is required")
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{who}: X must be a numeric array ({exc})") from exc
    if arr.ndim != 2:
        raise ParameterError(f"{who}: X must be 2-dimensional (n_samples × n_features), "
                             f"got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ParameterError(f"{who}: X has no feature columns")
    if arr.shape[0] < min_rows:
        raise ParameterError(f"{who}: needs at least {min_rows} samples, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ParameterError(f"{who}: X contains {bad} NaN or infinite value(s); impute or drop "
                             "them before building a context")
    check_scale(arr, who)
    return np.ascontiguousarray(arr)


_SQRT_MAX = float(np.sqrt(np.finfo(np.float64).max))    # ≈ 1.3e154
_SQRT_TINY = float(np.sqrt(np.finfo(np.float64).tiny))  # ≈ 1.5e-154


def check_scale(arr: np.ndarray, who: str) -> None:
    """Refuse magnitudes at which squared distances are not representable in float64.

    Distances ‖x_i − x_j‖² and sums of squares over n rows stay finite when
    max|x| · 2·sqrt(n·F) < sqrt(float64 max); a largest column range r > 0 with r² below the
    smallest normal float64 makes every squared distance 0 although the rows differ. Either way
    the neighbours, kernels and standardisations built on them would be silently wrong.
    """
    if arr.size == 0:
        return
    n, F = arr.shape
    biggest = float(np.abs(arr).max())
    limit = _SQRT_MAX / (2.0 * np.sqrt(float(n) * F))
    if biggest > limit:
        raise ParameterError(f"{who}: X has values up to {biggest:.3g} in magnitude; squared "
                             f"distances would overflow float64 (limit {limit:.3g} for {n} rows "
                             f"× {F} features): rescale or standardise the features")
    spread = float(np.max(arr.max(axis=0) - arr.min(axis=0)))
    if 0.0 < spread < _SQRT_TINY:
        raise ParameterError(f"{who}: the rows of X differ by at most {spread:.3g}; squared "
                             "distances underflow to 0 in float64: rescale or standardise the "
                             "features")


def check_new_data(X_new: Any, n_features: int, who: str) -> np.ndarray:
    """New points for ``transition``: finite, 2-D, with the training number of features."""
    arr = check_data(X_new, who, min_rows=0)
    if arr.shape[1] != n_features:
        raise ParameterError(f"{who}: new points have {arr.shape[1]} features, the context was "
                             f"fitted on {n_features}")
    return arr


def check_int(value: Any, name: str, who: str, *, low: int | None = None,
              high: int | None = None, high_note: str = "") -> int:
    """An integer parameter in [low, high] (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{who}: {name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ParameterError(f"{who}: {name} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ParameterError(f"{who}: {name} must be at most {high}{high_note}, got {value}")
    return value


def check_float(value: Any, name: str, who: str, *, positive: bool = False,
                low: float | None = None, high: float | None = None) -> float:
    """A finite real parameter, optionally > 0 or within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{who}: {name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ParameterError(f"{who}: {name} must be finite, got {value}")
    if positive and value <= 0:
        raise ParameterError(f"{who}: {name} must be > 0, got {value}")
    if low is not None and value < low or high is not None and value > high:
        raise ParameterError(f"{who}: {name} must lie in [{low}, {high}], got {value}")
    return value


def check_probability(value: Any, name: str, who: str) -> float:
    """A probability in [0, 1]."""
    return check_float(value, name, who, low=0.0, high=1.0)


def check_bool(value: Any, name: str, who: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ParameterError(f"{who}: {name} must be true or false, got {value!r}")


def check_choice(value: Any, name: str, who: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ParameterError(f"{who}: {name} must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


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


def check_seed(value: Any, who: str) -> None:
    """A seed is an integer or None (a bool or a float is refused)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)):
        raise ParameterError(f"{who}: random_state must be an integer or none, got {value!r}")
