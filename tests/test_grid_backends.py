"""The same grid on the serial, joblib and a real dask.distributed backend: identical results."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import numpy as np
import pytest

from contextures.exceptions import ContexturesError, GridBackendError
from contextures.runner import Cell, load_results, run_grid


def spectral_cell(random_state: int, n: int, gamma: float) -> dict:
    """A seeded computation with BLAS and LAPACK in it: an RBF Gram matrix and its spectrum."""
    rng = np.random.default_rng(random_state)
    x = rng.standard_normal((n, 4))
    sq = np.sum(x**2, axis=1)
    gram = np.exp(-gamma * (sq[:, None] + sq[None, :] - 2.0 * x @ x.T))
    eigenvalues = np.linalg.eigvalsh(gram)[::-1][:5]
    return {"top": eigenvalues, "trace": float(np.trace(gram)), "draw": rng.random(),
            "pid": os.getpid()}


def threads_cell(random_state: int) -> dict:
    """Reports the thread pools a cell sees; imports torch itself, as a neural cell would."""
    import torch
    from threadpoolctl import threadpool_info

    return {"blas": [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"],
            "torch": torch.get_num_threads(), "omp_env": os.environ.get("OMP_NUM_THREADS"),
            "pid": os.getpid()}


def make_cells() -> list[Cell]:
    return [Cell(f"s{seed}-n{n}", spectral_cell, {"random_state": seed, "n": n, "gamma": 0.3})
            for seed in range(4) for n in (30, 70)]


CONFIG = {"bench": "toy-spectra", "seeds": 4}


def results(records) -> dict:
    return {r["key"]: {k: v for k, v in r["result"].items() if k != "pid"} for r in records}


@pytest.fixture(scope="module")
def serial_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    records, summary = run_grid(make_cells(), out, grid_config=CONFIG, backend="serial",
                                progress=False)
    assert summary.done == 8 and summary.failed == 0
    return records


def test_joblib_matches_serial_bit_for_bit(tmp_path, serial_records):
    records, summary = run_grid(make_cells(), tmp_path, grid_config=CONFIG, backend="joblib",
                                workers=2, progress=False)
    assert summary.done == 8 and summary.failed == 0
    assert results(records) == results(serial_records)
    assert [r["key"] for r in records] == [c.key for c in make_cells()]
    assert {r["result"]["pid"] for r in records} != {os.getpid()}  # ran in worker processes
    assert results(load_results(tmp_path)) == results(serial_records)


def test_joblib_workers_get_one_blas_and_torch_thread_each_on_two_cores(tmp_path):
    pytest.importorskip("torch")
    cells = [Cell(f"t{i}", threads_cell, {"random_state": i}) for i in range(4)]
    records, _ = run_grid(cells, tmp_path, grid_config={}, backend="joblib", workers=2,
                          threads_per_worker=1, progress=False)
    for record in records:
        assert record["status"] == "ok", record["error"]
        assert record["result"]["blas"] and all(n == 1 for n in record["result"]["blas"])
        assert record["result"]["torch"] == 1
        assert record["result"]["omp_env"] == "1"
        assert record["threads"] == 1


def test_a_real_local_dask_cluster_matches_serial_bit_for_bit(tmp_path, serial_records):
    pytest.importorskip("distributed")
    start = time.perf_counter()
    records, summary = run_grid(make_cells(), tmp_path, grid_config=CONFIG, backend="dask",
                                workers=2, progress=False)
    elapsed = time.perf_counter() - start
    assert summary.done == 8 and summary.failed == 0, [r["error"] for r in records]
    assert results(records) == results(serial_records)
    pids = {r["result"]["pid"] for r in records}
    assert os.getpid() not in pids and len(pids) <= 2  # two worker processes, not this one
    assert elapsed < 60

    # rerun on dask: nothing recomputed, no cluster needed
    again, summary = run_grid(make_cells(), tmp_path, grid_config=CONFIG, backend="dask",
                              workers=2, progress=False)
    assert (summary.done, summary.skipped) == (0, 8) and again == records


def test_an_unreachable_scheduler_fails_quickly_with_a_clear_message(tmp_path):
    pytest.importorskip("distributed")
    start = time.perf_counter()
    with pytest.raises(GridBackendError, match=r"cannot reach the dask scheduler at "
                                               r"'tcp://127\.0\.0\.1:9'") as info:
        run_grid(make_cells()[:2], tmp_path, grid_config=CONFIG, backend="dask",
                 scheduler="tcp://127.0.0.1:9", connect_timeout=2, progress=False)
    assert time.perf_counter() - start < 15
    assert isinstance(info.value, ContexturesError)
    assert load_results(tmp_path) == []  # grid.json written, no cell lost or invented


def test_a_service_that_is_not_a_dask_scheduler_is_a_clear_error(tmp_path):
    pytest.importorskip("distributed")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_like_a_web_server():   # every connection, as a web server would
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()

    thread = threading.Thread(target=answer_like_a_web_server, daemon=True)
    thread.start()
    try:
        with pytest.raises(GridBackendError, match=f"127.0.0.1:{port}.* did not answer as a dask"):
            run_grid(make_cells()[:1], tmp_path, grid_config={}, backend="dask",
                     scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=3, progress=False)
    finally:
        server.close()
        thread.join(timeout=5)


def crashing_cell(random_state: int) -> dict:
    """Kills its own worker process on seed 1 (as a segfault or the OOM killer would)."""
    time.sleep(0.1)
    if random_state == 1:
        os._exit(3)
    return {"value": random_state}


def test_a_dead_joblib_worker_is_a_clear_error_and_finished_cells_are_kept(tmp_path):
    cells = [Cell(f"c{i}", crashing_cell, {"random_state": i}) for i in (0, 2, 1)]
    with pytest.raises(GridBackendError, match="worker process died"):
        run_grid(cells, tmp_path, grid_config={}, backend="joblib", workers=2,
                 threads_per_worker=1, progress=False)
    for record in load_results(tmp_path):  # whatever finished is complete and valid
        assert record["status"] == "ok"


def test_a_cell_that_kills_its_dask_worker_is_recorded_as_failed(tmp_path):
    """Also the path of a scheduler given by address (a cluster the runner did not start)."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    cells = [Cell(f"c{i}", crashing_cell, {"random_state": i}) for i in range(3)]
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster:
        records, summary = run_grid(cells, tmp_path, grid_config={}, backend="dask",
                                    scheduler=cluster.scheduler_address, progress=False)
        assert len(cluster.workers) == 2  # the runner left the cluster it did not start alone
    assert (summary.done, summary.failed) == (2, 1)
    assert records[1]["status"] == "failed" and "died" in records[1]["error"]
    assert [r["result"] for r in records if r["status"] == "ok"] == [{"value": 0}, {"value": 2}]
