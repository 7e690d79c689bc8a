"""Determinism: the same seed gives bit-identical results on CPU.

Spectra (every solver of :class:`Contexture`, and across processes), splits (``prepare``), grid
cells of the real correlation study (joblib with 1 worker against 2 workers; serial against joblib
and dask is in tests/test_grid_backends.py) and trained encoders (weights and transform, and
through a model file).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from contextures.datasets import prepare
from contextures.encoders import ContextureEncoder, load_encoder
from contextures.exceptions import ParameterError
from contextures.experiments.correlation import correlation_cell
from contextures.runner import Cell, run_grid
from contextures.spectral import Contexture

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def X():
    return prepare("abalone", split_seed=0, max_rows=500).X_pre


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# The Krylov solvers schedule their convergence checks by counted work, not wall-clock time
# (spectral/krylov.py), so their defaults are bit-reproducible like every other solver.
KRYLOV = "krylov"
CASES = [
    ("knn(k=10)", "dense", None), ("knn(k=10)", KRYLOV, None), ("knn(k=10)", "arpack", None),
    ("knn(k=10)", "nystrom(m=60)", None), ("knn(k=10)", "subsample(m=120)", None),
    ("label", "svd_thin", None), ("rbf(gamma=0.5)", "matrix_free",
                                  3 * 8 * 350 * 350 - 1),
    ("scarf(p=0.3)", "auto", None), ("knn_mask(k=10,p=0.2,masks=3)", "auto", None),
]


@pytest.mark.parametrize("context, solver, budget", CASES)
def test_same_seed_same_spectrum_bit_for_bit(X, context, solver, budget):
    y = (X[:, 0] > 0).astype(int)
    Xs = X[:350]
    fits = [Contexture(context, n_components=6, solver=solver, random_state=7,
                       memory_budget=budget).fit(Xs, y[:350]) for _ in range(2)]
    a, b = fits
    if budget is not None:
        assert a.solver_ == "matrix_free"
    assert a.solver_ == b.solver_
    np.testing.assert_array_equal(a.singular_values_, b.singular_values_)
    np.testing.assert_array_equal(a.eigenfunctions_, b.eigenfunctions_)
    if context != "label":  # labels of new points are unknown: no extension
        np.testing.assert_array_equal(a.transform(Xs[:20] + 0.01), b.transform(Xs[:20] + 0.01))


FRESH = textwrap.dedent("""
    import hashlib, sys, numpy as np
    from contextures.datasets import prepare
    from contextures.spectral import Contexture
    X = prepare("abalone", split_seed=0, max_rows=500).X_pre
    for solver in sys.argv[1:]:
        m = Contexture("knn(k=10)", n_components=6, solver=solver, random_state=3).fit(X)
        h = hashlib.sha256()
        for a in (m.singular_values_, m.eigenfunctions_):
            h.update(np.ascontiguousarray(a).tobytes())
        print(h.hexdigest(), *m.singular_values_.tolist())
