"""openml: specs through recorded responses (tests/data/openml), the cache, offline errors, ARFF.

`urllib.request.urlopen` is replaced by a server that answers from the recordings; an unrecorded
URL fails the test, so the network is never used.
"""

import gzip
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from contextures.cli.app import main
from contextures.datasets import load_dataset, prepare, suite
from contextures.datasets.arff import read_arff
from contextures.datasets.openml_api import is_cached, openml_cache_dir, task_source
from contextures.exceptions import DataError, OfflineError

RECORDED = Path(__file__).parent / "data" / "openml"
INDEX = json.loads((RECORDED / "index.json").read_text())


class RecordedServer:
    """Stands in for urlopen: answers recorded URLs, fails on anything else."""

    def __init__(self):
        self.requests = []

    def __call__(self, request, timeout=None):
        url = getattr(request, "full_url", request)
        self.requests.append(url)
        if url not in INDEX:
            raise AssertionError(f"test asked for an unrecorded URL: {url}")
        entry = INDEX[url]
        body = (RECORDED / entry["file"]).read_bytes()
        if entry["file"].endswith(".gz"):
            body = gzip.decompress(body)
        if entry.get("status", 200) != 200:
            raise urllib.error.HTTPError(url, entry["status"], "Precondition Failed", None,
                                         io.BytesIO(body))
        return io.BytesIO(body)


def no_network(request, timeout=None):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTEXTURES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CONTEXTURES_OFFLINE", raising=False)
    fake = RecordedServer()
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTEXTURES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CONTEXTURES_OFFLINE", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


API = "https://www.openml.org/api/v1/json"


def test_dataset_from_arff_then_from_cache(server, monkeypatch):
    data = load_dataset("openml:61")
    assert (data.n_rows, data.n_features, data.task) == (150, 4, "classification")
    assert data.name == "iris" and data.target_name == "class"
    assert data.metadata["target_summary"]["class_counts"] == {
        "Iris-setosa": 50, "Iris-versicolor": 50, "Iris-virginica": 50}
    assert data.metadata["license"] == "Public"
    assert data.metadata["source"].startswith("OpenML dataset 61 (iris")
    assert data.X_raw["sepallength"].dtype == np.float64
    assert server.requests == [f"{API}/data/61",
                               "https://www.openml.org/data/v1/download/61/iris.arff"]
    assert is_cached(61) and (openml_cache_dir() / "dataset-61.arff").is_file()
    monkeypatch.setattr(urllib.request, "urlopen", no_network)  # cached: no network needed
    again = load_dataset("openml:61")
    assert again.X_raw.equals(data.X_raw) and len(server.requests) == 2


def test_task_gives_dataset_target_and_task_type(server):
    data = load_dataset("openml:task/3")
    assert (data.n_rows, data.n_features) == (3196, 36)
    assert data.task == "classification" and data.metadata["task_origin"] == "source"
    assert data.metadata["openml_task_id"] == 3 and data.metadata["openml_dataset_id"] == 3
    assert data.metadata["target_summary"]["class_counts"] == {"nowin": 1527, "won": 1669}
    assert server.requests[0] == f"{API}/task/3"
    assert is_cached(task_id=3)
    with pytest.warns(UserWarning, match="spcop"):  # its one 't' row is not in pretrain
        prepared = prepare("openml:task/3", split_seed=1)
    assert prepared.metadata["split"]["stratified"] is True
    assert prepared.metadata["preprocessing"]["dropped_constant"] == ["spcop"]
    assert prepared.X_pre.shape == (2238, 2 * 34 + 3)  # 34 binary + 1 ternary left, one-hot


def test_row_id_attribute_dropped(server):
    data = load_dataset("openml:1119")
    assert "ID" not in data.X_raw.columns and "ID" in data.metadata["dropped_columns"]
    assert data.n_rows == 10 and data.target_name == "class"


