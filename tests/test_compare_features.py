"""compare --features: a user's own representation against the exact contexture."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main
from contextures.cli.spectrum import load_rows
from contextures.evaluation import compare_features, read_features
from contextures.exceptions import DataError, ParameterError
from contextures.spectral import Contexture


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A 240-row regression table as a csv dataset spec, and its preprocessed rows."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 4))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"] = X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=240)
    path = tmp_path_factory.mktemp("data") / "t.csv"
    frame.to_csv(path, index=False)
    spec = f"csv:{path}:y"
    rows, _, _ = load_rows(spec, all_rows=True, split_seed=0)
    return spec, rows


def test_the_exact_eigenfunctions_reach_every_bound(table):
    _, X = table
    mu = Contexture("knn(k=10)", n_components=5, random_state=0).fit(X).eigenfunctions_
    mixed = mu @ np.random.default_rng(1).normal(size=(5, 5))   # any invertible map of them
    r = compare_features(mixed, X, "knn(k=10)")
    assert r.rank == r.n_components == 5
    assert r.cca_r2 == pytest.approx(1.0, abs=1e-8)
    assert r.mutual_knn == pytest.approx(1.0)
    assert r.ratio_trace == pytest.approx(r.ky_fan_bound, rel=1e-6)
    assert r.ky_fan_bound == pytest.approx(sum(s * s for s in r.singular_values[:5]))


def test_other_features_stay_below_the_ky_fan_bound(table):
    _, X = table
    F = np.random.default_rng(2).normal(size=(X.shape[0], 6))
    r = compare_features(F, X, "knn(k=10)", n_components=3)
    assert r.n_components == 3 and r.rank == 6
    assert 0 <= r.ratio_trace <= r.ky_fan_bound
    assert 0 <= r.ratio_trace_share < 0.5
    assert 0 <= r.cca_r2 < 0.5 and 0 <= r.cka <= 1
    assert set(r.record()) >= {"cca_r2", "mutual_knn", "cka", "ratio_trace", "ky_fan_bound"}


@pytest.mark.parametrize("bad, words", [
    (lambda F: F[:-1], "239 rows, the data 240"),
    (lambda F: np.where(np.arange(F.shape[0])[:, None] == 3, np.nan, F), "NaN or infinite"),
    (lambda F: np.zeros_like(F), "constant"),
])
def test_bad_arrays_are_refused(table, bad, words):
    _, X = table
    F = np.random.default_rng(3).normal(size=(X.shape[0], 3))
    with pytest.raises(ParameterError, match=words):
        compare_features(bad(F), X, "knn(k=10)")


def test_read_features_formats_and_refusals(tmp_path):
    F = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "f.npy", F)
    pd.DataFrame(F, columns=["x", "y", "z"]).to_csv(tmp_path / "f.csv", index=False)
    pd.DataFrame(F, columns=["x", "y", "z"]).to_parquet(tmp_path / "f.parquet")
    for name in ("f.npy", "f.csv", "f.parquet"):
        np.testing.assert_array_equal(read_features(tmp_path / name), F)

    frame = pd.DataFrame({"x": [1.0, 2.0], "colour": ["red", "blue"]})
    frame.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ParameterError, match="non-numeric column.*colour"):
        read_features(tmp_path / "text.csv")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(ParameterError, match="NaN"):
        read_features(tmp_path / "nan.npy")
    np.save(tmp_path / "bool.npy", np.ones((3, 2), dtype=bool))
    with pytest.raises(ParameterError, match="not real numbers"):
        read_features(tmp_path / "bool.npy")
    np.save(tmp_path / "objects.npy", np.array([["a", "b"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot be read"):
        read_features(tmp_path / "objects.npy")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read PARQUET file"):
        read_features(tmp_path / "broken.parquet")
    with pytest.raises(DataError, match="unknown format"):
        read_features(tmp_path / "f.txt")
    with pytest.raises(DataError, match="no such file"):
        read_features(tmp_path / "missing.npy")


def test_cli_compare_features(table, tmp_path, capsys):
    spec, X = table
    F = X[:, :3] @ np.random.default_rng(4).normal(size=(3, 5))
    pd.DataFrame(F).to_csv(tmp_path / "emb.csv", index=False)
    code = main(["compare", "-D", spec, "-c", "knn(k=10)", "--features",
                 str(tmp_path / "emb.csv"), "-d", "3", "--json", "-"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)          # pure JSON on stdout, the table on stderr
    assert payload["n_rows"] == 240 and payload["rank"] == 3 and payload["n_components"] == 3
    assert payload["ratio_trace"] <= payload["ky_fan_bound"] + 1e-9
    for name in ("cca_r2", "mutual_knn", "cka", "ratio_trace"):
        assert name in captured.err
    expected = compare_features(F, X, "knn(k=10)", n_components=3)
    assert payload["cca_r2"] == pytest.approx(expected.cca_r2)


@pytest.mark.parametrize("argv, words", [
    (["--features", "F"], "needs --context"),
    (["-c", "knn(k=10)", "--features", "F", "--model", "m"], "exactly one of them"),
    (["-c", "knn(k=10)"], "exactly one of them"),
    (["-c", "knn(k=10)", "--features", "F", "--max-rows", "100"], "do not apply"),
    (["-c", "knn(k=10)", "--features", "SHORT"], "239 rows, dataset"),
    (["-c", "knnn(k=10)", "--features", "F"], "did you mean 'knn'"),
])
def test_cli_compare_features_refusals(table, tmp_path, capsys, argv, words):
    spec, X = table
    np.save(tmp_path / "f.npy", np.random.default_rng(5).normal(size=(X.shape[0], 2)))
    np.save(tmp_path / "short.npy", np.ones((X.shape[0] - 1, 2)))
    argv = [{"F": str(tmp_path / "f.npy"), "SHORT": str(tmp_path / "short.npy")}.get(a, a)
            for a in argv]
    code = main(["compare", "-D", spec, *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and err.count("\n") == 1
