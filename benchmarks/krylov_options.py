"""The float32 Krylov solve with and without its options, side by side in one process.

    python benchmarks/krylov_options.py [--repeats R] [--threads T]
    python benchmarks/krylov_options.py --expanders

Default: the knn20k case of ``contextures bench spectral`` (20 000 diamonds rows, knn(k=30),
d = 256), solved with ``solve_krylov`` under four settings called in turn (so that a slow spell
of the machine falls on all of them): the plain iteration on M with the products on one thread
(``power=1, split=False``), the split rows alone, M³ alone, and both (the default). Prints the
best and median seconds of each, its products and restarts, and the largest difference of its
s_i² from the default's.

``--expanders``: contexts uniform on k random other points (n = 3000–5000): low, flat spectra,
the hard case for M³. For each, M and M³ (the default, which gives way to M when s_d² < 0.1)
against ARPACK (tol=0) on the same operator.
"""

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp

from contextures.contexts import make_context
from contextures.contexts.operator import ContextOperator
from contextures.experiments.spectral_bench import CASES, load_table
from contextures.spectral import solve, solve_krylov

SETTINGS = {
    "M, one-thread products": {"power": 1, "split": False},
    "M, split rows": {"power": 1, "split": True},
    "M³, one-thread products": {"power": 3, "split": False},
    "M³, split rows (default)": {},
}
EXPANDERS = [(3000, 12, 30), (3000, 10, 30), (3000, 9, 60), (5000, 10, 80), (3000, 40, 30),
             (3000, 200, 20)]


def random_neighbours(n: int, k: int, seed: int = 2) -> ContextOperator:
    """P⁺ uniform on k random other points of each row."""
    rng = np.random.default_rng(seed)
    cols = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, k))) % n
    P = sp.csr_matrix((np.full(n * k, 1.0 / k), cols.ravel(), np.arange(0, n * k + 1, k)),
                      shape=(n, n))
    return ContextOperator(P)


def knn20k(repeats: int, threads: int | None) -> None:
    case = CASES["knn20k"]
    X = load_table(case["data"], case["rows"])
    op = make_context(f"knn(k={case['k']})").fit(X).operator()
    seconds = {name: [] for name in SETTINGS}
    results = {}
    for _ in range(repeats):
        for name, options in SETTINGS.items():
            start = time.perf_counter()
            results[name] = solve_krylov(op, case["d"], precision="float32", random_state=0,
                                         threads=threads, **options)
            seconds[name].append(time.perf_counter() - start)
    reference = results["M³, split rows (default)"].eigenvalues
    for name, times in seconds.items():
        result = results[name]
        note = next(n for n in result.notes if "Krylov-Schur" in n)
        steps = note.split(", float32")[0].split(": ", 1)[1]
        print(f"{name:26s} best {min(times):.2f} s, median {statistics.median(times):.2f} s; "
              f"{steps}; max |Δs²| {np.abs(result.eigenvalues - reference).max():.1e}, "
              f"max residual {result.max_residual:.1e}")


def expanders() -> None:
    for n, k, d in EXPANDERS:
        op = random_neighbours(n, k)
        reference = solve(op, d, "arpack").eigenvalues
        line = f"n {n}, k {k}, d {d}, s_d² = {reference[-1]:.3f}:"
        for name, power in (("M", 1), ("M³", None)):
            start = time.perf_counter()
            result = solve_krylov(op, d, precision="float32", power=power, random_state=0)
            seconds = time.perf_counter() - start
            again = any("run again on M" in note for note in result.notes)
            line += (f"  {name} {seconds:.2f} s (|Δs²| ≤ {np.abs(result.eigenvalues - reference).max():.0e}"
                     f"{', gave way to M' if again else ''})")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="solver threads (default: auto)")
    parser.add_argument("--expanders", action="store_true", help="the random-neighbour contexts")
    args = parser.parse_args()
    if args.expanders:
        expanders()
    else:
        knn20k(args.repeats, args.threads)


if __name__ == "__main__":
    main()
