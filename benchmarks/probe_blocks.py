"""The blocked ridge probe against the unblocked one it replaced, side by side in one process.

    python benchmarks/probe_blocks.py [--rows 150000] [--dims 162] [--folds 5] [--threads 1]
                                      [--old-rev 6680129] [--out benchmarks/results/scale-evaluate]

Data (synthetic, seeded): ``--rows`` training and as many test rows of ``--dims`` correlated
Gaussian features with column scales decaying from 1 to e^{-0.01 D} (as extended eigenfunctions
roughly are), a standardised regression target that depends on the first five columns plus noise.
Both implementations run ``ridge_probe_curve(F_train, y_train, F_test=..., y_test=...,
cv_folds=--folds)`` with the default eight ridge strengths, the configuration ``evaluate`` uses
for its probe (``--folds 0``: one seeded 20 % validation split of the training rows and a refit,
the configuration of its probe on the raw D₀ extended eigenfunctions).
The old one is ``src/contextures/evaluation/probes.py`` at ``--old-rev``, loaded from git into
this process. BLAS is limited to ``--threads`` threads (threadpoolctl) for both. Each side is
timed once without tracing, then run once more under ``tracemalloc`` for its peak allocation
(numpy's arrays included; the inputs are allocated before tracing starts). Raw output:
``<out>/probe-blocks-<rows>x<dims>-folds<folds>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]


def load_old(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:src/contextures/evaluation/probes.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path("/tmp") / f"probes_{rev}.py"
    path.write_text(source)
    name = "contextures.evaluation._probes_before_blocks"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def synthetic(rows: int, dims: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dims, dims)) / np.sqrt(dims) + np.eye(dims)
    F = (rng.normal(size=(2 * rows, dims)) @ mix) * np.exp(-0.01 * np.arange(dims))
    y = F[:, :5] @ rng.normal(size=5) + rng.normal(size=2 * rows)
    y = (y - y[:rows].mean()) / y[:rows].std()
    return F[:rows], y[:rows], F[rows:], y[rows:]


def run(module, data, folds):
    F, y, Ft, yt = data
    return module.ridge_probe_curve(F, y, F_test=Ft, y_test=yt, cv_folds=folds or None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--dims", type=int, default=162)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--old-rev", default="6680129")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/scale-evaluate"))
    args = parser.parse_args()

    from contextures.evaluation import probes as new

    old = load_old(args.old_rev)
    data = synthetic(args.rows, args.dims)
    record = {"rows_train": args.rows, "rows_test": args.rows, "dims": args.dims,
              "folds": args.folds, "alphas": list(new.DEFAULT_ALPHAS),
              "blas_threads": args.threads, "old_rev": args.old_rev,
              "block_bytes": new._BLOCK_BYTES, "python": platform.python_version(),
              "numpy": np.__version__, "input_bytes": sum(a.nbytes for a in data)}
    curves = {}
    with threadpool_limits(args.threads):
        for side, module in (("old", old), ("new", new)):
            t0 = time.perf_counter()
            curves[side] = run(module, data, args.folds)
            record[f"{side}_seconds"] = time.perf_counter() - t0
            print(f"{side}: {record[f'{side}_seconds']:.1f} s", flush=True)
        for side, module in (("old", old), ("new", new)):
            tracemalloc.start()
            run(module, data, args.folds)
            record[f"{side}_peak_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"{side}: peak {record[f'{side}_peak_bytes'] / 2**20:.1f} MiB", flush=True)
    a, b = curves["old"], curves["new"]
    record.update(
        speedup=record["old_seconds"] / record["new_seconds"],
        max_rel_diff_errors=float(np.max(np.abs(b.errors - a.errors) / np.abs(a.errors))),
        max_rel_diff_val_errors=float(np.max(np.abs(b.val_errors - a.val_errors)
                                             / np.abs(a.val_errors))),
        same_alphas=bool(np.array_equal(a.alphas, b.alphas)),
        d_star=[a.d_star, b.d_star], d_val=[a.d_val, b.d_val],
        error=[a.error, b.error], error_at_d_val=[a.error_at_d_val, b.error_at_d_val])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"probe-blocks-{args.rows}x{args.dims}-folds{args.folds}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
