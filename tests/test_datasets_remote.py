"""``csv:`` and ``parquet:`` specs naming an fsspec URL: fsspec's in-memory file system, a local
HTTP server on 127.0.0.1 (for ``http(s)://``), ``file://``, and every failure's one line and exit
code (no such host, 404, missing key, fsspec or a protocol package missing, a Parquet file over
the memory budget)."""

import builtins
import functools
import http.server
import threading

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main
from contextures.datasets import load_dataset, prepare
from contextures.datasets.remote import is_url, parquet_decoded_bytes
from contextures.datasets.specs import parse_dataset_spec
from contextures.exceptions import DataError, MemoryBudgetError, OfflineError

fsspec = pytest.importorskip("fsspec")


def _frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2],
                         "y": X[:, 0] - 0.5 * X[:, 2] + 0.1 * rng.normal(size=n)})


@pytest.fixture
def memory_tables():
    """A CSV, a gzip CSV and a Parquet copy of one table in fsspec's memory file system."""
    fs = fsspec.filesystem("memory")
    frame = _frame()
    with fs.open("/tables/t.csv", "w") as fh:
        frame.to_csv(fh, index=False)
    with fsspec.open("memory://tables/t.csv.gz", "wb", compression="gzip") as fh:
        fh.write(frame.to_csv(index=False).encode())
    with fs.open("/tables/t.parquet", "wb") as fh:
        frame.to_parquet(fh, index=False)
    yield frame
    fs.rm("/tables", recursive=True)


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server in a thread, serving ``tmp_path``; yields (root folder, base URL)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_urls_parse_with_and_without_a_target():
    assert is_url("s3://bucket/key.csv") and not is_url("/tmp/a.csv")
    for text, name, target in [
        ("csv:memory://t.csv", "memory://t.csv", None),
        ("csv:memory://t.csv:y", "memory://t.csv", "y"),
        ("csv:https://host/a/b.csv", "https://host/a/b.csv", None),
        ("parquet:http://127.0.0.1:8000/x.parquet", "http://127.0.0.1:8000/x.parquet", None),
        ("parquet:http://127.0.0.1:8000/x.parquet:y", "http://127.0.0.1:8000/x.parquet", "y"),
        ("csv:s3://bucket/k/t.csv.gz:y:max_rows=50", "s3://bucket/k/t.csv.gz", "y"),
    ]:
        spec = parse_dataset_spec(text)
        assert (spec.name, spec.target) == (name, target), text
        assert str(spec) == text


def test_memory_urls_read_the_same_table_as_a_local_file(memory_tables, tmp_path):
    frame = memory_tables
    local = tmp_path / "t.csv"
    frame.to_csv(local, index=False)
    reference = prepare(f"csv:{local}:y", split_seed=0)
    for spec in ("csv:memory://tables/t.csv:y", "csv:memory://tables/t.csv.gz:y",
                 "parquet:memory://tables/t.parquet:y", f"csv:file://{local}:y"):
        data = prepare(spec, split_seed=0)
        np.testing.assert_allclose(data.X_pre, reference.X_pre, rtol=0, atol=1e-12)
        np.testing.assert_allclose(data.y_test, reference.y_test, rtol=0, atol=1e-12)
    table = load_dataset("parquet:memory://tables/t.parquet:y")
    assert table.metadata["source"] == "PARQUET file memory://tables/t.parquet"


def test_http_urls_through_a_local_server(http_root):
    root, base = http_root
    _frame().to_parquet(root / "t.parquet", index=False)
    _frame().to_csv(root / "t.csv", index=False)
    a = prepare(f"parquet:{base}/t.parquet:y", split_seed=0)
    b = prepare(f"csv:{base}/t.csv:y", split_seed=0)
    np.testing.assert_allclose(a.X_pre, b.X_pre, atol=1e-12)
    with pytest.raises(DataError, match="not found") as err:
        load_dataset(f"csv:{base}/missing.csv:y")
    assert type(err.value) is DataError and err.value.exit_code == 3


