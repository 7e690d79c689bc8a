"""One validation module: arrays through check_array, parameters through one typed check each."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from contextures.exceptions import InputTypeError, ParameterError
from contextures.validation import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    check_options,
    check_positive,
    check_seed,
    check_spectrum,
    checked_keywords,
)


def test_check_array_returns_float64_c_contiguous():
    out = check_array([[1, 2], [3, 4]], what="f")
    assert out.dtype == np.float64 and out.flags.c_contiguous and out.shape == (2, 2)
    fortran = np.asfortranarray(np.ones((3, 2)))
    assert check_array(fortran).flags.c_contiguous


@pytest.mark.parametrize("bad, error, words", [
    (None, ParameterError, "X is required"),
    (np.ones(4), ParameterError, "2D array"),
    (np.ones((0, 3)), ParameterError, "0 sample"),
    (np.ones((3, 0)), ParameterError, "0 feature"),
    ([["a", "b"], ["c", "d"]], ParameterError, "f:"),
    (sp.csr_matrix(np.eye(3)), InputTypeError, "Sparse data"),
    (np.array([[1 + 1j, 2]]), ParameterError, "omplex"),
])
def test_check_array_refuses_with_a_typed_error(bad, error, words):
    with pytest.raises(error, match=words):
        check_array(bad, what="f")


def test_check_array_counts_non_finite_values_by_row():
    X = np.ones((5, 2))
    X[1, 0] = np.nan
    X[3, 1] = np.inf
    X[3, 0] = -np.inf
    with pytest.raises(ParameterError, match=r"3 NaN or infinite value\(s\) \(in 2 rows, first "
                                             r"row 1\)"):
        check_array(X, what="probe")


def test_check_array_options():
    assert check_array([1.0, 2.0, 3.0], allow_1d=True).shape == (3, 1)
    with pytest.raises(ParameterError, match="at least 2|minimum of 2"):
        check_array(np.ones((1, 2)), min_samples=2)
    assert check_array(np.ones((0, 2)), min_samples=0).shape == (0, 2)
    with pytest.raises(ParameterError, match="overflow"):
        check_array(np.full((4, 2), 1e200) * [[1], [-1], [1], [-1]], representable=True)
    check_array(np.full((4, 2), 1e200), representable=False)


def test_check_array_records_and_checks_the_features_of_an_estimator():
    est = BaseEstimator()
    check_array(np.ones((4, 3)), estimator=est, reset=True)
    assert est.n_features_in_ == 3
    with pytest.raises(ParameterError, match="3 features"):
        check_array(np.ones((4, 2)), estimator=est, reset=False, what="T.transform")


def test_check_int_one_rule():
    assert check_int(3, "k") == 3
    assert check_int(np.int64(3), "k") == 3
    assert type(check_int(np.int64(3), "k")) is int
    assert check_int(None, "cap", allow_none=True) is None
    for bad in (3.0, 3.5, True, "3", None):
        with pytest.raises(ParameterError, match="k must be an integer"):
            check_int(bad, "k")
    with pytest.raises(ParameterError, match="knn: k must be at least 1, got 0"):
        check_int(0, "k", low=1, who="knn")
    with pytest.raises(ParameterError, match=r"k must be at most 9 \(n = 10\), got 10"):
        check_int(10, "k", low=1, high=9, note=" (n = 10)")


def test_check_float_and_its_kinds():
    assert check_float(2, "gamma") == 2.0
    for bad in (True, "1", None, np.nan, np.inf):
        with pytest.raises(ParameterError, match="gamma must be"):
            check_float(bad, "gamma")
    with pytest.raises(ParameterError, match="beta must be > 0, got 0"):
        check_positive(0, "beta")
    assert check_positive(0, "weight_decay", allow_zero=True) == 0.0
    assert check_positive(None, "alpha", allow_none=True) is None
    with pytest.raises(ParameterError, match=r"p must be in \[0, 1\], got 1.5"):
        check_fraction(1.5, "p")
    with pytest.raises(ParameterError, match=r"tol must be in \(0, 1\]"):
        check_float(0.0, "tol", low=0.0, high=1.0, low_open=True)


def test_choice_bool_seed_spectrum():
    assert check_choice("dense", "solver", ("dense", "krylov")) == "dense"
    with pytest.raises(ParameterError, match="solver must be one of dense, krylov, got 'Dense'"):
        check_choice("Dense", "solver", ("dense", "krylov"))
    assert check_bool(np.True_, "skip") is True
    with pytest.raises(ParameterError, match="true or false"):
        check_bool(1, "skip")
    assert check_seed(None) is None and check_seed(np.int32(4)) == 4
    for bad in (-1, 1.0, True):
        with pytest.raises(ParameterError, match="random_state"):
            check_seed(bad)
    assert check_spectrum([0.9, 0.5]).tolist() == [0.9, 0.5]
    with pytest.raises(ParameterError, match=r"must lie in \[0, 1\]"):
        check_spectrum([1.5])


def test_unknown_options_are_named_with_the_accepted_ones():
    check_options({"m": 3}, ("m",))
    with pytest.raises(ParameterError, match="nystrom: unknown option tol; it takes m"):
        check_options({"tol": 1e-3}, ("m",), who="nystrom")
    with pytest.raises(ParameterError, match="unknown options a, b; it takes no options"):
        check_options({"b": 1, "a": 2}, ())

    @checked_keywords("f")
    def f(x, *, alpha=1):
        return x + alpha

    assert f(1, alpha=2) == 3 and f(x=1) == 2
    with pytest.raises(ParameterError, match="f: unknown option alpah; it takes alpha"):
        f(1, alpah=2)


def test_solvers_refuse_an_option_they_do_not_take():
    from contextures.contexts import make_context
    from contextures.spectral.approximate import solve_nystrom
    from contextures.spectral.dense import solve_dense
    from contextures.spectral.iterative import solve_krylov

    X = np.random.default_rng(0).normal(size=(60, 3))
    op = make_context("knn(k=5)").fit(X).operator()
    assert solve_dense(op, 3, random_state=0, threads=1).singular_values.shape == (3,)
    with pytest.raises(ParameterError, match="solver dense: unknown option tol; it takes "
                                             "random_state, memory_budget, notes"):
        solve_dense(op, 3, tol=1e-8)
    with pytest.raises(ParameterError, match="solver krylov: unknown option blok_size"):
        solve_krylov(op, 3, blok_size=4)
    with pytest.raises(ParameterError, match="solver nystrom: unknown option tol"):
        solve_nystrom(op, 3, m=20, tol=1e-3)


def test_every_estimator_applies_the_same_integer_rule():
    """3.0 is not an integer for a context, a solver, τ, the encoder and STKR alike."""
    from contextures.contexts import make_context
    from contextures.encoders import ContextureEncoder
    from contextures.evaluation import tau
    from contextures.semisupervised import STKR
    from contextures.spectral import Contexture

    X = np.random.default_rng(1).normal(size=(40, 3))
    y = X[:, 0]
    cases = [
        lambda: make_context("knn(k=5)").set_params(k=5.0).fit(X),
        lambda: Contexture("knn(k=5)", n_components=3.0).fit(X),
        lambda: tau([0.9, 0.5, 0.1], d0=3.0),
        lambda: ContextureEncoder("knn(k=5)", n_components=3.0, epochs=1).fit(X),
        lambda: STKR("knn(k=5)", cv=3.0).fit(X, y),
    ]
    for case in cases:
        with pytest.raises(ParameterError, match="must be an integer"):
            case()
