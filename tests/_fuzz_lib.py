"""Hypothesis strategies and invariant checks shared by the fuzz suites (test_fuzz_*.py).

Hostile tables: NaN, ±inf, constant and duplicate columns and rows, mixed types, huge (1e300) and
tiny (1e-300) magnitudes, single rows, more features than rows, unicode column names. Context
specs: valid ones with random parameters, and invalid ones (random text, random nesting, wrong
parameter types and ranges).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from contextures.exceptions import ContexturesError

# Bounded for CI (the whole fuzz suite well under 3 minutes on 2 cores) and reproducible; set
# CONTEXTURES_FUZZ_EXAMPLES=500 for a longer, randomised hunt.
_EXAMPLES = int(os.environ.get("CONTEXTURES_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=_EXAMPLES or 30, deadline=None, derandomize=_EXAMPLES is None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# --- numbers and tables ---------------------------------------------------------------------------

SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, -1e-300, 0.0]


@st.composite
def float_matrices(draw, max_rows: int = 24, max_cols: int = 10) -> np.ndarray:
    """Float matrices, mostly ordinary, with hostile structure and values mixed in."""
    n = draw(st.integers(1, max_rows))
    f = draw(st.integers(1, max_cols))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f)) * draw(st.sampled_from([1.0, 1e-3, 1e3]))
    kind = draw(st.sampled_from(["plain", "special", "constant_col", "duplicate_rows",
                                 "duplicate_cols", "huge", "tiny", "integers", "all_constant"]))
    if kind == "special":
        for _ in range(draw(st.integers(1, 3))):
            X[draw(st.integers(0, n - 1)), draw(st.integers(0, f - 1))] = draw(
                st.sampled_from(SPECIAL))
    elif kind == "constant_col":
        X[:, draw(st.integers(0, f - 1))] = draw(st.sampled_from([0.0, 1.0, -7.5]))
    elif kind == "duplicate_rows" and n > 1:
        X[n // 2:] = X[: n - n // 2]
    elif kind == "duplicate_cols" and f > 1:
        X[:, f // 2:] = X[:, : f - f // 2]
    elif kind == "huge":
        X *= 1e300
    elif kind == "tiny":
        X *= 1e-300
    elif kind == "integers":
        X = np.round(X * 2)
    elif kind == "all_constant":
        X[:] = 3.0
    return X


COLUMN_NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8
).filter(lambda s: s.strip() == s and s.strip() != "")


@st.composite
def frames(draw, max_rows: int = 30, max_cols: int = 5) -> pd.DataFrame:
    """DataFrames with mixed column types, missing values and unicode (unique) column names."""
    n = draw(st.integers(1, max_rows))
    f = draw(st.integers(1, max_cols))
    names = draw(st.lists(COLUMN_NAMES, min_size=f + 1, max_size=f + 1,
                          unique_by=lambda s: s.casefold()))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    data = {}
    for name in names:
        kind = draw(st.sampled_from(["float", "int", "category", "bool", "mixed", "constant",
                                     "special", "unicode"]))
        if kind == "float":
            col = rng.standard_normal(n) * draw(st.sampled_from([1.0, 1e300, 1e-300]))
        elif kind == "int":
            col = rng.integers(0, draw(st.integers(1, 6)), n)
        elif kind == "category":
            col = rng.choice(["a", "b", "c"], n)
        elif kind == "bool":
            col = rng.random(n) < 0.5
        elif kind == "mixed":
            col = np.array([x if i % 2 else str(x) for i, x in enumerate(rng.integers(0, 9, n))],
                           dtype=object)
        elif kind == "constant":
            col = np.full(n, 1.5)
        elif kind == "special":
            col = rng.standard_normal(n)
            col[rng.random(n) < 0.3] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        else:
            col = rng.choice(["α", "β", "日本", "😀"], n)
        data[name] = col
    frame = pd.DataFrame(data)
    if n > 2 and draw(st.booleans()):  # duplicate rows
        frame = pd.concat([frame, frame.iloc[: n // 2]], ignore_index=True)
    return frame


# --- context specs ------------------------------------------------------------------------------

NUMBERS = st.one_of(st.integers(-5, 60), st.floats(-2, 5, allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, 1, 1e300, -1e-300, float("nan"), float("inf")]))
PARAM_VALUES = st.one_of(NUMBERS, st.sampled_from(["median", "abc", "true", "none", "''", "x y"]))
PARAMS = {
    "knn": ["k", "include_self"], "rbf": ["gamma"], "knn_mask": ["k", "p", "masks"],
    "rbf_mask": ["gamma", "p", "masks"], "scarf": ["p"], "noise": ["sigma"],
    "cutmix": ["p"], "label": ["balanced"], "teacher": ["model"],
}
SIMPLE = list(PARAMS)


def _fmt(value) -> str:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return str(value) if not isinstance(value, str) else value


@st.composite
def simple_specs(draw) -> str:
    name = draw(st.sampled_from(SIMPLE))
    keys = draw(st.lists(st.sampled_from(PARAMS[name] + ["bogus"]), max_size=3, unique=True))
    args = [f"{k}={_fmt(draw(PARAM_VALUES))}" for k in keys]
    return f"{name}({','.join(args)})" if args else name


@st.composite
def context_specs(draw) -> str:
    """Specs in the grammar: simple terms, mixtures and random nesting (valid or not)."""
    kind = draw(st.sampled_from(["simple", "simple", "mix", "conv", "concat", "nested", "text"]))
    if kind == "simple":
        return draw(simple_specs())
    if kind == "text":
        return draw(st.text(alphabet="knrbf_()=,*0123.5 -mixlabe\"'αλ", max_size=25))
    parts = draw(st.lists(simple_specs(), min_size=1, max_size=3))
    if kind == "mix":
        weights = draw(st.lists(st.sampled_from(["", "0.5*", "2*", "-1*", "0*"]),
                                min_size=len(parts), max_size=len(parts)))
        return "mix(" + ",".join(w + p for w, p in zip(weights, parts, strict=True)) + ")"
    if kind == "nested":
        inner = f"mix({','.join(parts)})"
        return draw(st.sampled_from([f"conv({inner},{parts[0]})", f"concat({inner})",
                                     f"knn(k={inner})", f"mix(conv({inner}))"]))
    return f"{kind}({','.join(parts)})"


# --- invariants ---------------------------------------------------------------------------------


def check_error(exc: BaseException) -> None:
    """A refusal must be a typed project error with a message."""
    assert isinstance(exc, ContexturesError), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


def check_spectrum(s: np.ndarray, *, sorted_: bool = True, atol: float = 1e-8) -> None:
    s = np.asarray(s)
    assert np.isfinite(s).all(), s
    assert (s >= -atol).all() and (s <= 1 + atol).all(), s
    if sorted_:
        assert (np.diff(s) <= atol).all(), s


def check_orthonormal(mu: np.ndarray, weights: np.ndarray | None = None,
                      atol: float = 1e-6) -> None:
    """Eigenfunctions on the sample: mean 0, unit variance, uncorrelated under π."""
    n, d = mu.shape
    pi = np.full(n, 1.0 / n) if weights is None else weights
    assert np.isfinite(mu).all()
    np.testing.assert_allclose(pi @ mu, np.zeros(d), atol=atol)
    np.testing.assert_allclose(mu.T @ (pi[:, None] * mu), np.eye(d), atol=atol)
