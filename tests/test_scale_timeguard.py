"""The time guard: durations, estimates from a timed probe, refusals, the matrix-free pass check,
and the spectrum command's --max-time and --quiet."""

import io

import numpy as np
import pytest

from contextures import _progress, _timeguard
from contextures.cli.app import main
from contextures.contexts import make_context
from contextures.exceptions import ParameterError, TimeBudgetError
from contextures.spectral.select import solve


@pytest.mark.parametrize("text, seconds", [("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0),
                                           ("1.5h", 5400.0), ("45", 45.0), ("0", None),
                                           ("none", None), (120, 120.0)])
def test_durations(text, seconds):
    assert _timeguard.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1h", "1 week"])
def test_bad_durations(bad):
    with pytest.raises(ParameterError, match="duration|≥ 0"):
        _timeguard.parse_duration(bad)


def knn_operator(n=20_000, k=10, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, 3))
    return make_context(f"knn(k={k})").fit(X).operator()


def test_estimate_scales_with_products_and_refuses_over_the_limit():
    op = knn_operator()
    small = _timeguard.estimate_solve(op, "krylov", 4, {})
    large = _timeguard.estimate_solve(op, "krylov", 400, {})
    assert 0 < small.seconds < large.seconds
    assert "products of M" in small.how and "measured" in small.how
    dense = _timeguard.estimate_solve(op, "dense", 4, {})
    assert dense.seconds > small.seconds          # n³ on 20 000 rows
    with _timeguard.time_limit(1e-6):
        with pytest.raises(TimeBudgetError, match=r"estimated to take about .*--max-time 0"):
            solve(op, 4, "krylov", random_state=0)
    # no limit: the estimate is only noted
    with _timeguard.time_limit(None):
        result = solve(op, 4, "krylov", random_state=0)
    assert any(note.startswith("estimated before the solve: about") for note in result.notes)
    # outside any limit (library default) nothing is estimated
    assert not any("estimated before" in note for note in solve(op, 4, "krylov").notes)


def test_the_estimate_is_printed_when_reporting(monkeypatch):
    op = knn_operator()
    monkeypatch.setattr(_timeguard, "estimate_solve",
                        lambda *a: _timeguard.Estimate(150.0, "krylov: a stand-in"))
    stream = io.StringIO()
    with _progress.reporting(stream=stream):
        solve(op, 4, "krylov", random_state=0)
    assert "contextures: estimated solve time: about 2 min (krylov: a stand-in)" in stream.getvalue()


def test_a_matrix_free_pass_is_checked_before_the_solve():
    from contextures.contexts.operator import MatrixFreeTransition

    class Slow(MatrixFreeTransition):
        block_rows = 10

        def row_block(self, i0, i1):
            import time

            time.sleep(0.02)
            return np.full((i1 - i0, self.shape[1]), 1.0 / self.shape[1])

    P = Slow((100_000, 50))
    guard = _timeguard.TimeGuard(60.0, components=8, solver="dense")
    token = _timeguard._guard.set(guard)
    try:
        with pytest.raises(TimeBudgetError, match=r"the dense solve with d = 8 .*one pass over the "
                                                  r"100000 rows"):
            P.rmatmat(np.ones((100_000, 1)))
    finally:
        _timeguard._guard.reset(token)
    assert guard.pass_checked


def test_spectrum_max_time_refuses_with_the_estimate(tmp_path, capsys):
    path = tmp_path / "x.csv"
    X = np.random.default_rng(0).standard_normal((20_000, 3))
    np.savetxt(path, X, delimiter=",", header="a,b,c", comments="")
    code = main(["spectrum", "--data", f"csv:{path}", "--context", "knn(k=10)", "-d", "8",
                 "--all-rows", "--max-time", "0.001s", "--solver", "krylov"])
    err = capsys.readouterr().err
    assert code == 11
    assert "estimated to take about" in err and "--max-time 0 runs it anyway" in err
    code = main(["spectrum", "--data", f"csv:{path}", "--context", "knn(k=10)", "-d", "8",
                 "--all-rows", "--quiet", "--solver", "krylov"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and "s_i" in out
