"""The cutmix exact density, draw by draw (the reference kept in tests/_cutmix_reference.py)
against the batched ``CutmixContext._compute`` / ``_weights``, side by side in one process.

    python benchmarks/cutmix_density.py [--repeats 3] [--skip-scarf] [--out FILE.json]

Cases:

- abalone: ``load_dataset("abalone")``, ``fit_preprocess`` on all rows (continuous columns
  standardised, the sex one-hot encoded), its first 1500 rows; ``cutmix(p=0.3)`` (8 draws per
  row, S = 12 000 draws);
- random 30 × 3: standard normal rows (seed 0), ``cutmix(p=0.3, draws=300)`` (S = 9000).

Each side is fitted once (the same draws: the fit is identical) and ``operator()`` is timed on a
fresh fit: the candidate sets, log q(a_s | x_i) on them, the baselines, log P̂_A, W and the
split-half error. The reference runs once (it is the slow side), the batched version
``--repeats`` times (best kept). The largest difference of the two transition matrices
(|P_new − P_ref| / max(|P_ref|)) and of log P̂_A is printed with the times. ``scarf(p=0.3)`` on
abalone is timed once for comparison unless ``--skip-scarf``. The load average of the machine
(``os.getloadavg``) is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def abalone_rows(rows: int = 1500) -> np.ndarray:
    from contextures.datasets import load_dataset
    from contextures.datasets.preprocess import fit_preprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = load_dataset("abalone")
        _, (X,) = fit_preprocess(d.X_raw)
    return np.ascontiguousarray(X[:rows])


def timed_operator(cls, X: np.ndarray, p: float, draws: int):
    ctx = cls(p=p, draws=draws, random_state=0).fit(X)
    t = time.perf_counter()
    op = ctx.operator()
    return time.perf_counter() - t, ctx, op


def compare(name: str, X: np.ndarray, p: float, draws: int, repeats: int) -> dict:
    from _cutmix_reference import ReferenceCutmix
    from contextures.contexts.cutmix import CutmixContext

    t_ref, ref, op_ref = timed_operator(ReferenceCutmix, X, p, draws)
    times = []
    for _ in range(repeats):
        t_new, new, op_new = timed_operator(CutmixContext, X, p, draws)
        times.append(t_new)
    P_ref = op_ref.P.toarray()
    P_new = op_new.P.toarray()
    p_diff = float(np.max(np.abs(P_new - P_ref)) / np.max(np.abs(P_ref)))
    fin = np.isfinite(ref._log_pa)
    pa_diff = float(np.max(np.abs(new._log_pa[fin] - ref._log_pa[fin])
                           / np.maximum(1.0, np.abs(ref._log_pa[fin]))))
    row = {"case": name, "n": X.shape[0], "F": X.shape[1], "p": p, "draws_per_row": draws,
           "S": int(new.n_draws_), "candidates": int(new._tables[0].nnz),
           "reference_s": t_ref, "batched_s": min(times), "batched_all_s": times,
           "speedup": t_ref / min(times), "max_rel_diff_P": p_diff,
           "max_rel_diff_log_pa": pa_diff, "same_sparsity": bool(
               np.array_equal(op_new.P.indptr, op_ref.P.indptr)
               and np.array_equal(op_new.P.indices, op_ref.P.indices))}
    print(f"{name}: n={X.shape[0]} F={X.shape[1]} p={p} draws/row={draws} S={row['S']} "
          f"candidate entries={row['candidates']}")
    print(f"  reference (draw by draw) operator(): {t_ref:8.2f} s")
    print(f"  batched operator():                  {min(times):8.2f} s  (best of {repeats}: "
          + ", ".join(f"{t:.2f}" for t in times) + ")")
    print(f"  ratio reference / batched:           {row['speedup']:8.1f}")
    print(f"  max |P_new − P_ref| / max P_ref = {p_diff:.2e}, log P̂_A rel. diff = {pa_diff:.2e}, "
          f"same sparsity: {row['same_sparsity']}")
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-scarf", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} "
          f"({os.cpu_count()} CPUs), python {platform.python_version()}, numpy {np.__version__}")
    X_ab = abalone_rows()
    rows = [compare("abalone[:1500]", X_ab, 0.3, 8, args.repeats),
            compare("random 30x3", np.random.default_rng(0).normal(size=(30, 3)), 0.3, 300,
                    args.repeats)]
    scarf_s = None
    if not args.skip_scarf:
        from contextures.contexts import make_context

        ctx = make_context("scarf(p=0.3)").fit(X_ab)
        t = time.perf_counter()
        ctx.operator()
        scarf_s = time.perf_counter() - t
        print(f"scarf(p=0.3) operator() on abalone[:1500], for comparison: {scarf_s:.2f} s")
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"cases": rows, "scarf_abalone_s": scarf_s,
                                        "load_before": load_before, "load_after": load_after,
                                        "cpus": os.cpu_count(),
                                        "python": platform.python_version(),
                                        "numpy": np.__version__}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
