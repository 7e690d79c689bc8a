"""Validation of inputs and parameters: one entry for arrays, one typed check per kind of parameter.

Arrays go through :func:`check_array`, built on scikit-learn's ``check_array`` (``validate_data``
when an estimator is given, which also records or checks ``n_features_in_`` and
``feature_names_in_``). Its TypeError (sparse input, objects that are not numbers) becomes
:class:`InputTypeError`, its ValueError (1-D, empty, wrong width, complex) :class:`ParameterError`;
both are still a TypeError or ValueError, as scikit-learn's conventions expect. NaN and infinite
values are counted and reported by row.

Parameters go through one check per kind, each with one signature, ``check_x(value, name, *,
..., who=None)``: :func:`check_int`, :func:`check_float`, :func:`check_positive`,
:func:`check_fraction`, :func:`check_bool`, :func:`check_choice`, :func:`check_seed`; options
passed by name through :func:`check_options`. Every failure is a :class:`ParameterError` whose
message starts with ``who`` (the function or estimator that was called) when it is given.

Conventions, as scikit-learn's parameter constraints: an integer parameter takes a Python or numpy
integer only (``3.0`` is refused, so a value is never silently truncated); a real parameter takes
any finite real; a bool is never a number.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.utils.validation import check_array as _sk_check_array
from sklearn.utils.validation import validate_data

from .exceptions import InputTypeError, ParameterError

SPECTRUM_TOL = 1e-9
"""Slack allowed on a spectrum: values may exceed [0, 1] or the order by this much (rounding)."""

_SQRT_MAX = float(np.sqrt(np.finfo(np.float64).max))    # ≈ 1.3e154
_SQRT_TINY = float(np.sqrt(np.finfo(np.float64).tiny))  # ≈ 1.5e-154


def _prefix(who: str | None) -> str:
    return f"{who}: " if who else ""


# --------------------------------------------------------------------------- arrays

def check_array(X: Any, *, what: str = "X", estimator: Any = None, reset: bool = True,
                min_samples: int = 1, allow_1d: bool = False,
                representable: bool = False) -> np.ndarray:
    """X as a finite float64 C-contiguous 2-D array, or a typed error naming the problem.

    ``what`` names the caller in messages (``"Contexture.fit"``, ``"cca_r2: F"``). With an
    ``estimator``, scikit-learn's ``validate_data`` records (``reset=True``, as in ``fit``) or
    checks (as in ``transform``) the number and names of the features. ``min_samples`` rows at
    least (0 allows none). ``allow_1d``: a 1-D input is one column. ``representable``: refuse
    magnitudes at which squared distances are not representable (:func:`check_representable`).
    """
    if X is None:
        raise ParameterError(f"{what}: X is required")
    if allow_1d:
        shape = getattr(X, "shape", None)
        if shape is None:
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"{what}: must be a numeric array ({exc})") from exc
        if np.ndim(X) == 1:
            X = np.asarray(X).reshape(-1, 1)
    kwargs = dict(accept_sparse=False, dtype=np.float64, order="C", ensure_all_finite=False,
                  ensure_min_samples=min_samples)
    try:
        if estimator is not None:
            arr = validate_data(estimator, X, reset=reset, **kwargs)
        else:
            arr = _sk_check_array(X, input_name="X", **kwargs)
    except TypeError as exc:
        raise InputTypeError(f"{what}: {exc}") from exc
    except ValueError as exc:
        if isinstance(exc, ParameterError):
            raise
        # scikit-learn's message, without the array it may print
        message = re.sub(r"\s*array=\[.*?\]\.?\s*", " ", str(exc), flags=re.S).strip()
        raise ParameterError(f"{what}: {message}") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ParameterError(f"{what}: X contains {int(bad.sum())} NaN or infinite value(s) (in "
                             f"{rows.size} rows, first row {int(rows[0])}); impute or drop them "
                             "first")
    if representable:
        check_representable(arr, what)
    return np.ascontiguousarray(arr)


def check_representable(arr: np.ndarray, what: str = "X") -> None:
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
        raise ParameterError(f"{what}: X has values up to {biggest:.3g} in magnitude; squared "
                             f"distances would overflow float64 (limit {limit:.3g} for {n} rows "
                             f"× {F} features): rescale or standardise the features")
    spread = float(np.max(arr.max(axis=0) - arr.min(axis=0)))
    if 0.0 < spread < _SQRT_TINY:
        raise ParameterError(f"{what}: the rows of X differ by at most {spread:.3g}; squared "
                             "distances underflow to 0 in float64: rescale or standardise the "
                             "features")


def check_spectrum(values: Any, name: str = "singular_values", *, sorted_: bool = True,
                   who: str | None = None) -> np.ndarray:
    """A 1-D float array of singular values in [0, 1], non-increasing when ``sorted_``.

    Values within :data:`SPECTRUM_TOL` outside [0, 1] are clipped (rounding from an eigensolver);
    anything further out, NaN, or an increase larger than the tolerance is a :class:`ParameterError`.
    """
    where = _prefix(who) + name
    try:
        s = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{where} must be a sequence of numbers ({exc})") from exc
    if s.ndim != 1:
        raise ParameterError(f"{where} must be one-dimensional, got shape {s.shape}")
    if s.size == 0:
        raise ParameterError(f"{where} is empty")
    if not np.isfinite(s).all():
        raise ParameterError(f"{where} contains NaN or infinite values")
    lo, hi = float(s.min()), float(s.max())
    if lo < -SPECTRUM_TOL or hi > 1 + SPECTRUM_TOL:
        raise ParameterError(
            f"{where} must lie in [0, 1] (singular values of the expectation operator, s_0 = 1 "
            f"excluded); got values in [{lo:.6g}, {hi:.6g}]")
    s = np.clip(s, 0.0, 1.0)
    if sorted_ and s.size > 1:
        rise = np.diff(s)
        worst = int(np.argmax(rise))
        if rise[worst] > SPECTRUM_TOL:
            raise ParameterError(f"{where} must be sorted non-increasing; s_{worst + 1} = "
                                 f"{s[worst]:.6g} < s_{worst + 2} = {s[worst + 1]:.6g}")
        s = np.minimum.accumulate(s)  # remove sub-tolerance rises
    return s


def check_same_rows(*, who: str | None = None, **arrays: np.ndarray) -> int:
    """All arrays have the same number of rows; returns it."""
    rows = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(rows.values())) > 1:
        listing = ", ".join(f"{k} has {v}" for k, v in rows.items())
        raise ParameterError(f"{_prefix(who)}row counts differ: {listing}")
    return next(iter(rows.values()))


# --------------------------------------------------------------------------- parameters

def _bounds(low, high, low_open: bool = False) -> str:
    low, high = (None if x is None else f"{x:g}" for x in (low, high))
    lo = None if low is None else (f"> {low}" if low_open else f"≥ {low}")
    if high is None:
        return lo or ""
    if low is None:
        return f"≤ {high}"
    return f"in {'(' if low_open else '['}{low}, {high}]"


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None,
              allow_none: bool = False, who: str | None = None, note: str = "") -> int | None:
    """An integer in [low, high] (a Python or numpy integer; not a float such as 3.0, not a bool).

    ``note`` is appended to the message of a value above ``high`` (why the bound is what it is).
    """
    if value is None and allow_none:
        return None
    where = _prefix(who) + name
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{where} must be an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise ParameterError(f"{where} must be at least {low}, got {v}")
    if high is not None and v > high:
        raise ParameterError(f"{where} must be at most {high}{note}, got {v}")
    return v


def check_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, allow_none: bool = False,
                who: str | None = None) -> float | None:
    """A finite real number in [low, high] (or (low, high] with ``low_open``); a bool is not one."""
    if value is None and allow_none:
        return None
    where = _prefix(who) + name
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{where} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ParameterError(f"{where} must be finite, got {v}")
    if ((low is not None and (v <= low if low_open else v < low))
            or (high is not None and v > high)):
        raise ParameterError(f"{where} must be {_bounds(low, high, low_open)}, got {v:g}")
    return v


def check_positive(value: Any, name: str, *, allow_zero: bool = False, allow_none: bool = False,
                   who: str | None = None) -> float | None:
    """A finite number > 0 (≥ 0 with ``allow_zero``)."""
    return check_float(value, name, low=0.0, low_open=not allow_zero, allow_none=allow_none,
                       who=who)


def check_fraction(value: Any, name: str, *, who: str | None = None) -> float:
    """A fraction (a probability, a share of rows) in [0, 1]."""
    return check_float(value, name, low=0.0, high=1.0, who=who)


def check_bool(value: Any, name: str, *, who: str | None = None) -> bool:
    """True or False (a number is not a bool)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ParameterError(f"{_prefix(who)}{name} must be true or false, got {value!r}")