def test_a_host_that_does_not_resolve_or_refuses_is_offline():
    with pytest.raises(OfflineError, match="cannot resolve the host 'no-such-host.invalid'") as e:
        load_dataset("csv:http://no-such-host.invalid/t.csv:y")
    assert e.value.exit_code == 4
    with pytest.raises(OfflineError, match="cannot connect to 127.0.0.1:9"):
        load_dataset("csv:http://127.0.0.1:9/t.csv:y")


def test_missing_keys_unknown_protocols_and_missing_packages(memory_tables, monkeypatch):
    with pytest.raises(DataError, match="not found: memory://tables/nope.parquet"):
        load_dataset("parquet:memory://tables/nope.parquet:y")
    with pytest.raises(DataError, match="is a directory"):
        load_dataset("csv:memory://tables:y")
    with pytest.raises(DataError, match="Protocol not known"):
        load_dataset("csv:nosuchproto://x/t.csv:y")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="s3fs"):
            load_dataset("csv:s3://bucket/t.csv:y")
    real_import = builtins.__import__

    def no_fsspec(name, *args, **kwargs):
        if name == "fsspec" or name.startswith("fsspec."):
            raise ImportError("No module named 'fsspec'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    with pytest.raises(DataError, match=r"needs fsspec: pip install 'contextures\[remote\]'"):
        load_dataset("csv:memory://tables/t.csv:y")


def test_a_parquet_file_over_the_budget_is_refused_from_its_metadata(memory_tables, tmp_path,
                                                                     monkeypatch):
    import pyarrow.parquet as pq

    local = tmp_path / "t.parquet"
    memory_tables.to_parquet(local, index=False)
    need = parquet_decoded_bytes(pq.ParquetFile(local).metadata)
    assert need >= 8 * 120 * 4
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(need - 1))
    for spec in (f"parquet:{local}:y", "parquet:memory://tables/t.parquet:y"):
        with pytest.raises(MemoryBudgetError, match=r"120 rows × 4 columns"):
            load_dataset(spec)
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", str(need))
    assert load_dataset(f"parquet:{local}:y").X_raw.shape == (120, 3)


def test_cli_lines_and_exit_codes(memory_tables, tmp_path, monkeypatch, capsys):
    assert main(["datasets", "show", "csv:memory://tables/t.csv:y"]) == 0
    assert "memory://tables/t.csv" in capsys.readouterr().out
    assert main(["datasets", "show", "csv:memory://tables/gone.csv:y"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["contextures: error: csv:memory://tables/gone.csv: not found: "
                   "memory://tables/gone.csv"]
    assert main(["datasets", "show", "csv:http://no-such-host.invalid/t.csv:y"]) == 4
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "1K")
    assert main(["datasets", "show", "parquet:memory://tables/t.parquet:y"]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "over the memory budget" in err[0]


@pytest.mark.slow
def test_dask_workers_read_the_data_by_its_url(http_root, tmp_path):
    """Two dask worker processes read the table from the URL themselves (the spec is all a cell
    carries) and give the cells joblib gives, bit for bit."""
    import json

    pytest.importorskip("distributed")
    root, base = http_root
    frame = _frame(400)
    frame.to_csv(root / "t.csv", index=False)
    args = ["--data", f"csv:{base}/t.csv:y", "-c", "knn(k=10)", "-c", "rbf(gamma=median)",
            "--max-fit", "150", "--d0", "20", "-q", "--workers", "2"]
    assert main(["run", "--out", str(tmp_path / "joblib"), *args]) == 0
    assert main(["run", "--out", str(tmp_path / "dask"), *args, "--backend", "dask"]) == 0

    def cells(out):
        found = {}
        for path in sorted((out / "cells").glob("*.json")):
            record = json.loads(path.read_text())
            assert record["status"] == "ok", record.get("error")
            result = dict(record["result"])
            result.pop("timing", None)
            found[record["key"]] = result
        return found

    joblib_cells = cells(tmp_path / "joblib")
    assert len(joblib_cells) == 2
    assert joblib_cells == cells(tmp_path / "dask")
