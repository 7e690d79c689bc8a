"""The memory guard: refusals come at once, before any large allocation.

Sizes are chosen so that the dense n × n allocation needs far more than this machine has
(n = 2 000 000: a dense M is 8 n² = 29 TiB; n = 50 000: 2 × 8 n² = 37 GiB for M and its eigh
workspace). The data stay cheap (a sparse identity-like P, one feature column), and
``tracemalloc`` (which sees numpy's allocations) checks the peak stayed small.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from contextures._memory import format_bytes
from contextures.cli.app import main
from contextures.contexts import ContextOperator, make_context
from contextures.contexts.distances import squared_distances
from contextures.exceptions import MemoryBudgetError
from contextures.spectral import Contexture, solve, solve_dense

HUGE_N = 2_000_000
LARGE_N = 50_000
SMALL_PEAK = 256 * 1024**2  # what a refusal may allocate, at most, before refusing


@pytest.fixture(scope="module")
def huge_op():
    """A cheap sparse operator with n = 2 000 000 (P a permutation: O(n) memory)."""
    n = HUGE_N
    P = sp.csr_matrix((np.ones(n), np.roll(np.arange(n), 1), np.arange(n + 1)), shape=(n, n))
    return ContextOperator(P)


def refused_at_once(call, *fragments: str, seconds: float = 2.0) -> MemoryBudgetError:
    """Run ``call``; it must raise MemoryBudgetError quickly, with little memory allocated."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(MemoryBudgetError) as info:
            call()
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    message = str(info.value)
    assert elapsed < seconds, f"refused after {elapsed:.1f} s"
    assert peak < SMALL_PEAK, f"allocated {format_bytes(peak)} before refusing"
    assert "need" in message and "budget" in message, message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_dense_solver_refuses_two_million_at_once(huge_op):
    need = format_bytes(8.0 * HUGE_N * HUGE_N * 2)  # M and its eigh workspace
    refused_at_once(lambda: solve_dense(huge_op, 4, memory_budget="8G"), need,
                    "2000000×2000000")


def test_dense_forms_refuse_under_the_environment_budget(huge_op, monkeypatch):
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "1G")
    refused_at_once(huge_op.dense_gram, format_bytes(8.0 * HUGE_N**2 * 2), "1.0 GiB")
    refused_at_once(huge_op.dense_q, format_bytes(8.0 * HUGE_N**2), "1.0 GiB")
    refused_at_once(lambda: solve_dense(huge_op, 2), "1.0 GiB")


def test_dense_distance_matrix_refuses_at_once():
    X = np.zeros((HUGE_N, 1))
    refused_at_once(lambda: squared_distances(X, memory_budget="4G"),
                    format_bytes(8.0 * HUGE_N**2))


def test_no_solver_fits_a_tiny_budget(huge_op):
    error = refused_at_once(lambda: solve(huge_op, 4, memory_budget="1M"), "no solver fits")
    assert format_bytes(24.0 * HUGE_N * 5) in str(error)  # 5 Nyström landmarks


def test_contexture_dense_refuses_fifty_thousand(monkeypatch):
    """The estimator path: fit the (cheap, sparse) KNN context, then refuse the dense solve."""
    X = np.linspace(0.0, 1.0, LARGE_N).reshape(-1, 1)
    model = Contexture("knn(k=2)", n_components=2, solver="dense", memory_budget="1M")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the announced dense → krylov fallback
        refused_at_once(lambda: model.fit(X), seconds=30.0)
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "1M")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused_at_once(lambda: Contexture("knn(k=2)", n_components=2).fit(X), seconds=30.0)


def test_rbf_over_budget_refuses_at_once():
    """Dense RBF at n = 2 000 000 with a 64 MiB budget: nothing fits, refuse within seconds."""
    code = textwrap.dedent(f"""
        import numpy as np
        from contextures.spectral import Contexture
        from contextures.exceptions import MemoryBudgetError
        X = np.linspace(0.0, 1.0, {HUGE_N}).reshape(-1, 1)
        try:
            Contexture("rbf(gamma=1)", n_components=2, memory_budget="64M").fit(X)
        except MemoryBudgetError as exc:
            print("refused:", exc)
    """)
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("no refusal within 10 s")
    assert "refused:" in proc.stdout and "needs" in proc.stdout, proc.stderr[-2000:]


