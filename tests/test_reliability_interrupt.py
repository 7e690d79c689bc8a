"""Interruption: a real CLI process killed with SIGKILL mid-run, then rerun.

The command is ``contextures run`` (the grid runner under every benchmark) on a small abalone
problem with ten candidate contexts, one cell file each. The process group is killed with SIGKILL
(no cleanup, no ``finally``) as soon as at least one cell file exists; the rerun must resume and
end with exactly the cells and results of an uninterrupted run: none missing, none duplicated,
none half-written, no temporary file read back. The bench variant (``bench correlation``) is the
same test on the correlation study. Both run whole commands and are marked slow (``make bench``);
``tests/test_grid_resume.py`` kills and interrupts a grid in the default suite.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contextures.runner import load_results

CONTEXTS = ["knn(k=3)", "knn(k=8)", "knn(k=15)", "knn(k=30)", "knn(k=60)", "rbf(gamma=0.1)",
            "rbf(gamma=0.5)", "rbf(gamma=2)", "rbf(gamma=8)", "rbf(gamma=30)"]
RUN_ARGS = ["run", "--data", "abalone", "--max-rows", "300", "--d0", "12", "--max-fit", "100",
            "-q", *[x for c in CONTEXTS for x in ("-c", c)]]
BENCH_ARGS = ["bench", "correlation", "--quick", "--data", "abalone", "--contexts", "2", "-q"]
VARYING = {"timing", "seconds", "elapsed_seconds"}


def start(args: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "contextures", *args, "--out", str(out)],
                            env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err


def kill_after_first_cell(proc: subprocess.Popen, out: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((out / "cells").glob("*.json")) if (out / "cells").exists() else []:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and any worker, no cleanup at all
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the kill: {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no cell file within {timeout} s")


def cell_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "cells").iterdir()}


def stable(records) -> dict:
    """key → (cell id, status, result without timings), checking each key occurs once."""
    out = {}
    for r in records:
        assert r["key"] not in out, f"duplicated cell {r['key']}"
        result = {k: v for k, v in (r["result"] or {}).items() if k not in VARYING}
        out[r["key"]] = (r["cell_id"], r["status"], json.dumps(result, sort_keys=True))
    return out


def table_without_timings(path: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [{k: v for k, v in row.items() if k not in VARYING} for row in rows]


def kill_rerun_compare(tmp_path: Path, args: list[str], table: str) -> None:
    reference, out = tmp_path / "reference", tmp_path / "killed run"
    finish(start(args, reference))
    expected = stable(load_results(reference))

    kill_after_first_cell(start(args, out), out)
    # only complete, valid records are there (a kill may leave a .tmp-* file, never a bad .json)
    survivors = stable(load_results(out))
    assert 1 <= len(survivors) < len(expected), "the kill came too late to test anything"
    for name in (p.name for p in (out / "cells").glob("*.json")):
        json.loads((out / "cells" / name).read_text())  # every visible file is whole
    before = {n: c for n, c in cell_files(out).items() if n.endswith(".json")}

    finish(start(args, out))
    after = cell_files(out)
    assert sorted(after) == sorted(p.name for p in (reference / "cells").iterdir())
    assert not [n for n in after if n.startswith(".tmp-")]
    assert stable(load_results(out)) == expected
    # finished cells were kept as they were, not recomputed or rewritten
    assert all(after[name] == content for name, content in before.items())
    assert table_without_timings(out / table) == table_without_timings(reference / table)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_the_uninterrupted_results(tmp_path):
    kill_rerun_compare(tmp_path, RUN_ARGS, "results.csv")


@pytest.mark.slow
def test_sigkill_mid_bench_correlation_then_rerun(tmp_path):
    kill_rerun_compare(tmp_path, BENCH_ARGS, "cells.csv")
