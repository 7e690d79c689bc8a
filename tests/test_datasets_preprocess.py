"""The preprocessing pipeline: numeric, categorical, missing, constant, inf, identifiers, target."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from contextures.datasets import encode_target, fit_preprocess, make_preprocessor
from contextures.datasets.preprocess import feature_names
from contextures.exceptions import DataError, ParameterError


def table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "num": rng.normal(3.0, 2.0, n),
        "cat": rng.choice(["red", "green", "blue"], n),
        "flag": rng.random(n) < 0.5,
    })


def test_numeric_columns_are_standardised_with_pretrain_statistics():
    X = table()
    fit_rows, other_rows = X.iloc[:30], X.iloc[30:]
    pipeline, (A, B) = fit_preprocess(fit_rows, other_rows)
    assert isinstance(pipeline, Pipeline)
    names = feature_names(pipeline)
    j = names.index("num")
    mu, sd = fit_rows["num"].mean(), fit_rows["num"].std(ddof=0)
    np.testing.assert_allclose(A[:, j], (fit_rows["num"] - mu) / sd)
    np.testing.assert_allclose(B[:, j], (other_rows["num"] - mu) / sd)  # not refitted
    for arr in (A, B):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous


def test_categorical_one_hot_and_unknown_levels():
    X = table()
    pipeline, (A, B) = fit_preprocess(X, pd.DataFrame({"num": [0.0], "cat": ["purple"],
                                                       "flag": [True]}))
    names = feature_names(pipeline)
    assert {"cat_blue", "cat_green", "cat_red"} <= set(names)
    cat_cols = [names.index(f"cat_{c}") for c in ("blue", "green", "red")]
    np.testing.assert_array_equal(A[:, cat_cols].sum(axis=1), 1.0)
    np.testing.assert_array_equal(A[:, names.index("cat_red")], (X["cat"] == "red").to_numpy())
    assert B[0, cat_cols].sum() == 0.0  # an unseen level encodes to zeros (no infrequent group)
    assert "flag" in names  # booleans are numeric 0/1, then standardised


def test_rare_levels_are_grouped_and_unknown_levels_join_them():
    levels = ["a"] * 50 + ["b"] * 45 + ["r1", "r2", "r3", "r4", "r5"]
    X = pd.DataFrame({"c": levels, "x": np.arange(100.0)})
    pipeline, (A, B) = fit_preprocess(X, pd.DataFrame({"c": ["new", "a"], "x": [0.0, 1.0]}),
                                      min_frequency=0.05)
    names = feature_names(pipeline)
    assert names == ["x", "c_a", "c_b", "c_infrequent_sklearn"]
    np.testing.assert_array_equal(A[95:, 3], 1.0)
    np.testing.assert_array_equal(B[:, 1:], [[0, 0, 1], [1, 0, 0]])


def test_missing_values_numeric_median_and_categorical_level():
    X = pd.DataFrame({"x": [1.0, np.nan, 3.0, 10.0, np.nan, 2.0],
                      "c": ["u", None, "v", "u", "v", None]})
    pipeline, (A,) = fit_preprocess(X)
    names = feature_names(pipeline)
    filled = np.array([1.0, 2.5, 3.0, 10.0, 2.5, 2.0])  # median of 1, 3, 10, 2 is 2.5
    np.testing.assert_allclose(A[:, names.index("x")], (filled - filled.mean()) / filled.std())
    np.testing.assert_array_equal(A[:, names.index("c_missing")], [0, 1, 0, 0, 0, 1])
    assert not np.isnan(A).any()


def test_infinities_are_missing():
    X = pd.DataFrame({"x": [1.0, np.inf, 3.0, -np.inf, 5.0], "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    pipeline, (A,) = fit_preprocess(X)
    num = pipeline.named_steps["encode"].named_transformers_["num"]
    scaled = A[:, 0] * num["scale"].scale_[0] + num["scale"].mean_[0]
    raw = np.ldexp(scaled, num["range"].exponents_[0])  # undo the exact power-of-two rescaling
    np.testing.assert_allclose(raw, [1.0, 3.0, 3.0, 3.0, 5.0])  # median of 1, 3, 5
    assert np.isfinite(A).all()


def test_constant_columns_dropped_with_a_warning_naming_them():
    X = pd.DataFrame({"x": np.arange(6.0), "k": [7.0] * 6, "gone": [np.nan] * 6,
                      "one": ["z"] * 6, "one_or_missing": ["z", None] * 3})
    with pytest.warns(UserWarning, match=r"dropped 3 constant .*: k, gone, one$"):
        pipeline, (A,) = fit_preprocess(X)
    cleaner = pipeline.named_steps["clean"]
    assert cleaner.dropped_constant_ == ["k", "gone", "one"]
    # "z" or missing carries information: kept as a two-level categorical.
    assert feature_names(pipeline) == ["x", "one_or_missing_missing", "one_or_missing_z"]
    assert A.shape == (6, 3)


def test_identifier_columns_dropped():
    n = 12
    X = pd.DataFrame({"rownames": np.arange(n), "ID": np.arange(100, 100 + n),
                      "code": [f"c{i}" for i in range(n)], "x": np.linspace(0, 1, n),
                      "grp": ["a", "b", "c"] * 4})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # identifiers are dropped silently, not as constants
        pipeline, (A,) = fit_preprocess(X)
    cleaner = pipeline.named_steps["clean"]
    assert cleaner.dropped_identifier_ == ["rownames", "ID", "code"]
    assert feature_names(pipeline) == ["x", "grp_a", "grp_b", "grp_c"]


def test_no_usable_feature():
    X = pd.DataFrame({"id": [1, 2, 3], "k": [1.0, 1.0, 1.0]})
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable feature"):
        fit_preprocess(X)
    with pytest.raises(DataError, match="empty table"):
        make_preprocessor().fit(X.iloc[:0])


def test_encode_target():
    codes, names = encode_target(pd.Series(["b", "a", "c", "a"]), "classification")
    assert names == ["a", "b", "c"] and codes.tolist() == [1, 0, 2, 0]
    assert codes.dtype == np.int64
    cat = pd.Series(pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"]))
    codes, names = encode_target(cat, "classification")
    assert names == ["lo", "hi"] and codes.tolist() == [0, 1, 0]  # category order, unused gone
    codes, names = encode_target(pd.Series([3.0, 1.0, 3.0]), "classification")
    assert names == ["1", "3"] and codes.tolist() == [1, 0, 1]
    values, none = encode_target(pd.Series([1, 2, 4]), "regression")
    assert none is None and values.dtype == np.float64 and values.tolist() == [1.0, 2.0, 4.0]
    with pytest.raises(DataError, match="not numeric"):
        encode_target(pd.Series(["x", "y"]), "regression")
    with pytest.raises(ParameterError):
        encode_target(pd.Series([1, 2]), "ranking")
