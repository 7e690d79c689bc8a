"""The grid runner in one process: records, resume, conflicts, failures, corrupted files, caps."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from contextures.exceptions import (
    ModelFileError,
    ParameterError,
    ResultsConflictError,
)
from contextures.runner import (
    Cell,
    CorruptCellWarning,
    clear_worker_cache,
    load_grid_config,
    load_results,
    run_grid,
    worker_cache,
)
from contextures.runner.worker_cache import worker_cache_size

CALLS_ENV = "CONTEXTURES_TEST_GRID_CALLS"


# --- toy cells (module-level, so that they are importable by name) ------------------------------
def seeded_cell(random_state: int, n: int = 40) -> dict:
    """A seeded numpy computation: the spectrum of a random Gram matrix and a mean."""
    path = os.environ.get(CALLS_ENV)
    if path:
        with open(path, "a") as fh:
            fh.write(f"{random_state}\n")
    rng = np.random.default_rng(random_state)
    x = rng.standard_normal((n, 5))
    return {"eigenvalues": np.linalg.eigvalsh(x.T @ x), "mean": x.mean(), "n": np.int64(n)}


def failing_cell(random_state: int) -> dict:
    if random_state == 2:
        raise ValueError("cell two is broken on purpose")
    return {"value": random_state * 0.5}


def not_a_dict_cell(random_state: int):
    return [random_state]


def thread_cell(random_state: int) -> dict:
    import torch
    from threadpoolctl import threadpool_info

    blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return {"blas_threads": blas, "torch_threads": torch.get_num_threads()}


def grid(n=6, fn=seeded_cell):
    return [Cell(f"seed={i}", fn, {"random_state": i}) for i in range(n)]


CONFIG = {"suite": "toy", "seeds": [0, 1, 2, 3, 4, 5], "code": "test"}


def calls(path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


# --- cells --------------------------------------------------------------------------------------
def test_cell_identity_is_a_stable_hash_of_function_and_config():
    a = Cell("a", seeded_cell, {"random_state": 1, "n": 40})
    b = Cell("b", f"{__name__}:seeded_cell", {"n": 40, "random_state": np.int64(1)})
    c = Cell("c", seeded_cell, {"random_state": 2, "n": 40})
    assert a.fn_name == f"{__name__}:seeded_cell"
    assert a.cell_id == b.cell_id != c.cell_id
    assert len(a.cell_id) == 32 and int(a.cell_id, 16) >= 0
    assert b.config == {"n": 40, "random_state": 1} and type(b.config["random_state"]) is int
    assert Cell("t", seeded_cell, {"x": (1, 2)}).config == {"x": [1, 2]}


@pytest.mark.parametrize("fn, config, match", [
    (lambda random_state: {}, {}, "not importable"),
    ("no_colon_here", {}, "package.module:function"),
    (seeded_cell, {"x": object()}, "not JSON-able"),
    (seeded_cell, {"x": float("nan")}, "NaN"),
    (seeded_cell, {1: 2}, "not a string"),
    (seeded_cell, [1, 2], "must be a dict"),
])
def test_bad_cells_are_refused(fn, config, match):
    with pytest.raises(ParameterError, match=match):
        Cell("bad", fn, config)


def test_duplicate_cells_and_unknown_functions_are_refused(tmp_path):
    same = [Cell("a", seeded_cell, {"random_state": 1}), Cell("b", seeded_cell, {"random_state": 1})]
    with pytest.raises(ParameterError, match="same computation"):
        run_grid(same, tmp_path, grid_config={}, progress=False)
    keys = [Cell("a", seeded_cell, {"random_state": 1}), Cell("a", seeded_cell, {"random_state": 2})]
    with pytest.raises(ParameterError, match="key 'a'"):
        run_grid(keys, tmp_path, grid_config={}, progress=False)
    with pytest.raises(ParameterError, match="cannot import module"):
        run_grid([Cell("x", "no_such_module_xyz:f", {})], tmp_path, grid_config={},
                 progress=False)
    with pytest.raises(ParameterError, match="has no"):
        run_grid([Cell("x", f"{__name__}:nope", {})], tmp_path, grid_config={}, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "spark"}, "unknown backend"),
    ({"resume": "maybe"}, "resume must be"),
    ({"workers": 0}, "workers must be"),
    ({"backend": "joblib", "scheduler": "tcp://x:1"}, "only applies"),
    ({"backend": "joblib", "workers": 2, "threads_per_worker": 10**6}, "threads_per_worker must"),
])
def test_bad_runner_arguments_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        run_grid(grid(2), tmp_path, grid_config={}, progress=False, **kwargs)


# --- records and resume -------------------------------------------------------------------------
def test_records_are_complete_json_files_and_a_rerun_skips_them(tmp_path, monkeypatch):
    expected = seeded_cell(3)  # computed directly, before calls are counted
    counter = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(counter))
    out = tmp_path / "out"
    records, summary = run_grid(grid(), out, grid_config=CONFIG, backend="serial",
                                progress=False)
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (6, 6, 0, 0)
    assert [r["key"] for r in records] == [f"seed={i}" for i in range(6)]
    assert sorted(calls(counter)) == list(range(6))

    files = sorted((out / "cells").iterdir())
    assert [f.name for f in files] == sorted(f"{c.cell_id}.json" for c in grid())
    on_disk = json.loads(files[0].read_text())
    assert on_disk["status"] == "ok" and on_disk["error"] is None
    assert set(on_disk) >= {"config", "key", "result", "elapsed_seconds", "started_at",
                            "finished_at", "status", "fn", "cell_id"}
    assert load_grid_config(out) == CONFIG

    # the stored floats are the computed ones, bit for bit
    assert records[3]["result"]["eigenvalues"] == expected["eigenvalues"].tolist()
    assert records[3]["result"]["mean"] == float(expected["mean"])

    # same configuration: resume, nothing recomputed, identical records
    again, summary2 = run_grid(grid(), out, grid_config=dict(CONFIG), backend="serial",
                               progress=False)
    assert (summary2.done, summary2.skipped) == (0, 6)
    assert again == records
    assert len(calls(counter)) == 6

    # a grown grid computes only the new cells
    _, summary3 = run_grid(grid(8), out, grid_config=CONFIG, backend="serial", progress=False)
    assert (summary3.done, summary3.skipped) == (2, 6)
    assert sorted(calls(counter)) == list(range(8))
    assert [r["key"] for r in load_results(out)] == [f"seed={i}" for i in range(8)]


def test_a_different_configuration_is_refused_naming_the_keys(tmp_path, monkeypatch):
    counter = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(counter))
    run_grid(grid(3), tmp_path, grid_config=CONFIG, backend="serial", progress=False)
    other = {**CONFIG, "seeds": [0, 1], "extra": 1}
    with pytest.raises(ResultsConflictError, match=r"differing keys: extra, seeds"):
        run_grid(grid(3), tmp_path, grid_config=other, backend="serial", progress=False)
    assert load_grid_config(tmp_path) == CONFIG  # nothing touched

    # force: new configuration recorded, matching cells reused
    _, summary = run_grid(grid(3), tmp_path, grid_config=other, backend="serial",
                          progress=False, resume="force")
    assert (summary.done, summary.skipped) == (0, 3)
    assert load_grid_config(tmp_path) == other

    # overwrite: everything recomputed
    _, summary = run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial",
                          progress=False, resume="overwrite")
    assert (summary.done, summary.skipped) == (2, 0)
    assert len(load_results(tmp_path)) == 2
    assert len(calls(counter)) == 5


def test_cell_records_without_grid_file_are_a_conflict(tmp_path):
    run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial", progress=False)
    (tmp_path / "grid.json").unlink()
    with pytest.raises(ResultsConflictError, match="no grid.json"):
        run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial", progress=False)


def test_a_failing_cell_is_recorded_and_the_rest_continue(tmp_path):
    cells = grid(4, failing_cell) + [Cell("not-a-dict", not_a_dict_cell, {"random_state": 9})]
    records, summary = run_grid(cells, tmp_path, grid_config={}, backend="serial",
                                progress=False)
    assert (summary.done, summary.failed) == (3, 2)
    statuses = {r["key"]: r["status"] for r in records}
    assert statuses == {"seed=0": "ok", "seed=1": "ok", "seed=2": "failed", "seed=3": "ok",
                        "not-a-dict": "failed"}
    broken = records[2]
    assert broken["result"] is None
    assert broken["error"] == "ValueError: cell two is broken on purpose"
    assert "failing_cell" in broken["traceback"]
    assert "must return a dict" in records[4]["error"]
    assert records[3]["result"] == {"value": 1.5}

    # failures are kept on rerun unless asked to retry
    _, summary = run_grid(cells, tmp_path, grid_config={}, backend="serial", progress=False)
    assert (summary.skipped, summary.skipped_failed, summary.done) == (5, 2, 0)
    _, summary = run_grid(cells, tmp_path, grid_config={}, backend="serial", progress=False,
                          retry_failed=True)
    assert (summary.skipped, summary.failed) == (3, 2)


# --- damaged directories ------------------------------------------------------------------------
def test_stray_temp_files_are_ignored_and_removed(tmp_path):
    run_grid(grid(3), tmp_path, grid_config=CONFIG, backend="serial", progress=False)
    stray = tmp_path / "cells" / ".tmp-abc123.part"
    stray.write_text('{"format": "contextures-grid-cell", "cell_')  # a half-written record
    assert len(load_results(tmp_path)) == 3  # never read
    _, summary = run_grid(grid(3), tmp_path, grid_config=CONFIG, backend="serial",
                          progress=False)
    assert summary.skipped == 3 and not stray.exists()


def test_corrupted_records_are_refused_or_skipped_and_recomputed(tmp_path):
    records, _ = run_grid(grid(3), tmp_path, grid_config=CONFIG, backend="serial",
                          progress=False)
    victim = tmp_path / "cells" / f"{records[1]['cell_id']}.json"
    text = victim.read_text()
    victim.write_text(text[: len(text) // 2])  # truncated

    with pytest.raises(ModelFileError, match=f"{victim.name}.*not valid JSON"):
        load_results(tmp_path)
    with pytest.warns(CorruptCellWarning, match="skipping"):
        assert [r["key"] for r in load_results(tmp_path, on_corrupt="skip")] == ["seed=0",
                                                                                "seed=2"]
    with pytest.warns(CorruptCellWarning, match="recomputing"):
        again, summary = run_grid(grid(3), tmp_path, grid_config=CONFIG, backend="serial",
                                  progress=False)
    assert (summary.done, summary.skipped) == (1, 2)
    assert again[1]["result"] == records[1]["result"]
    assert (tmp_path / "cells" / f"{victim.name}.corrupt").exists()
    assert len(load_results(tmp_path)) == 3


@pytest.mark.parametrize("mutate, match", [
    (lambda r: r.update(format="pickle"), "format"),
    (lambda r: r.update(format_version=99), "newer contextures"),
    (lambda r: r.update(status="done"), "status"),
    (lambda r: r.update(result=None), "without a result"),
    (lambda r: r.update(cell_id="0" * 32), "does not match the file name"),
])
def test_inconsistent_records_are_refused(tmp_path, mutate, match):
    records, _ = run_grid(grid(1), tmp_path, grid_config=CONFIG, backend="serial",
                          progress=False)
    path = tmp_path / "cells" / f"{records[0]['cell_id']}.json"
    record = json.loads(path.read_text())
    mutate(record)
    path.write_text(json.dumps(record))
    with pytest.raises(ModelFileError, match=match):
        load_results(tmp_path)


def test_a_directory_without_grid_file_is_not_a_grid(tmp_path):
    with pytest.raises(ModelFileError, match="grid.json is missing"):
        load_results(tmp_path)


# --- threads and the worker cache ---------------------------------------------------------------
def test_serial_cells_get_capped_threads_and_the_caller_keeps_its_own(tmp_path):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    records, _ = run_grid([Cell("t", thread_cell, {"random_state": 0})], tmp_path,
                          grid_config={}, backend="serial", threads_per_worker=1,
                          progress=False)
    result = records[0]["result"]
    assert result["torch_threads"] == 1
    assert all(n == 1 for n in result["blas_threads"])
    assert torch.get_num_threads() == before


def test_worker_cache_computes_once_per_key_and_freezes_arrays():
    clear_worker_cache()
    made = []

    def factory(seed):
        made.append(seed)
        return {"x": np.random.default_rng(seed).standard_normal(3), "tag": [np.arange(2)]}

    first = worker_cache(("demo", 1), lambda: factory(1))
    second = worker_cache(("demo", 1), lambda: factory(1))
    other = worker_cache(("demo", 2), lambda: factory(2))
    assert first is second and other is not first
    assert made == [1, 2] and worker_cache_size() == 2
    with pytest.raises(ValueError, match="read-only"):
        first["x"][0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        first["tag"][0][0] = 5
    clear_worker_cache()
    assert worker_cache_size() == 0


def test_a_second_run_into_a_busy_directory_is_refused(tmp_path):
    from contextures._io import directory_lock

    with directory_lock(tmp_path), pytest.raises(ResultsConflictError, match="another run"):
        run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial", progress=False)
    _, summary = run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial",
                          progress=False)
    assert summary.done == 2


def _rekeyed(record):
    """Another cell's key, with a checksum recomputed to match (a careful hand edit)."""
    from contextures.runner.cells import record_checksum

    record["key"] = "another cell"
    record["checksum"] = record_checksum(record)