""")


def fresh_process(*solvers: str) -> list[list[str]]:
    # the child uses this process's BLAS thread count (another count rounds differently; see
    # contextures.spectral.threads)
    from contextures.spectral.threads import default_threads

    env = {**os.environ, "PYTHONHASHSEED": "123",
           "CONTEXTURES_SOLVER_THREADS": str(default_threads())}
    out = subprocess.run([sys.executable, "-c", FRESH, *solvers], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return [line.split() for line in out.stdout.splitlines()]


def test_spectrum_is_identical_in_a_fresh_process(X):
    """No hidden state (hash seeds, import order, earlier fits) changes the numbers."""
    solvers = ("dense", KRYLOV, "arpack")
    lines = fresh_process(*solvers)
    for solver, line in zip(solvers, lines, strict=True):
        model = Contexture("knn(k=10)", n_components=6, solver=solver, random_state=3).fit(X)
        assert line[0] == digest(model.singular_values_, model.eigenfunctions_), solver


def test_default_krylov_is_bit_identical_on_a_loaded_machine(X):
    """The check schedule does not depend on timing: a busy CPU changes no bit."""
    import threading

    stop = threading.Event()

    def burn():
        while not stop.is_set():
            np.linalg.eigh(np.ones((300, 300)))

    quiet = Contexture("knn(k=10)", n_components=6, solver="krylov", random_state=3).fit(X)
    workers = [threading.Thread(target=burn) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        busy = Contexture("knn(k=10)", n_components=6, solver="krylov", random_state=3).fit(X)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert digest(quiet.singular_values_, quiet.eigenfunctions_) == digest(
        busy.singular_values_, busy.eigenfunctions_)


def test_same_split_seed_same_split():
    a, b = prepare("abalone", split_seed=5), prepare("abalone", split_seed=5)
    for name in ("index_pre", "index_train", "index_test", "X_pre", "X_train", "X_test",
                 "y_pre", "y_train", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = prepare("abalone", split_seed=6)
    assert not np.array_equal(a.index_pre, c.index_pre)
    # a row cap is seeded too, and stratified splits as well
    d, e = (prepare("sklearn:iris", split_seed=1, max_rows=90) for _ in range(2))
    np.testing.assert_array_equal(d.index_test, e.index_test)
    np.testing.assert_array_equal(d.X_test, e.X_test)


def real_cells() -> list[Cell]:
    """Four cells of the real correlation study (τ and probe error), small."""
    base = {"dataset": "abalone", "task": None, "split_seed": 0, "max_rows": 300, "n_fit": 120,
            "fit_seed": 0, "d0": 12, "beta": 1.0, "alphas": [0.1, 1.0, 10.0],
            "solver": "auto", "max_k": 20}
    return [Cell(f"abalone/{c}", correlation_cell, {**base, "context": c})
            for c in ("knn(k=5)", "knn(k=20)", "rbf(gamma=0.3)", "rbf(gamma=3)")]


def cell_results(records) -> dict:
    out = {}
    for r in records:
        assert r["status"] == "ok", r["error"]
        out[r["key"]] = {k: v for k, v in r["result"].items() if k != "timing"}
    return out


def test_grid_cells_identical_with_one_and_two_joblib_workers(tmp_path):
    config = {"bench": "determinism", "cells": 4}
    one, _ = run_grid(real_cells(), tmp_path / "one", grid_config=config, backend="joblib",
                      workers=1, progress=False)
    two, _ = run_grid(real_cells(), tmp_path / "two", grid_config=config, backend="joblib",
                      workers=2, progress=False)
    assert cell_results(one) == cell_results(two)
    # and the files on disk agree (JSON text of every result)
    for r1, r2 in zip(one, two, strict=True):
        assert json.dumps(r1["result"].get("singular_values")) == json.dumps(
            r2["result"].get("singular_values"))


def small_encoder(seed: int = 0) -> ContextureEncoder:
    return ContextureEncoder("knn(k=10)", objective="kise", n_components=3, hidden=32, depth=2,
                             epochs=15, lr=3e-3, random_state=seed, n_threads=1, output_dim=8,
                             device="cpu")


def test_trained_encoders_bit_identical(X, tmp_path):
    Xs = X[:300]
    a, b = small_encoder().fit(Xs), small_encoder().fit(Xs)
    wa, wb = a.encoder_.state_dict(), b.encoder_.state_dict()
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name
    np.testing.assert_array_equal(a.eigenvalues_, b.eigenvalues_)
    np.testing.assert_array_equal(a.transform(Xs), b.transform(Xs))
    np.testing.assert_array_equal(a.transform(Xs[:30] + 0.1), b.transform(Xs[:30] + 0.1))
    assert a.history_["train"] == b.history_["train"]
    # through a model file: the same numbers
    a.save(tmp_path / "model dir")
    loaded = load_encoder(tmp_path / "model dir")
    np.testing.assert_array_equal(loaded.transform(Xs[:30] + 0.1), a.transform(Xs[:30] + 0.1))
    # and another seed gives another model (the seed is used)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = small_encoder(seed=1).fit(Xs)
    # (a trained weight: the input-standardisation buffers come from the data, not the seed)
    name = next(k for k in wa if k.endswith("weight"))
    assert not torch.equal(c.encoder_.state_dict()[name], wa[name])


def _cells_without_timing(path) -> list[str]:
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, name in enumerate(rows[0]) if "second" not in name and name != "timing"]
    return [",".join(row[i] for i in keep) for row in rows]


def _summary_without_timing(path) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "second" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(path.read_text()))


def _correlation_study(out, **runner):
    from contextures.experiments.correlation import CORRELATION, CorrelationSettings
    from contextures.experiments.correlation_plan import resolve_datasets
    from contextures.runner import run_study

    settings = CorrelationSettings(strengths=1, d0=64,
                                   datasets=tuple(resolve_datasets(data=["sklearn:breast_cancer"])))
    run_study(CORRELATION, settings, out, progress=False, **runner)
    return _cells_without_timing(out / "cells.csv"), _summary_without_timing(out / "summary.json")


def test_correlation_study_identical_with_one_and_two_workers(tmp_path, monkeypatch):
    """399 fitting rows, d0 = 64: large enough that BLAS with 1 or 2 threads gives other bits
    (d* of knn(k=1) moved from 64 to 54 when each worker had cores ÷ workers threads). Every cell
    runs with the same thread count whatever the worker count, so cells.csv and summary.json agree
    byte for byte (timing columns aside)."""
    monkeypatch.delenv("CONTEXTURES_SOLVER_THREADS", raising=False)
    one = _correlation_study(tmp_path / "one", workers=1)
    two = _correlation_study(tmp_path / "two", workers=2)
    assert one[0] == two[0]
    assert one[1] == two[1]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "two" / "cells").glob("*"))]
    assert {r["threads"] for r in records} == {1}


def solver_thread_cell() -> dict:
    from contextures.spectral.threads import default_threads

    return {"solver_threads": default_threads()}


def test_grid_cells_honour_the_solver_threads_variable(tmp_path, monkeypatch):
    from contextures.runner.grid import cell_threads

    monkeypatch.setenv("CONTEXTURES_SOLVER_THREADS", "2")
    assert cell_threads() == 2
    from contextures._resources import available_cores

    for workers in (1, 2):
        oversubscribed = workers * 2 > available_cores()
        with (pytest.warns(RuntimeWarning, match="compete for cores") if oversubscribed
              else warnings.catch_warnings()):
            records, _ = run_grid([Cell("t", solver_thread_cell, {})],
                                  tmp_path / f"env{workers}", grid_config={"t": 2},
                                  backend="joblib", workers=workers, progress=False)
        assert records[0]["threads"] == 2
        assert records[0]["result"] == {"solver_threads": 2}
    monkeypatch.setenv("CONTEXTURES_SOLVER_THREADS", "1000000000")
    with pytest.raises(ParameterError, match="CONTEXTURES_SOLVER_THREADS"):
        cell_threads()