def test_parquet_file_preferred(server):
    data = load_dataset("openml:1590")
    assert server.requests[-1].endswith("dataset_1590.pq")
    assert (data.n_rows, data.n_features, data.task) == (10, 14, "classification")


def test_target_override(server):
    data = load_dataset("openml:61:petalwidth")
    assert data.task == "regression" and "class" in data.X_raw.columns


def test_openml_errors(server):
    with pytest.raises(DataError, match="HTTP 412.*Unknown dataset"):
        load_dataset("openml:999999")
    with pytest.raises(DataError, match="HTTP 412.*Unknown task"):
        load_dataset("openml:task/999999")
    with pytest.raises(DataError, match="sparse ARFF"):
        load_dataset("openml:292")
    assert not (openml_cache_dir() / "data-999999.json").exists()


def test_offline_raises_offline_error(offline):
    with pytest.raises(OfflineError, match="needs the network the first time"):
        load_dataset("openml:61")
    with pytest.raises(OfflineError, match="cached in"):
        load_dataset("openml:task/3")


def test_offline_switch_uses_the_cache_only(server, monkeypatch):
    monkeypatch.setenv("CONTEXTURES_OFFLINE", "1")
    with pytest.raises(OfflineError, match="CONTEXTURES_OFFLINE"):
        load_dataset("openml:61")
    assert server.requests == []
    monkeypatch.delenv("CONTEXTURES_OFFLINE")
    load_dataset("openml:61")
    monkeypatch.setenv("CONTEXTURES_OFFLINE", "1")
    assert load_dataset("openml:61").n_rows == 150


def test_cli_offline_is_one_line(offline, capsys):
    code = main(["datasets", "show", "openml:61"])
    err = capsys.readouterr().err
    assert code == OfflineError.exit_code == 4
    assert err.count("\n") == 1 and err.startswith("contextures: error: OpenML dataset 61")
    assert "Traceback" not in err


def test_paper28_suite(server, capsys):
    members = suite("paper28")
    assert len(members) == 28 and len({m.name for m in members}) == 28
    ids = {m.name: int(m.spec.split("/")[1]) for m in members}
    assert ids["abalone"] == 361234 and ids["kr-vs-kp"] == 3 and ids["cps88wages"] == 361261
    load_dataset("openml:task/3")  # cached now: its row count shows, the others do not
    code = main(["datasets", "list", "--suite", "paper28"])
    out = capsys.readouterr().out
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("kr-vs-kp"))
    assert "3196" in line and "classification" in line
    assert out.count("not downloaded") == 27
    assert server.requests[-1].endswith("kr-vs-kp.arff")  # listing made no request


def test_task_source_regression_hint():
    task = {"task_type": "Supervised Regression",
            "input": [{"name": "source_data",
                       "data_set": {"data_set_id": "42", "target_feature": "y"}}]}
    assert task_source(task, 1) == (42, "y", "regression")
    with pytest.raises(DataError, match="no source dataset"):
        task_source({"input": []}, 1)


def test_arff_reader():
    text = """% comment
@RELATION t
@ATTRIBUTE 'a b' NUMERIC
@attribute "c" {x,y}
@attribute d string
@data
1.5,x,'hello, world'
?,?,plain
"""
    frame = read_arff(text)
    assert list(frame.columns) == ["a b", "c", "d"]
    assert frame["a b"].tolist()[0] == 1.5 and np.isnan(frame["a b"].tolist()[1])
    assert frame["c"].tolist() == ["x", None] and frame["d"].tolist() == ["hello, world", "plain"]
    with pytest.raises(DataError, match="sparse"):
        read_arff("@relation s\n@attribute a numeric\n@data\n{0 1}\n")
    with pytest.raises(DataError, match="has 1 values, expected 2"):
        read_arff("@relation s\n@attribute a numeric\n@attribute b numeric\n@data\n1\n")
    with pytest.raises(DataError, match="no @attribute"):
        read_arff("@relation s\n")
