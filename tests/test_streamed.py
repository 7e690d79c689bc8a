"""Scoring every row of a Parquet table that is not read whole: the downstream rows streamed from
the file a block at a time, preprocessed with the pipeline fitted on the fitting sample,
transformed and probed; the probe of spilled blocks equals the in-memory probe bit for bit, and
the memory held does not grow with the rows."""

import functools
import json

import numpy as np
import pandas as pd
import pytest

from contextures._memory import traced_peak
from contextures.cli.app import main
from contextures.datasets import fit_preprocess, prepare
from contextures.datasets.parquet_sample import ParquetRows
from contextures.datasets.splits import fit_rows
from contextures.datasets.streamed import StreamedPart
from contextures.evaluation import probe_stream
from contextures.evaluation.probe_stream import ridge_probe_curve_streamed
from contextures.evaluation.probes import ridge_probe_curve
from contextures.evaluation.scoring import score_context, standardised_targets
from contextures.exceptions import DataError, MemoryBudgetError, ParameterError
from contextures.spectral import Contexture


def _frame(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame.loc[rng.random(n) < 0.02, "b"] = np.nan          # imputed by the fitted pipeline
    frame["colour"] = rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.29, 0.01])
    frame["y"] = np.sin(X[:, 0]) + 0.5 * X[:, 1] + (frame["colour"] == "red") \
        + 0.1 * rng.normal(size=n)
    frame["label"] = np.where(frame["y"] > 0.5, "high", "low")
    return frame


def _write(path, n, seed=0, group=900):
    _frame(n, seed).to_parquet(path, row_group_size=group, index=False)
    return path


@pytest.fixture
def parquet_file(tmp_path):
    return _write(tmp_path / "t.parquet", 5000)


def _gather(part: StreamedPart) -> np.ndarray:
    return np.vstack([X for p, X in part.source.blocks((part.part,))])


@pytest.mark.parametrize("target", ["y:drop=label", "label:drop=y"])
def test_streamed_rows_are_the_in_memory_rows_preprocessed_on_the_fitting_sample(
        parquet_file, target, monkeypatch):
    monkeypatch.setattr("contextures.datasets.streamed.BATCH_BYTES", 20_000)  # many batches
    monkeypatch.setattr("contextures.datasets.streamed.MIN_BATCH_ROWS", 100)
    spec = f"parquet:{parquet_file}:{target}"
    streamed = prepare(spec, split_seed=2, stream=True, n_fit=700, fit_seed=5)
    whole = prepare(spec, split_seed=2)
    assert streamed.streamed and not whole.streamed
    assert streamed.X_train.source.batch_rows < 1000
    # the same split, and the fitting sample is the main job's subsample of the pretrain rows
    np.testing.assert_array_equal(streamed.index_train, whole.index_train)
    np.testing.assert_array_equal(streamed.index_test, whole.index_test)
    np.testing.assert_array_equal(streamed.index_pre,
                                  whole.index_pre[fit_rows(whole.X_pre.shape[0], 700, 5)])
    assert streamed.n_pretrain == whole.n_pretrain == whole.X_pre.shape[0]
    np.testing.assert_array_equal(streamed.y_train, whole.y_train)
    np.testing.assert_array_equal(streamed.y_test, whole.y_test)
    np.testing.assert_array_equal(streamed.y_pre, whole.y_pre[fit_rows(whole.n_pretrain, 700, 5)])
    # features: the pipeline fitted on the fitting rows, applied to each part
    raw = pd.read_parquet(parquet_file).drop(columns=["y", "label"])
    _, (X_fit, X_train, X_test) = fit_preprocess(raw.iloc[streamed.index_pre],
                                                 raw.iloc[whole.index_train],
                                                 raw.iloc[whole.index_test])
    np.testing.assert_array_equal(streamed.X_pre, X_fit)
    np.testing.assert_array_equal(_gather(streamed.X_train), X_train)
    np.testing.assert_array_equal(_gather(streamed.X_test), X_test)
    assert streamed.X_train.shape == X_train.shape
    assert streamed.metadata["preprocessing"]["fitted_on"] == "fitting sample"
    assert streamed.metadata["streamed"]["n_fit"] == 700
    with pytest.raises(DataError, match="streamed from the file, not held in memory"):
        np.asarray(streamed.X_train)


