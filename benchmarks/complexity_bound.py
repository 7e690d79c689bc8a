"""The two-term bound against the measured probe error, and κ's ranking of contexts.

    python benchmarks/complexity_bound.py [--out benchmarks/results/semisup/bound] [--quick]
        [--contexts "knn(k=10);knn(k=30);knn(k=100);rbf(gamma=median)"] [--seeds 0]
        [--max-rows 4000] [--workers 1]

Runs :mod:`contextures.experiments.complexity_bound` on the offline suite (one cell per dataset,
context and seed, on the grid runner: resumable) and writes ``summary.json`` and ``table.md``.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from contextures.experiments.complexity_bound import CONTEXTS, BoundSettings, run_bound_study

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/semisup/bound")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--contexts", default=";".join(CONTEXTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--max-rows", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    values = {"contexts": tuple(c.strip() for c in args.contexts.split(";") if c.strip()),
              "seeds": tuple(int(s) for s in args.seeds.split(",")),
              "max_rows": args.max_rows}
    settings = BoundSettings.quick() if args.quick else BoundSettings(**values)
    summary = run_bound_study(args.out, settings, workers=args.workers,
                              backend="serial" if args.workers == 1 else "joblib",
                              threads_per_worker=1, progress=False, echo=print)
    print(open(f"{args.out}/table.md").read())
    print(f"{len(summary['rows'])} (dataset, context, d) readings, {len(summary['failed'])} "
          "failed cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
