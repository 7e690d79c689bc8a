"""openml: specs through recorded responses (tests/data/openml), on both download clients.

Most tests run twice: with the ``openml`` package (its XML API, its cache, its md5 check) and with
the built-in client (JSON API, ``$CONTEXTURES_CACHE/openml``). ``urllib.request.urlopen`` (the
built-in client), ``requests.Session.get`` and the package's MinIO download (the openml package)
are replaced by one server answering from the recordings; an unrecorded URL fails the test, so the
network is never used.
"""

import gzip
import io
import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from contextures.cli.app import main
from contextures.datasets import load_dataset, openml_api, prepare, suite
from contextures.datasets.openml_api import (
    active_client,
    cache_location,
    is_cached,
    openml_cache_dir,
    task_source,
)
from contextures.exceptions import DataError, OfflineError

try:  # the openml extra (requests comes with it)
    import openml
    import requests
except ImportError:  # only the built-in client can be tested
    openml = requests = None

needs_openml = pytest.mark.skipif(openml is None, reason="the openml package is not installed")
RECORDED = Path(__file__).parent / "data" / "openml"
INDEX = json.loads((RECORDED / "index.json").read_text())
JSON_API = "https://www.openml.org/api/v1/json"
XML_API = "https://www.openml.org/api/v1/xml"
DOWNLOAD = "https://www.openml.org/data/v1/download"
QUOTING_URL = f"{DOWNLOAD}/990001/quoting-demo.arff"
CLIENTS = [pytest.param("openml", marks=needs_openml), "builtin"]


class RecordedServer:
    """Answers recorded URLs for urlopen, requests and MinIO; fails on anything else.

    ``index`` maps a URL to ``{"file": name, "status": code}`` or ``{"body": bytes}``; a test may
    change it to serve another answer.
    """

    def __init__(self):
        self.requests = []
        self.index = dict(INDEX)

    def answer(self, url: str) -> tuple[int, bytes]:
        self.requests.append(url)
        if url not in self.index:
            raise AssertionError(f"test asked for an unrecorded URL: {url}")
        entry = self.index[url]
        if "body" in entry:
            return entry.get("status", 200), entry["body"]
        body = (RECORDED / entry["file"]).read_bytes()
        if entry["file"].endswith(".gz"):
            body = gzip.decompress(body)
        return entry.get("status", 200), body

    def urlopen(self, request, timeout=None):
        url = getattr(request, "full_url", request)
        status, body = self.answer(url)
        if status != 200:
            raise urllib.error.HTTPError(url, status, "Precondition Failed", None,
                                         io.BytesIO(body))
        return io.BytesIO(body)

    def session_get(self, url, params=None, headers=None, **kwargs):
        status, body = self.answer(url)
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers["Content-Encoding"] = "gzip"  # what OpenML sends
        response.encoding = "utf-8"
        response.url = url
        return response

    def minio(self, source, destination, exists_ok=True, proxy="auto"):
        _, body = self.answer(source)
        Path(destination).write_bytes(body)


def no_network_urlopen(request, timeout=None):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def no_network_get(session, url, *args, **kwargs):
    raise requests.exceptions.ConnectionError("Temporary failure in name resolution")


@pytest.fixture(params=CLIENTS)
def client(request, monkeypatch, tmp_path):
    """Which client loads OpenML items in this test; each cache lives under tmp_path."""
    monkeypatch.setenv("CONTEXTURES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CONTEXTURES_OFFLINE", raising=False)
    monkeypatch.setenv(openml_api.CLIENT_ENV, request.param)
    if request.param == "openml":
        monkeypatch.setattr(openml.config, "_root_cache_directory", tmp_path / "openml-cache")
        monkeypatch.setattr(openml.config, "server", XML_API)
        monkeypatch.setattr(openml.config, "apikey", "")
        monkeypatch.setattr(openml.config, "connection_n_retries", 1)  # no sleeping retries
        monkeypatch.delenv("OPENML_SKIP_PARQUET", raising=False)
    return request.param


@pytest.fixture
def server(client, monkeypatch):
    fake = RecordedServer()
    monkeypatch.setattr(urllib.request, "urlopen", fake.urlopen)
    if client == "openml":
        monkeypatch.setattr(requests.Session, "get", fake.session_get)
        monkeypatch.setattr(openml._api_calls, "_download_minio_file", fake.minio)
    return fake


@pytest.fixture
def offline(client, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network_urlopen)
    if client == "openml":
        monkeypatch.setattr(requests.Session, "get", no_network_get)


