"""A Parquet file over the memory budget is read through its row cap, one row group at a time:
the same table, row for row, as reading it whole and capping it; refused without a cap."""

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main
from contextures.datasets import load_dataset
from contextures.datasets.parquet_sample import ParquetRows
from contextures.exceptions import MemoryBudgetError

N = 6000


def _table(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.normal(size=N),
        "b": rng.integers(0, 5, N),
        "c": rng.choice(["x", "y", "z"], N),
        "d": rng.normal(size=N).astype(np.float32),
        "label": rng.choice(["rare", "common"], N, p=[0.2, 0.8]),
        "value": rng.normal(size=N),
    })


@pytest.fixture
def parquet_file(tmp_path):
    """A table of 6000 rows in row groups of 700 (the last one shorter), with pandas' index
    stored as a column (a non-default index), so the footer's names and pandas' differ."""
    frame = _table()
    frame.index = pd.RangeIndex(N) * 3 + 7
    path = tmp_path / "big.parquet"
    frame.to_parquet(path, row_group_size=700, index=True)
    return path



@pytest.mark.parametrize("suffix", [":label:max_rows=500", ":value:max_rows=777:drop=c",
                                    ":label:max_rows=2500", ":value:max_rows=50:drop=a"])
def test_the_sample_equals_the_whole_table_capped(parquet_file, monkeypatch, suffix):
    spec = f"parquet:{parquet_file}{suffix}"
    whole = load_dataset(spec)   # read whole, then capped
    rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
    # a budget under the whole table but over a sample plus one row group and the target
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
    sampled = load_dataset(spec)
    assert sampled.metadata["cap"]["read_by_row_groups"] is True
    assert whole.metadata["cap"].get("read_by_row_groups") is None
    pd.testing.assert_frame_equal(sampled.X_raw, whole.X_raw)
    pd.testing.assert_series_equal(sampled.y_raw, whole.y_raw)
    assert sampled.task == whole.task
    assert list(sampled.X_raw.columns) == list(whole.X_raw.columns)


def test_the_stratified_sample_keeps_the_class_shares(parquet_file, monkeypatch):
    rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
    sampled = load_dataset(f"parquet:{parquet_file}:label:max_rows=1000")
    full = pd.read_parquet(parquet_file)["label"]
    share = (sampled.y_raw == "rare").mean()
    assert abs(share - (full == "rare").mean()) < 2e-3


def test_without_a_cap_it_is_refused_naming_the_option(parquet_file, monkeypatch, capsys):
    rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
    assert rows.n_rows == N and rows.group_rows.tolist()[:2] == [700, 700]
    assert "__index_level_0__" not in rows.columns and len(rows.columns) == 6
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
    for spec in (f"parquet:{parquet_file}:value", f"parquet:{parquet_file}:value:max_rows={N}"):
        with pytest.raises(MemoryBudgetError, match=r"add :max_rows=N to the spec"):
            load_dataset(spec)
    assert main(["datasets", "show", f"parquet:{parquet_file}:value"]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ":max_rows=N" in err[0] and "Traceback" not in err[0]


def test_a_sample_too_large_for_the_budget_is_refused_before_reading(parquet_file,
                                                                      monkeypatch):
    rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes // 2))
    with pytest.raises(MemoryBudgetError, match=r"a sample of 5000 of the 6000 rows"):
        load_dataset(f"parquet:{parquet_file}:value:max_rows=5000")


def test_a_url_is_sampled_the_same_way(parquet_file, monkeypatch):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    with fs.open("/sampled/big.parquet", "wb") as fh:
        fh.write(parquet_file.read_bytes())
    try:
        spec = "parquet:memory://sampled/big.parquet:label:max_rows=400"
        whole = load_dataset(spec)
        rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
        monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
        sampled = load_dataset(spec)
        assert sampled.metadata["cap"]["read_by_row_groups"] is True
        pd.testing.assert_frame_equal(sampled.X_raw, whole.X_raw)
        pd.testing.assert_series_equal(sampled.y_raw, whole.y_raw)
    finally:
        fs.rm("/sampled", recursive=True)


def test_the_cli_runs_on_the_sample(parquet_file, monkeypatch, capsys, tmp_path):
    rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
    code = main(["spectrum", "--data", f"parquet:{parquet_file}:value:max_rows=300:drop=c",
                 "-c", "knn(k=10)", "-d", "4", "-q", "--json", str(tmp_path / "s.json")])
    assert code == 0, capsys.readouterr().err


def test_a_data_directory_table_is_sampled_and_refused_the_same_way(parquet_file, monkeypatch):
    """A Parquet file found by name in $CONTEXTURES_DATA goes through the same footer check."""
    monkeypatch.setenv("CONTEXTURES_DATA", str(parquet_file.parent))
    whole = load_dataset("big:value:max_rows=600")
    rows = ParquetRows(lambda: open(parquet_file, "rb"), str(parquet_file), "test")
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(rows.decoded_bytes - 1))
    sampled = load_dataset("big:value:max_rows=600")
    assert sampled.metadata["cap"]["read_by_row_groups"] is True
    pd.testing.assert_frame_equal(sampled.X_raw, whole.X_raw)
    pd.testing.assert_series_equal(sampled.y_raw, whole.y_raw)
    with pytest.raises(MemoryBudgetError, match=r"add :max_rows=N to the spec"):
        load_dataset("big:value")


def test_a_features_file_over_the_budget_is_refused_before_reading(tmp_path, monkeypatch):
    from contextures.evaluation.features import read_features

    path = tmp_path / "features.parquet"
    pd.DataFrame(np.zeros((4000, 8))).rename(columns=str).to_parquet(path)
    assert read_features(path).shape == (4000, 8)
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "100000")
    with pytest.raises(MemoryBudgetError, match=r"--features .*4000 rows × 8 columns"):
        read_features(path)