def check_choice(value: Any, name: str, choices: Iterable[str], *,
                 who: str | None = None) -> str:
    """One of ``choices``, spelt exactly (as scikit-learn's ``StrOptions``)."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{_prefix(who)}{name} must be one of {', '.join(choices)}, "
                             f"got {value!r}")
    return value


def check_seed(value: Any, name: str = "random_state", *, who: str | None = None) -> int | None:
    """A seed: a non-negative integer or None (a bool or a float is refused)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{_prefix(who)}{name} must be an integer or None, got {value!r}")
    if value < 0:
        raise ParameterError(f"{_prefix(who)}{name} must be non-negative, got {value}")
    return int(value)


def check_options(given: Mapping[str, Any] | Iterable[str], accepted: Iterable[str], *,
                  who: str | None = None, kind: str = "option") -> None:
    """Every name in ``given`` is among ``accepted``; else a :class:`ParameterError` naming the
    unknown ones and the accepted ones (a misspelt option never disappears silently)."""
    accepted = tuple(accepted)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else f"no {kind}s"
        raise ParameterError(f"{_prefix(who)}unknown {kind}{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)}; it takes {takes}")


def checked_keywords(who: str):
    """Decorator: a call with a keyword the function does not take is a :class:`ParameterError`
    naming it and the keywords taken (instead of a TypeError, or of a ``**kwargs`` that swallows
    a misspelt option)."""

    def decorate(function):
        parameters = inspect.signature(function).parameters
        named = tuple(name for name, p in parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        keywords = tuple(name for name, p in parameters.items() if p.kind == p.KEYWORD_ONLY)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if not set(kwargs) <= set(named):
                check_options(kwargs, keywords, who=who)
            return function(*args, **kwargs)

        return wrapper

    return decorate


__all__ = ["SPECTRUM_TOL", "check_array", "check_bool", "check_choice", "check_float",
           "checked_keywords",
           "check_fraction", "check_int", "check_options", "check_positive",
           "check_representable", "check_same_rows", "check_seed", "check_spectrum"]
