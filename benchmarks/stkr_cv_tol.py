"""STKR's cross-validation tolerance: the choices and test errors at two tolerances, side by side.

    python benchmarks/stkr_cv_tol.py [--half tuning|held_out] [--tols 1e-4,1e-3]
                                     [--out benchmarks/results/semisup]

For every dataset of one half of the offline suite (``contextures.experiments.semisup.
offline_halves``), as one cell of ``bench semisup`` at 5 % labelled and seed 0 (4000 rows at
most, split 80 / 20 into pool and test), STKR with its defaults is fitted once per tolerance of
the cross-validation's solves (``contextures.semisupervised._engines.CV_TOL``), always on the
matrix-free path (``solver="propagation"``, so that the tolerance matters). Reported per dataset:
whether the chosen (transform, r, ρ) are the same, the test error (misclassification rate or MSE)
of each, and the products with M the cross-validation used. Raw output:
``<out>/cv-tol-<half>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("tuning", "held_out"), default="held_out")
    parser.add_argument("--tols", default="1e-4,1e-3")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semisup"))
    args = parser.parse_args(argv)
    from contextures.experiments.semisup import offline_halves, pool_and_test
    from contextures.experiments.semisup_methods import draw_labelled
    from contextures.semisupervised import STKR, _engines

    tols = [float(t) for t in args.tols.split(",")]
    records = []
    for spec in offline_halves()[args.half]:
        X_pool, y_pool, X_test, y_test, task = pool_and_test(spec, 0, 4000)
        rows = draw_labelled(y_pool, 0.05, task, random_state=0)
        classes = task == "classification"
        y_partial = np.full(len(y_pool), -1) if classes else np.full(len(y_pool), np.nan)
        y_partial[rows] = y_pool[rows]
        runs = []
        for tol in tols:
            _engines.CV_TOL = tol
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = STKR("knn(k=10)", solver="propagation", task=task,
                             random_state=0).fit(X_pool, y_partial)
            seconds = time.perf_counter() - start
            pred = model.predict(X_test)
            error = (float(np.mean(pred != y_test)) if classes
                     else float(np.mean((pred - y_test) ** 2)))
            runs.append({"cv_tol": tol, "transform": model.transformation_,
                         "ridge_ratio": model.ridge_ratio_,
                         "ambient_weight": model.ambient_weight_, "error": error,
                         "seconds": seconds, "cv_products": model.solver_info_["cv_products"]})
        choice = [(r["transform"], r["ridge_ratio"], r["ambient_weight"]) for r in runs]
        same = all(c == choice[0] for c in choice)
        records.append({"dataset": spec, "task": task, "runs": runs, "same_choice": same})
        print(f"{spec[:44]:44s} same choice: {same}  errors "
              + " / ".join(f"{r['error']:.4g}" for r in runs) + "  products "
              + " / ".join(str(r["cv_products"]) for r in runs), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"cv-tol-{args.half}.json"
    path.write_text(json.dumps({"half": args.half, "tols": tols, "records": records,
                                "python": sys.version.split()[0],
                                "machine": platform.machine()}, indent=2) + "\n")
    same = sum(r["same_choice"] for r in records)
    saved = [1 - r["runs"][-1]["cv_products"] / r["runs"][0]["cv_products"] for r in records]
    print(f"same choice on {same} of {len(records)}; products saved {min(saved):.0%}–"
          f"{max(saved):.0%} (median {float(np.median(saved)):.0%}); wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