def test_auto_falls_back_to_matrix_free_and_says_so():
    """RBF at n = 600 with a budget below its dense P and Q: matrix-free, same spectrum."""
    X = np.random.default_rng(0).standard_normal((600, 3))
    budget = 3 * 8 * 600 * 600 - 1  # the dense RBF needs P, Q and a spare n × n
    reference = Contexture("rbf(gamma=0.5)", n_components=6, random_state=0).fit(X)
    assert reference.solver_ == "dense"
    low = Contexture("rbf(gamma=0.5)", n_components=6, random_state=0, memory_budget=budget,
                     tol=1e-10).fit(X)
    assert low.solver_ == "matrix_free"
    notes = " ".join(low.solver_notes_)
    assert "does not fit the memory budget" in notes and "auto: matrix_free" in notes
    assert low.result_.exact
    np.testing.assert_allclose(low.singular_values_, reference.singular_values_, atol=1e-8)


def test_auto_falls_back_to_krylov_when_dense_does_not_fit():
    """KNN at n = 1000 (auto's dense range) with a budget below 16 n²: Krylov, same spectrum."""
    X = np.random.default_rng(1).standard_normal((1000, 4))
    reference = Contexture("knn(k=10)", n_components=5, random_state=0).fit(X)
    assert reference.solver_ == "dense"
    low = Contexture("knn(k=10)", n_components=5, random_state=0, tol=1e-10,
                     memory_budget=16 * 1000 * 1000 - 1).fit(X)
    assert low.solver_ == "krylov"
    notes = " ".join(low.solver_notes_)
    assert "auto: krylov" in notes and "M never formed" in notes
    np.testing.assert_allclose(low.singular_values_, reference.singular_values_, atol=1e-8)
    # an explicit dense request over the budget falls back too, with a warning and a note
    with pytest.warns(UserWarning, match="dense needs .* over the memory budget"):
        forced = Contexture("knn(k=10)", n_components=5, solver="dense", random_state=0,
                            tol=1e-10, memory_budget=16 * 1000 * 1000 - 1).fit(X)
    assert forced.solver_ == "krylov" and any("fallback" in n for n in forced.solver_notes_)
    np.testing.assert_allclose(forced.singular_values_, reference.singular_values_, atol=1e-8)


def test_rbf_context_goes_matrix_free_over_budget_without_allocating():
    ctx = make_context("rbf(gamma=1)").fit(np.linspace(0, 1, 8_000).reshape(-1, 1))
    tracemalloc.start()
    op = ctx.operator(memory_budget="64M")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert op.kind == "matrix_free"
    # the dense P would be 488 MiB; the row blocks take a fixed 64 MiB (2^23 float64 entries)
    # plus their distance temporaries, whatever the budget (see the report: not budget-aware)
    assert peak < 256 * 1024**2
    with pytest.raises(MemoryBudgetError, match=format_bytes(8.0 * 8_000**2)):
        op.dense_q()


@pytest.mark.filterwarnings("ignore:solver dense")
def test_cli_spectrum_over_budget_exits_5(capsys, monkeypatch):
    code = main(["spectrum", "--data", "abalone", "-c", "knn(k=5)", "-d", "4", "--solver",
                 "dense", "--memory-budget", "64K"])
    err = capsys.readouterr().err
    assert code == 5, err
    assert err.startswith("contextures: error:") and "needs" in err and "64.0 KiB" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "64K")
    assert main(["spectrum", "--data", "abalone", "-c", "knn(k=5)", "-d", "4"]) == 5
    assert "needs" in capsys.readouterr().err
    monkeypatch.delenv("CONTEXTURES_MEMORY_BUDGET")
    assert main(["spectrum", "--data", "abalone", "-c", "knn(k=5)", "-d", "4",
                 "--memory-budget", "lots"]) == 2
    assert "cannot read memory size" in capsys.readouterr().err


def test_budget_is_read_from_the_environment_in_a_fresh_process(tmp_path):
    """The variable reaches a real CLI process (no in-process state)."""
    env = {**os.environ, "CONTEXTURES_MEMORY_BUDGET": "100K"}
    proc = subprocess.run([sys.executable, "-m", "contextures", "spectrum", "--data", "abalone",
                           "-c", "rbf(gamma=1)", "-d", "3", "--solver", "dense"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert "100.0 KiB" in proc.stderr and "Traceback" not in proc.stderr