def _interleaved(F_train, F_test, rng):
    i = j = 0
    while i < len(F_train) or j < len(F_test):
        if i < len(F_train):
            m = int(rng.integers(1, 300))
            yield "train", F_train[i:i + m]
            i += m
        if j < len(F_test):
            m = int(rng.integers(1, 300))
            yield "test", F_test[j:j + m]
            j += m


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_the_streamed_probe_is_the_in_memory_probe_bit_for_bit(task, tmp_path):
    rng = np.random.default_rng(1)
    F_train, F_test = rng.normal(size=(2501, 9)), rng.normal(size=(613, 9))
    if task == "regression":
        y_train = F_train[:, :2] @ [1.0, -0.5] + rng.normal(size=2501)
        y_test = F_test[:, :2] @ [1.0, -0.5] + rng.normal(size=613)
    else:
        y_train = (F_train[:, 0] > 0).astype(int) + (F_train[:, 1] > 1)
        y_test = (F_test[:, 0] > 0).astype(int) + (F_test[:, 1] > 1)
    whole = ridge_probe_curve(F_train, y_train, None, None, F_test, y_test, task=task,
                              cv_folds=4, random_state=3)
    streamed = ridge_probe_curve_streamed(_interleaved(F_train, F_test, rng), y_train, y_test,
                                          task=task, cv_folds=4, random_state=3,
                                          directory=tmp_path)
    for name in ("errors", "val_errors", "alphas", "accuracy"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(whole, name))
    assert (streamed.d_star, streamed.d_val) == (whole.d_star, whole.d_val)
    assert list(tmp_path.iterdir()) == []     # the spilled features are removed


def test_the_streamed_probe_refuses_what_does_not_add_up(tmp_path):
    rng = np.random.default_rng(0)
    F, y = rng.normal(size=(100, 3)), rng.normal(size=100)
    with pytest.raises(ParameterError, match="blocks held 60 train and 100 test rows"):
        ridge_probe_curve_streamed([("train", F[:60]), ("test", F)], y, y, directory=tmp_path)
    with pytest.raises(ParameterError, match="has 2 columns, the first had 3"):
        ridge_probe_curve_streamed([("train", F), ("test", F[:, :2])], y, y)
    bad = F.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN or infinite"):
        ridge_probe_curve_streamed([("train", bad)], y, y)
    with pytest.raises(ParameterError, match="'train' or 'test'"):
        ridge_probe_curve_streamed([("val", F)], y, y)


def test_a_disk_too_small_for_the_spilled_features_is_named(monkeypatch):
    class Usage:
        free = 1000

    monkeypatch.setattr(probe_stream.shutil, "disk_usage", lambda path: Usage)
    rng = np.random.default_rng(0)
    F, y = rng.normal(size=(100, 3)), rng.normal(size=100)
    with pytest.raises(DataError, match=r"4\.7 KiB needed, .* free there \(set TMPDIR"):
        ridge_probe_curve_streamed([("train", F), ("test", F)], y, y)


def test_score_context_on_a_streamed_table_is_the_reference_computation(parquet_file):
    spec = f"parquet:{parquet_file}:y:drop=label"
    data = prepare(spec, stream=True, n_fit=600, fit_seed=1)
    score = score_context("knn(k=15)", data, d0=24, complexity=False)
    model = Contexture("knn(k=15)", n_components=24, random_state=0).fit(data.X_pre)
    y_train, y_test, _ = standardised_targets(data.y_train, data.y_test, data.task)
    reference = ridge_probe_curve(model.transform(_gather(data.X_train)), y_train, None, None,
                                  model.transform(_gather(data.X_test)), y_test,
                                  task="regression", cv_folds=5)
    np.testing.assert_array_equal(score.probe.errors, reference.errors)
    assert score.err_at_d_val == reference.error_at_d_val
    with pytest.raises(DataError, match="raw_probe"):
        score_context("knn(k=15)", data, d0=24, complexity=False, raw_probe=True)


