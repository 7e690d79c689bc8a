"""Interruption: kill a grid mid-run (SIGKILL, Ctrl-C), rerun it, get exactly the full grid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from contextures.runner import Cell, load_results, run_grid

LOG_ENV = "CONTEXTURES_TEST_GRID_LOG"
N_CELLS = 16
SLEEP = 0.3
TESTS_DIR = str(Path(__file__).resolve().parent)
CONFIG = {"bench": "sleepy", "cells": N_CELLS}


def sleepy_cell(index: int, random_state: int) -> dict:
    """Logs that it started (when asked), sleeps a little, returns a seeded draw."""
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as fh:
            fh.write(f"{index}\n")
    time.sleep(SLEEP)
    rng = np.random.default_rng(random_state)
    return {"draw": rng.standard_normal(3), "index": index}


def build_cells() -> list[Cell]:
    return [Cell(f"cell-{i:02d}", sleepy_cell, {"index": i, "random_state": 1000 + i})
            for i in range(N_CELLS)]


def start_grid(out: Path, log: Path, backend: str, workers: int) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {TESTS_DIR!r})
        from test_grid_resume import CONFIG, build_cells
        from contextures.runner import run_grid
        if __name__ == "__main__":
            run_grid(build_cells(), {str(out)!r}, grid_config=CONFIG, backend={backend!r},
                     workers={workers}, progress=False)
    """)
    env = {**os.environ, LOG_ENV: str(log)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_files(out: Path, count: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((out / "cells").glob("*.json"))) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"the grid process ended early: {proc.communicate()[1][-2000:]}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no {count} cell files within {timeout} s")


def logged(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "cells").glob("*.json")}


def comparable(records) -> list[tuple]:
    return [(r["cell_id"], r["key"], r["status"], r["result"]) for r in records]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[tuple]:
    """The grid run once, uninterrupted (in this process, serially)."""
    out = tmp_path_factory.mktemp("reference")
    records, summary = run_grid(build_cells(), out, grid_config=CONFIG, backend="serial",
                                progress=False)
    assert summary.done == N_CELLS
    return comparable(load_results(out))


def test_sigkill_mid_run_then_rerun_gives_exactly_the_uninterrupted_grid(tmp_path, reference):
    out = tmp_path / "out"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    proc = start_grid(out, first_log, "joblib", 2)
    wait_for_files(out, 4, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker processes, no cleanup
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # only complete, valid records survive (a kill can leave a temporary file, never a bad record)
    survivors = load_results(out)  # raises on any corrupted record
    finished = {r["config"]["index"] for r in survivors}
    assert 4 <= len(finished) < N_CELLS, "the kill came too late to test anything"
    before = snapshot(out)

    proc = start_grid(out, second_log, "joblib", 2)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]

    # exactly the cells of an uninterrupted run: none missing, none duplicated
    assert comparable(load_results(out)) == reference
    names = [p.name for p in (out / "cells").iterdir()]
    assert sorted(names) == sorted(f"{c.cell_id}.json" for c in build_cells())
    assert not [n for n in names if n.startswith(".tmp-")]
    # finished cells were neither recomputed nor rewritten; each missing cell ran once
    recomputed = logged(second_log)
    assert sorted(recomputed) == sorted(set(range(N_CELLS)) - finished)
    after = snapshot(out)
    assert all(after[name] == content for name, content in before.items())


def test_ctrl_c_stops_cleanly_and_the_rerun_completes(tmp_path, reference):
    out = tmp_path / "out"
    log = tmp_path / "run.log"
    proc = start_grid(out, log, "serial", 1)
    wait_for_files(out, 3, proc)
    proc.send_signal(signal.SIGINT)  # as Ctrl-C
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    kept = load_results(out)
    assert 3 <= len(kept) < N_CELLS
    assert not list((out / "cells").glob(".tmp-*"))  # the interrupted write cleaned up

    records, summary = run_grid(build_cells(), out, grid_config=CONFIG, backend="serial",
                                progress=False)
    assert summary.skipped == len(kept) and summary.done == N_CELLS - len(kept)
    assert comparable(load_results(out)) == reference
    assert comparable(records) == reference  # build_cells() is already in key order