@pytest.mark.parametrize("mutate, reason", [
    (_rekeyed, "not of"),
    (lambda r: r.update(key="another cell"), "checksum"),
    (lambda r: r["result"].update(value=-5), "checksum"),
    (lambda r: r.update(config_sha256="0" * 64), "config_sha256"),
    (lambda r: r.pop("checksum"), "checksum"),
])
def test_records_whose_key_hash_or_content_do_not_match_are_recomputed(tmp_path, mutate, reason):
    """A valid JSON record is reused only when its key, configuration hash and checksum match;
    otherwise it is moved aside as *.corrupt and the cell computed again."""
    records, _ = run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial",
                          progress=False)
    victim = records[0]
    path = tmp_path / "cells" / f"{victim['cell_id']}.json"
    record = json.loads(path.read_text())
    mutate(record)
    path.write_text(json.dumps(record))
    with pytest.warns(CorruptCellWarning, match=reason):
        again, summary = run_grid(grid(2), tmp_path, grid_config=CONFIG, backend="serial",
                                  progress=False)
    assert (summary.done, summary.skipped) == (1, 1)
    assert again[0]["result"] == victim["result"] and again[0]["key"] == victim["key"]
    assert (tmp_path / "cells" / f"{victim['cell_id']}.json.corrupt").exists()
