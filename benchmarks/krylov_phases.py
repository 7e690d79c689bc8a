"""Where a Krylov solve spends its time: ``python benchmarks/krylov_phases.py [--threads T]``.

Solves the knn20k case of ``contextures bench spectral`` (20 000 diamonds rows, knn(k=30),
d = 256) ``--repeats`` times and prints, per run, the seconds of each phase of
:func:`contextures.spectral.iterative.solve_krylov`: building the product engine, the Krylov
iteration (with its own split: products, orthogonalisation, Rayleigh-Ritz, restarts), the float64
refinement and ``finish``.
"""

import argparse
import time

from contextures.contexts import make_context
from contextures.experiments.spectral_bench import CASES, load_table
from contextures.spectral import iterative

PHASES = ("GramProducts", "block_krylov_schur", "_refine64", "finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: auto)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    case = CASES["knn20k"]
    X = load_table(case["data"], case["rows"])
    op = make_context(f"knn(k={case['k']})").fit(X).operator()
    seconds: dict[str, float] = {}
    stats: dict = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            if name == "block_krylov_schur":
                stats.update(result.stats)
            return result
        return wrapper

    for name in PHASES:
        setattr(iterative, name, timed(name, getattr(iterative, name)))
    for _ in range(args.repeats):
        seconds.clear()
        start = time.perf_counter()
        iterative.solve_krylov(op, case["d"], random_state=0, threads=args.threads)
        total = time.perf_counter() - start
        inner = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in stats.items())
        print(f"solve {total:.2f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items())
              + f" [{inner}]")


if __name__ == "__main__":
    main()
