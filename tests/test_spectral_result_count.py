"""Every spectrum call returns exactly d valid pairs, or a ContexturesError: never a short list."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextures.contexts.base import make_context
from contextures.contexts.cache import ContextCache
from contextures.exceptions import ContexturesError
from contextures.spectral import Contexture
from contextures.spectral.result import SpectralResult
from contextures.spectral.select import result_problem

SPECS = ["knn(k=3)", "rbf(gamma=median)", "scarf(p=0.3,draws=4)", "knn_mask(k=3,p=0.5,masks=3)",
         "rbf(gamma=50)", "noise(sigma=0.1,draws=3)"]


@st.composite
def tables(draw):
    n = draw(st.integers(5, 40))
    f = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["normal", "duplicates", "constant_column", "few_values"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n, f))
    if kind == "duplicates":
        X[n // 2:] = X[: n - n // 2]
    elif kind == "constant_column":
        X[:, 0] = 1.0
    elif kind == "few_values":
        X = np.round(X)
    return X


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=tables(), spec=st.sampled_from(SPECS), d=st.integers(1, 12),
       solver=st.sampled_from(["auto", "dense", "krylov", "arpack"]))
def test_spectrum_has_exactly_d_values_or_raises(X, spec, d, solver):
    try:
        model = Contexture(spec, n_components=d, solver=solver, random_state=0,
                           extension="raw").fit(X)
    except ContexturesError:
        return
    s = model.singular_values_
    assert s.shape == (d,)
    assert np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1 + 1e-6
    assert model.eigenfunctions_.shape == (X.shape[0], d)


def test_breast_cancer_scarf_returns_all_eight():
    # a degenerate spectrum (s = 1 many times) on which LAPACK's evr returned 2 of 8 pairs
    from contextures.datasets import prepare
    data = prepare("sklearn:breast_cancer", split_seed=0)
    model = Contexture("scarf(p=0.3)", n_components=8, random_state=0, solver="dense",
                       extension="raw").fit(data.X_pre)
    assert model.singular_values_.shape == (8,)


def test_result_problem_names_what_is_wrong():
    n, d = 10, 3
    good = SpectralResult(np.array([0.9, 0.5, 0.1]), np.zeros((n, d)), np.zeros((n, d)),
                          np.zeros((n, d)), np.zeros(d), "dense")
    assert result_problem(good, d, n) is None
    short = SpectralResult(np.array([0.9, 0.5]), np.zeros((n, 2)), np.zeros((n, 2)),
                           np.zeros((n, 2)), np.zeros(2), "dense")
    assert "2 of 3" in result_problem(short, d, n)
    big = SpectralResult(np.array([1.5, 0.5, 0.1]), np.zeros((n, d)), np.zeros((n, d)),
                         np.zeros((n, d)), np.zeros(d), "dense")
    assert "outside" in result_problem(big, d, n)


def test_cache_refuses_an_array_with_two_rows_swapped():
    X = np.random.default_rng(0).normal(size=(100, 3))
    cache = ContextCache(X, max_k=10)
    Y = X.copy()
    Y[[3, 4]] = Y[[4, 3]]
    with pytest.raises(ContexturesError, match="different X"):
        make_context("knn(k=5)").fit(Y, cache=cache)
    make_context("knn(k=5)").fit(X.copy(), cache=cache)   # the same values: the same array