def test_memory_held_by_the_streamed_scoring_does_not_grow_with_the_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("contextures.datasets.streamed.BATCH_BYTES", 200_000)
    monkeypatch.setattr("contextures.datasets.streamed.MIN_BATCH_ROWS", 100)
    peaks = []
    for n in (20_000, 80_000):
        path = _write(tmp_path / f"t{n}.parquet", n, group=4000)
        data = prepare(f"parquet:{path}:y:drop=label", stream=True, n_fit=400)
        peaks.append(traced_peak(functools.partial(score_context, "knn(k=10)", data, d0=16,
                                                   complexity=False)))
    # 4× the rows: the peak grows by the O(n) targets and fold numbers only, far less than the
    # 60 000 more rows of features (7.7 MB) and raw columns the in-memory path would hold
    assert peaks[1] - peaks[0] < 3_000_000, peaks


def test_evaluate_streams_a_table_over_the_budget_given_max_fit(tmp_path, monkeypatch, capsys):
    path = _write(tmp_path / "big.parquet", 40_000, group=3000)
    spec = f"parquet:{path}:label:drop=y"
    rows = ParquetRows.of_path(path, "test")
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
    # over the budget without a fitting sample: refused, naming both ways out
    assert main(["evaluate", "--data", spec, "-c", "knn(k=10)", "--d0", "16", "-q"]) == 5
    err = capsys.readouterr().err
    assert ":max_rows=N" in err and "--max-fit N" in err and "Traceback" not in err
    with pytest.raises(MemoryBudgetError, match="--max-fit N"):
        prepare(spec, stream=None)          # the library: no fitting sample, no streaming
    out = tmp_path / "r.json"
    assert main(["evaluate", "--data", spec, "-c", "knn(k=10)", "--d0", "16", "--max-fit", "300",
                 "--json", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert "is read by row groups, never whole" in captured.err
    assert "of the 28000 pretrain rows" in captured.err and "12000 downstream rows" in captured.err
    payload = json.loads(out.read_text())
    assert payload["streamed"]["n_fit"] == 300 and payload["n_fit"] == 300
    assert payload["results"][0]["solver"] == "dense"    # the budget did not change the solve
    monkeypatch.delenv("CONTEXTURES_MEMORY_BUDGET")
    data = prepare(spec, stream=True, n_fit=300)
    direct = score_context("knn(k=10)", data, d0=16, complexity=True).record()
    record = payload["results"][0]
    for name in ("tau", "err", "err_at_d_val", "accuracy_at_d_val", "n_resolved"):
        assert record[name] == direct[name], name


def test_stream_needs_max_fit_and_a_parquet_file(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    _frame(300).to_csv(csv, index=False)
    assert main(["evaluate", "--data", f"csv:{csv}:y", "-c", "knn(k=5)", "--stream", "-q"]) == 3
    assert "give its size with --max-fit N" in capsys.readouterr().err
    assert main(["evaluate", "--data", f"csv:{csv}:y", "-c", "knn(k=5)", "--stream",
                 "--max-fit", "100", "-q"]) == 3
    err = capsys.readouterr().err
    assert "only a Parquet file can be streamed" in err and "Traceback" not in err


def test_run_streams_the_downstream_rows_and_says_so(parquet_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--data", f"parquet:{parquet_file}:y:drop=label", "--stream",
                 "--max-fit", "300", "--d0", "24", "-c", "knn(k=10)", "-c", "rbf(gamma=median)",
                 "--out", str(out), "--quiet", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    report = (out / "report.md").read_text()
    assert "read by row groups, never whole" in report
    assert "300 of the 3500 pretrain rows" in report
    assert summary["n_rows"] == 5000 and summary["n_pretrain"] == 3500
    assert summary["settings"]["stream"] is True
    errors = [r["err_at_d_val"] for r in summary["candidates"]]
    assert len(errors) == 2 and all(e is not None and 0 < e < 1 for e in errors), errors


def test_a_url_streams_the_same_rows_as_a_local_file(parquet_file):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    with fs.open("/streamed/t.parquet", "wb") as fh:
        fh.write(parquet_file.read_bytes())
    try:
        local = prepare(f"parquet:{parquet_file}:y:drop=label", stream=True, n_fit=400)
        remote = prepare("parquet:memory://streamed/t.parquet:y:drop=label", stream=True,
                         n_fit=400)
        np.testing.assert_array_equal(remote.X_pre, local.X_pre)
        for part in ("X_train", "X_test"):
            np.testing.assert_array_equal(_gather(getattr(remote, part)),
                                          _gather(getattr(local, part)))
    finally:
        fs.rm("/streamed", recursive=True)