def cache_files(client) -> list[Path]:
    root = cache_location()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_dataset_from_arff_then_from_cache(server, client, monkeypatch):
    assert active_client() == client
    data = load_dataset("openml:61")
    assert (data.n_rows, data.n_features, data.task) == (150, 4, "classification")
    assert data.name == "iris" and data.target_name == "class"
    assert data.metadata["target_summary"]["class_counts"] == {
        "Iris-setosa": 50, "Iris-versicolor": 50, "Iris-virginica": 50}
    assert data.metadata["license"] == "Public"
    assert data.metadata["source"].startswith("OpenML dataset 61 (iris")
    assert data.X_raw["sepallength"].dtype == np.float64
    api = XML_API if client == "openml" else JSON_API
    assert server.requests == [f"{api}/data/61", f"{DOWNLOAD}/61/iris.arff"]
    assert is_cached(61)
    if client == "builtin":
        assert cache_location() == openml_cache_dir()
        assert (openml_cache_dir() / "dataset-61.arff").is_file()
    else:
        assert (cache_location() / "datasets" / "61" / "dataset.arff").is_file()
    monkeypatch.setattr(urllib.request, "urlopen", no_network_urlopen)  # cached: no network
    if client == "openml":
        monkeypatch.setattr(requests.Session, "get", no_network_get)
    again = load_dataset("openml:61")
    assert again.X_raw.equals(data.X_raw) and len(server.requests) == 2


def test_task_gives_dataset_target_and_task_type(server):
    data = load_dataset("openml:task/3")
    assert (data.n_rows, data.n_features) == (3196, 36)
    assert data.task == "classification" and data.metadata["task_origin"] == "source"
    assert data.metadata["openml_task_id"] == 3 and data.metadata["openml_dataset_id"] == 3
    assert data.metadata["target_summary"]["class_counts"] == {"nowin": 1527, "won": 1669}
    assert server.requests[0].endswith("/task/3")
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


def test_target_override(server):
    data = load_dataset("openml:61:petalwidth")
    assert data.task == "regression" and "class" in data.X_raw.columns


def test_every_quoting_form_and_attribute_type(server):
    data = load_dataset("openml:990001")
    X = data.X_raw
    assert X["name"].tolist() == ["a,b", "c, d", "it's", 'say "hi"', "plain",
                                  "%, not a comment"]
    assert X["kind of thing"].tolist() == ["plain one", "double, quoted", "other",
                                           "double, quoted", "plain one", "other"]
    assert list(X["kind of thing"].cat.categories) == ["plain one", "double, quoted", "other"]
    np.testing.assert_array_equal(X["count"], [1, 2, np.nan, 4, 5, 6])
    np.testing.assert_array_equal(X["weight"], [0.5, np.nan, 1.25, 2, -300, 7])
    assert X["seen"].tolist() == ["2020-01-02", None, "2021-03-04", "2022-05-06", "2023-07-08",
                                  None]
    assert data.metadata["target_summary"]["class_counts"] == {"no": 3, "yes": 3}


def test_sparse_arff_dataset_loads_expanded(server):
    data = load_dataset("openml:292")  # Australian, stored as sparse ARFF
    assert (data.n_rows, data.n_features, data.task) == (85, 14, "classification")
    first = data.X_raw.iloc[0]
    assert first["X1"] == 1 and first["X2"] == pytest.approx(-0.7494737)
    assert first["X4"] == 0  # omitted in the sparse row
    assert sorted(data.metadata["target_summary"]["class_counts"]) == ["-1", "1"]


def test_relational_attribute_is_refused(server):
    with pytest.raises(DataError, match=r"line 4: attribute 'bag' is relational"):
        load_dataset("openml:990003")


def test_malformed_file_names_its_line_in_one_cli_line(server, capsys):
    code = main(["datasets", "show", "openml:990004"])
    err = capsys.readouterr().err
    assert code == DataError.exit_code == 3
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "OpenML dataset 990004" in err
    assert "line 9: expected one value for each of the 3 attributes (the line reads '5,x')" in err


def test_corrupted_download_is_refused_and_not_cached(server, client, capsys):
    good = server.index[QUOTING_URL]
    server.index[QUOTING_URL] = {"file": "quoting-demo.corrupted.arff"}
    with pytest.raises(DataError, match="md5 checksum|checksum OpenML publishes") as info:
        load_dataset("openml:990001")
    assert not isinstance(info.value, OfflineError)
    assert not is_cached(990001)
    leftovers = [p.name for p in cache_files(client)]
    assert not any(n.endswith((".arff", ".part")) for n in leftovers), leftovers
    assert main(["datasets", "show", "openml:990001"]) == 3  # refused again, one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checksum" in err
    server.index[QUOTING_URL] = good  # the next attempt downloads afresh and succeeds
    assert load_dataset("openml:990001").n_rows == 6
    assert is_cached(990001)


