"""Input checks shared by the evaluation functions: every failure is a typed error."""

from __future__ import annotations

import numpy as np

from ..exceptions import ParameterError

SPECTRUM_TOL = 1e-9
"""Slack allowed on a spectrum: values may exceed [0, 1] or the order by this much (rounding)."""


def as_spectrum(values, name: str = "singular_values", *, sorted_: bool = True) -> np.ndarray:
    """A 1-D float array of singular values in [0, 1], non-increasing when ``sorted_``.

    Values within :data:`SPECTRUM_TOL` outside [0, 1] are clipped (rounding from an eigensolver);
    anything further out, NaN, or an increase larger than the tolerance is a :class:`ParameterError`.
    """
    try:
        s = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a sequence of numbers ({exc})") from exc
    if s.ndim != 1:
        raise ParameterError(f"{name} must be one-dimensional, got shape {s.shape}")
    if s.size == 0:
        raise ParameterError(f"{name} is empty")
    if not np.isfinite(s).all():
        raise ParameterError(f"{name} contains NaN or infinite values")
    lo, hi = float(s.min()), float(s.max())
    if lo < -SPECTRUM_TOL or hi > 1 + SPECTRUM_TOL:
        raise ParameterError(
            f"{name} must lie in [0, 1] (singular values of the expectation operator, s_0 = 1 "
            f"excluded); got values in [{lo:.6g}, {hi:.6g}]"
        )
    s = np.clip(s, 0.0, 1.0)
    if sorted_ and s.size > 1:
        rise = np.diff(s)
        worst = int(np.argmax(rise))
        if rise[worst] > SPECTRUM_TOL:
            raise ParameterError(
                f"{name} must be sorted non-increasing; s_{worst + 1} = {s[worst]:.6g} < "
                f"s_{worst + 2} = {s[worst + 1]:.6g}"
            )
        s = np.minimum.accumulate(s)  # remove sub-tolerance rises
    return s


def as_matrix(values, name: str, *, min_rows: int = 1) -> np.ndarray:
    """A finite 2-D float array (a 1-D input becomes one column)."""
    try:
        A = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a numeric array ({exc})") from exc
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2:
        raise ParameterError(f"{name} must be a 2-D array (samples × features), got shape {A.shape}")
    if A.shape[0] < min_rows:
        raise ParameterError(f"{name} needs at least {min_rows} rows, got {A.shape[0]}")
    if A.shape[1] == 0:
        raise ParameterError(f"{name} has no columns")
    if not np.isfinite(A).all():
        bad = int((~np.isfinite(A)).any(axis=1).sum())
        raise ParameterError(f"{name} contains NaN or infinite values ({bad} rows)")
    return A


def check_same_rows(**arrays: np.ndarray) -> int:
    """All arrays have the same number of rows; returns it."""
    rows = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(rows.values())) > 1:
        listing = ", ".join(f"{k} has {v}" for k, v in rows.items())
        raise ParameterError(f"row counts differ: {listing}")
    return next(iter(rows.values()))


def check_positive(value, name: str) -> float:
    """A finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a number, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be > 0, got {value!r}")
    return v


def check_int(value, name: str, *, low: int, high: int | None = None) -> int:
    """An integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and float(value).is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        rng = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ParameterError(f"{name} must be {rng}, got {v}")
    return v


def operator_of(op):
    """A :class:`ContextOperator` from an operator or a fitted context (``.operator()``)."""
    from ..contexts.operator import ContextOperator

    if isinstance(op, ContextOperator):
        return op
    make = getattr(op, "operator", None)
    if callable(make):
        result = make()
        if isinstance(result, ContextOperator):
            return result
    raise ParameterError(
        f"expected a ContextOperator or a fitted context, got {type(op).__name__}"
    )
