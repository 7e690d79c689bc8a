"""The context selector, ``contextures run``: ranking, validation, report files, resume and bad input."""

import csv
import json

import pytest

from contextures.cli.app import main

SMALL = ["--max-fit", "300", "--d0", "48", "-q"]
CONTEXTS = ["knn(k=5)", "knn(k=60)", "rbf(gamma=0.05)", "rbf_mask(gamma=0.1,p=0.2,masks=5)"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "abalone"
    args = ["run", "--out", str(out), *SMALL]
    for spec in CONTEXTS:
        args += ["--context", spec]
    assert main(args) == 0
    return out, args


def test_run_writes_the_report_the_table_and_the_figures(small_run, capsys):
    out, _ = small_run
    for name in ("report.md", "results.csv", "summary.json", "spectra.png",
                 "tau_and_error_curves.png", "tau_vs_error.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == "abalone" and summary["task"] == "regression"
    assert summary["n_fit"] == 300 and summary["d0"] == 48
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["context"] for r in rows] != [] and len(rows) == len(CONTEXTS)
    # ranked by τ, abstentions after every ranked row
    ranked = [r for r in rows if r["rank"]]
    taus = [float(r["tau"]) for r in ranked]
    assert taus == sorted(taus)
    assert [int(r["rank"]) for r in ranked] == list(range(1, len(ranked) + 1))
    assert rows[:len(ranked)] == ranked
    for r in rows:
        assert float(r["tau"]) >= 1.0
        assert (r["abstain"] == "True") == (float(r["tau"]) >= 0.95 * 2)
        assert 1 <= int(r["d_star"]) <= 48 and float(r["err"]) > 0
    # the recommendation is the first ranked context, and the report names it
    rec = summary["recommendation"]
    if ranked:
        assert rec["context"] == ranked[0]["context"]
        assert rec["context"] in (out / "report.md").read_text()
    corr = summary["correlation"]
    assert corr["n_all"] == len(CONTEXTS)
    assert -1 <= corr["pearson_all"] <= 1


def test_a_rerun_resumes_without_recomputing(small_run, capsys):
    out, args = small_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert main(args) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert before == after
    text = capsys.readouterr().out
    assert "recommended" in text or "no recommendation" in text


def test_another_configuration_in_the_same_directory_is_refused(small_run, capsys):
    out, _ = small_run
    code = main(["run", "--out", str(out), "--context", "knn(k=7)", *SMALL])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "different" in err or "configuration" in err


@pytest.mark.parametrize("args, fragment", [
    (["--context", "knn(k=oops)"], "k"),
    (["--context", "nosuchcontext"], "nosuchcontext"),
    (["--data", "csv:/no/such/file.csv:y"], "file.csv"),
    (["--context", "knn(k=5)", "--context", "knn(k=5)"], "twice"),
])
def test_bad_input_gets_one_line_and_an_exit_code(tmp_path, capsys, args, fragment):
    code = main(["run", "--out", str(tmp_path / "o"), *SMALL, *args])
    err = capsys.readouterr().err
    assert code not in (0, 70)
    assert "Traceback" not in err and fragment in err


@pytest.mark.slow  # a whole `run` in a subprocess; test_grid_resume interrupts a grid fast
def test_ctrl_c_prints_one_line_keeps_finished_cells_and_the_rerun_completes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "contextures", "run", "--out", str(out), *SMALL]
    for k in (3, 5, 8, 12, 20, 30):
        cmd += ["--context", f"knn(k={k})"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        cells = out / "cells"
        if cells.is_dir() and any(p.suffix == ".json" for p in cells.iterdir()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted; finished work is kept" in err and "Traceback" not in err
    kept = {p.name for p in (out / "cells").iterdir() if p.suffix == ".json"}
    assert kept and not list((out / "cells").glob(".tmp-*"))
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len([p for p in (out / "cells").iterdir() if p.suffix == ".json"]) == 6


def test_default_candidates_come_from_a_tau_scan():
    import numpy as np

    from contextures.experiments.selector_scan import adaptive_candidates

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(loc=c, size=(100, 3)) for c in (-2.0, 0.0, 2.0)])
    candidates, scan, notes = adaptive_candidates(X, d0=40, beta=1.0, categorical=0.0)
    assert len(scan) == 16 and {r["family"] for r in scan} == {"knn", "rbf"}
    kept = [r for r in scan if r["context"] in candidates]
    # the kept strengths are those τ ranks, unless a family has none (then one, with a note)
    for family in ("knn", "rbf"):
        ranked = [r for r in scan if r["family"] == family and not r["abstain"]]
        mine = [r for r in kept if r["family"] == family]
        assert 1 <= len(mine) <= 4
        if ranked:
            assert all(not r["abstain"] for r in mine)
    assert any(c.startswith("knn_mask(") for c in candidates)
    assert any(c.startswith("rbf_mask(") for c in candidates)
    # continuous columns: no SCARF, and the report says why
    assert not any(c.startswith("scarf(") for c in candidates)
    assert any("SCARF left out" in n for n in notes)
    with_cats, _, _ = adaptive_candidates(X, d0=40, beta=1.0, categorical=0.8)
    assert sum(c.startswith("scarf(") for c in with_cats) == 2