@pytest.mark.parametrize("client", ["builtin"], indirect=True)
def test_builtin_client_checks_cached_files_again(server):
    load_dataset("openml:990001")
    cached = openml_cache_dir() / "dataset-990001.arff"
    cached.write_text(cached.read_text().replace("-3e2", "-3e3"))  # damaged on disk
    assert load_dataset("openml:990001").X_raw["weight"].tolist()[4] == -300
    assert server.requests.count(QUOTING_URL) == 2


@pytest.mark.parametrize("client", ["builtin"], indirect=True)
def test_builtin_client_uses_the_checksummed_arff_not_parquet(server):
    data = load_dataset("openml:1590")
    assert server.requests == [f"{JSON_API}/data/1590", f"{DOWNLOAD}/1595261/adult.arff"]
    assert (data.n_rows, data.n_features, data.task) == (10, 14, "classification")


@pytest.mark.parametrize("client", ["builtin"], indirect=True)
def test_builtin_client_refuses_a_file_without_checksum(server):
    desc = json.loads((RECORDED / "data-990001.json").read_text())
    del desc["data_set_description"]["md5_checksum"]
    server.index[f"{JSON_API}/data/990001"] = {"body": json.dumps(desc).encode()}
    with pytest.raises(DataError, match="publishes no md5 checksum"):
        load_dataset("openml:990001")
    assert QUOTING_URL not in server.requests


@needs_openml
@pytest.mark.parametrize("client", ["openml"], indirect=True)
def test_openml_package_takes_parquet_when_offered(server, monkeypatch):
    data = load_dataset("openml:1590")
    assert server.requests[-1].endswith("dataset_1590.pq")
    assert (data.n_rows, data.n_features, data.task) == (10, 14, "classification")
    assert is_cached(1590)
    shutil.rmtree(cache_location())
    monkeypatch.setenv("OPENML_SKIP_PARQUET", "true")  # the checksummed ARFF file instead
    again = load_dataset("openml:1590")
    assert server.requests[-1].endswith("adult.arff")
    assert again.X_raw.shape == data.X_raw.shape


def test_openml_errors(server, client):
    with pytest.raises(DataError, match="Unknown dataset"):
        load_dataset("openml:999999")
    with pytest.raises(DataError, match="Unknown task"):
        load_dataset("openml:task/999999")
    if client == "builtin":
        with pytest.raises(DataError, match="HTTP 412.*Unknown dataset"):
            load_dataset("openml:999999")
        assert not (openml_cache_dir() / "data-999999.json").exists()
    else:
        assert not (cache_location() / "datasets" / "999999").exists()
        assert not (cache_location() / "tasks" / "999999").exists()


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
    n_requests = len(server.requests)
    code = main(["datasets", "list", "--suite", "paper28"])
    out = capsys.readouterr().out
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("kr-vs-kp"))
    assert "3196" in line and "classification" in line
    assert out.count("not downloaded") == 27
    assert len(server.requests) == n_requests  # listing made no request


def test_task_source_regression_hint():
    task = {"task_type": "Supervised Regression",
            "input": [{"name": "source_data",
                       "data_set": {"data_set_id": "42", "target_feature": "y"}}]}
    assert task_source(task, 1) == (42, "y", "regression")
    with pytest.raises(DataError, match="no source dataset"):
        task_source({"input": []}, 1)


def test_client_choice(monkeypatch):
    monkeypatch.delenv(openml_api.CLIENT_ENV, raising=False)
    assert active_client() == ("builtin" if openml is None else "openml")  # the package if any
    monkeypatch.setitem(sys.modules, "openml", None)  # as if the extra were not installed
    assert active_client() == "builtin"
    monkeypatch.setenv(openml_api.CLIENT_ENV, "openml")
    with pytest.raises(DataError, match="openml package is not installed"):
        active_client()
    monkeypatch.setenv(openml_api.CLIENT_ENV, "both")
    with pytest.raises(DataError, match="expected auto, openml or builtin"):
        load_dataset("openml:61")


@needs_openml
@pytest.mark.parametrize("client", ["openml"], indirect=True)
def test_openml_package_answer_it_cannot_use(server):
    task = (RECORDED / "task-3.xml").read_text().replace(
        "<oml:task_type_id>1</", "<oml:task_type_id>99</")
    server.index[f"{XML_API}/task/3"] = {"body": task.encode()}
    with pytest.raises(DataError, match="OpenML task 3: the openml package cannot use"):
        load_dataset("openml:task/3")
