"""``contextures evaluate`` on larger tables: ``--max-fit`` (a seeded subsample of the pretrain rows,
extended to the rest), progress on stderr (none with ``-q``), ``--max-time`` (a hopeless solve
refused with its estimate, exit 11), and the note when an approximate neighbour search is asked
on tiny data."""

import json

import numpy as np
import pandas as pd
import pytest

from contextures.cli.app import main
from contextures.datasets import prepare
from contextures.datasets.splits import fit_rows
from contextures.evaluation.contexts import evaluate_context


def _table(path, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["y"] = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)
    frame.to_parquet(path, index=False)
    return f"parquet:{path}:y"


@pytest.fixture
def table(tmp_path):
    return _table(tmp_path / "t.parquet", 800)


def test_max_fit_fits_on_a_seeded_subsample_and_extends_to_the_rest(table, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["evaluate", "--data", table, "-c", "knn(k=10)", "-c", "rbf(gamma=median)",
                 "--d0", "30", "--max-fit", "150", "--fit-seed", "3", "--json", str(out), "-q"])
    assert code == 0
    captured = capsys.readouterr()
    assert ("note: contexts fitted on a seeded subsample of 150 of the 560 pretrain rows "
            "(--max-fit, fit seed 3)") in captured.err
    assert "fitted on 150" in captured.out
    payload = json.loads(out.read_text())
    assert (payload["n_fit"], payload["max_fit"], payload["fit_seed"]) == (150, 150, 3)
    prepared = prepare(table, split_seed=0)
    X_fit = prepared.X_pre[fit_rows(prepared.X_pre.shape[0], 150, 3)]
    for record, ctx in zip(payload["results"], ("knn(k=10)", "rbf(gamma=median)"), strict=True):
        direct = evaluate_context(ctx, prepared, d0=30, X_fit=X_fit).record()
        assert record["n_fit"] == 150
        for name in ("tau", "d_hat", "s1", "n_resolved", "err", "err_at_d_val", "kappa"):
            assert record[name] == pytest.approx(direct[name], rel=1e-9, abs=1e-12), name
    # a cap at or above the pretrain rows fits on all of them, silently
    assert main(["evaluate", "--data", table, "-c", "knn(k=10)", "--d0", "30",
                 "--max-fit", "5000", "-q"]) == 0
    assert "subsample" not in capsys.readouterr().err


def test_progress_per_context_on_stderr_and_quiet_with_q(table, capsys, monkeypatch):
    from contextures.cli import evaluate

    assert main(["evaluate", "--data", table, "-c", "knn(k=10)", "--d0", "20"]) == 0
    assert "contextures:" not in capsys.readouterr().err    # small and quick: silent
    monkeypatch.setattr(evaluate, "LARGE_ROWS", 100)       # as on a large table
    assert main(["evaluate", "--data", table, "-c", "knn(k=10)", "-c", "knn(k=20)",
                 "--d0", "20"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "contextures: context 1/2: knn(k=10): fitting on 560 rows, D0 = 20"
    assert err[1].startswith("contextures: context 1/2: knn(k=10): done in ")
    assert "components resolved)" in err[1]
    assert err[2].startswith("contextures: context 2/2: knn(k=20): fitting on 560 rows")
    assert main(["evaluate", "--data", table, "-c", "knn(k=10)", "--d0", "20", "-q"]) == 0
    assert "contextures:" not in capsys.readouterr().err


def test_an_approximate_search_on_tiny_data_is_exact_with_a_note(table, capsys):
    assert main(["evaluate", "--data", table, "-c", "knn(k=10,search=approx)", "--d0", "20",
                 "-q", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert ("note: knn(k=10,search=approx): approximate neighbour search asked on 560 rows, "
            "fewer than 5000: exact lists used") in captured.err


def test_a_hopeless_solve_is_refused_with_its_estimate(tmp_path, capsys):
    spec = _table(tmp_path / "big.parquet", 30_000)   # 21 000 pretrain rows: estimated first
    code = main(["evaluate", "--data", spec, "-c", "knn(k=10)", "--max-time", "0.2s", "-q"])
    assert code == 11
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("contextures: error: the krylov solve is estimated to take about ")
    assert "over the time limit of 0 s; --max-time 0 runs it anyway" in err[-1]
    assert main(["evaluate", "--data", spec, "-c", "knn(k=10)", "--max-time", "soon"]) == 2
