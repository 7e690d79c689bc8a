"""The scale cases of the spectral benchmark (``knn1m``, ``ann200k``), on seeded synthetic data.

See :mod:`contextures.experiments.spectral_bench` for the protocol; these cases run only when
named with ``--cases``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, atomic_write_text
from ..spectral.select import solve
from .spectral_baselines import AGREEMENT, _sparse_gram, arpack_gram, sklearn_knn_q


def _all_rows(data: str) -> np.ndarray:
    """Every row of a dataset spec, preprocessed on all of them (standardised numerics)."""
    import warnings

    from ..datasets import load_dataset
    from ..datasets.preprocess import fit_preprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, (X,) = fit_preprocess(load_dataset(data).X_raw)
    return X


def synthetic_table(kind: str, rows: int, features: int, seed: int = 0) -> np.ndarray:
    """The scale cases' seeded synthetic data (see the module docstring)."""
    rng = np.random.default_rng(seed)
    if kind == "mixture":
        centres = rng.standard_normal((20, features)) * 3.0
        widths = rng.uniform(0.5, 1.5, size=20)
        label = rng.integers(20, size=rows)
        return centres[label] + rng.standard_normal((rows, features)) * widths[label, None]
    if kind == "embedding":
        latent = 16
        centres = rng.standard_normal((20, latent)) * 1.5
        label = rng.integers(20, size=rows)
        Z = centres[label] + rng.standard_normal((rows, latent))
        A = rng.standard_normal((latent, features)) / np.sqrt(latent)
        return Z @ A + 0.1 * rng.standard_normal((rows, features))
    raise ValueError(f"unknown synthetic table {kind!r}")


def synthetic_parquet(kind: str, rows: int, features: int, folder: Path) -> Path:
    """The synthetic table written once as Parquet (columns x0, x1, ...) in ``folder``."""
    import pandas as pd

    path = Path(folder) / f"synthetic-{kind}-{rows}x{features}.parquet"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        X = synthetic_table(kind, rows, features)
        atomic_write_bytes(path, pd.DataFrame(X, columns=[f"x{i}" for i in range(features)])
                           .to_parquet(None))
    return path


def run_knn_cli_case(name: str, config: dict, folder: Path, log=print) -> dict:
    """The whole ``contextures spectrum`` command against scikit-learn + ARPACK (``knn1m``)."""
    from ..spectral.threads import default_threads, solver_threads

    path = synthetic_parquet(config["data"].split(":")[1], config["rows"], config["features"],
                             folder)
    data, spec, d = f"parquet:{path}", f"knn(k={config['k']})", config["d"]
    json_out = Path(folder) / f"{name}.cli.json"
    cmd = [sys.executable, "-m", "contextures", "spectrum", "--data", data, "--context", spec,
           "-d", str(d), "--all-rows", "--json", str(json_out)]
    log(f"[{name}] {config['rows']} × {config['features']} ({config['data']}), {spec}, d = {d}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    atomic_write_text(Path(folder) / f"{name}.cli.stdout", proc.stdout)
    atomic_write_text(Path(folder) / f"{name}.cli.stderr", proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"contextures spectrum failed: {proc.stderr.strip()[-2000:]}")
    inner = json.loads(json_out.read_text())
    progress_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("contextures: ")]
    log(f"[{name}] ours (the whole command): {wall:.1f} s wall, {len(progress_lines)} progress "
        f"lines on stderr; build + solve {inner['seconds']:.1f} s, solver {inner['solver']}")
    out: dict = {"case": name, "n": config["rows"], "features": config["features"],
                 "context": spec, "d": d, "command": "contextures " + " ".join(cmd[3:]),
                 "seconds_ours": wall, "seconds_build_and_solve": inner["seconds"],
                 "solver": inner["solver"], "max_residual": inner["max_residual"],
                 "progress_lines": len(progress_lines)}
    X = _all_rows(data)
    threads = default_threads()
    out["threads"] = threads
    with solver_threads(threads):
        start = time.perf_counter()
        Q = sklearn_knn_q(X, config["k"])
        t_neighbors = time.perf_counter() - start
        reference = arpack_gram(_sparse_gram(Q), X.shape[0], d + 1)
        t_base = time.perf_counter() - start
    ours = np.asarray(inner["singular_values"]) ** 2
    diff = float(np.max(np.abs(ours - reference[1:])))
    ratio = t_base / wall
    out.update(baseline="sklearn NearestNeighbors + eigsh(v -> Q(Q^T v), tol=0)",
               seconds_baseline=t_base, seconds_baseline_neighbors=t_neighbors, ratio=ratio,
               target_ratio=config["target"], max_abs_diff_s2=diff,
               agrees=bool(diff <= AGREEMENT))
    log(f"[{name}] baseline: {t_base:.1f} s (neighbours {t_neighbors:.1f} s)  ->  ratio "
        f"{ratio:.1f}x (target {config['target']}x); max |s_i² − ARPACK| = {diff:.1e}")
    return out


def run_ann_case(name: str, config: dict, log=print) -> dict:
    """Exact against approximate neighbour lists on clustered embeddings (``ann200k``)."""
    from ..contexts.approximate import approximate_kneighbors
    from ..contexts.cache import ContextCache
    from ..contexts.knn import KNNContext
    from ..contexts.neighbors import NeighborLists, kneighbors
    from ..spectral.threads import default_threads

    n, F, k, d = config["rows"], config["features"], config["k"], config["d"]
    X = synthetic_table(config["data"].split(":")[1], n, F)
    log(f"[{name}] {n} × {F} ({config['data']}), k = {k}, d = {d}")
    threads = default_threads()
    start = time.perf_counter()
    exact_i, exact_d2 = kneighbors(X, k)
    t_exact = time.perf_counter() - start
    log(f"[{name}] exact lists (brute force): {t_exact:.1f} s")
    start = time.perf_counter()
    approx_i, approx_d2, info = approximate_kneighbors(X, k)
    t_approx = time.perf_counter() - start
    recall = float((approx_d2 <= exact_d2[:, -1:]).mean())
    log(f"[{name}] approximate lists: {t_approx:.1f} s ({t_exact / t_approx:.1f}x faster), "
        f"recall {recall:.4f} over every row, {info.recall:.4f} ± {info.recall_se:.4f} on the "
        f"{info.sample.size} sampled rows (nlist {info.nlist}, nprobe {info.nprobe})")
    spectra = {}
    for search, lists in (("exact", NeighborLists(exact_i, exact_d2)),
                          ("approx", NeighborLists(approx_i, approx_d2, None, "approx", info,
                                                   [info.note()]))):
        cache = ContextCache(X, max_k=k)
        cache._neighbors[None if search == "exact" else (None, search)] = lists
        context = KNNContext(k=k, search=search).fit(X, cache=cache)
        op = context.operator()
        start = time.perf_counter()
        result = solve(op, d, "auto", random_state=0, threads=threads)
        spectra[search] = (result, time.perf_counter() - start)
    exact_s = spectra["exact"][0].singular_values
    approx_result = spectra["approx"][0]
    ds = exact_s - approx_result.singular_values
    estimate = getattr(approx_result, "approximation_effect", None)
    out = {"case": name, "n": n, "features": F, "k": k, "d": d, "threads": threads,
           "seconds_exact_lists": t_exact, "seconds_approximate_lists": t_approx,
           "speedup": t_exact / t_approx, "recall_all_rows": recall,
           "recall_sampled": info.recall, "recall_sampled_se": info.recall_se,
           "nlist": info.nlist, "nprobe": info.nprobe, "candidates": info.candidates,
           "singular_values_exact": exact_s.tolist(),
           "singular_values_approx": approx_result.singular_values.tolist(),
           "max_abs_diff_s": float(np.max(np.abs(ds))),
           "estimated_diff_s": None if estimate is None else np.asarray(estimate).tolist(),
           "approx_result_exact_flag": approx_result.exact, "approx_notes": approx_result.notes,
           "seconds_solve_exact": spectra["exact"][1], "seconds_solve_approx": spectra["approx"][1],
           "target_recall": config["target_recall"], "target_speedup": config["target_speedup"],
           "target_ds": config["target_ds"]}
    out["meets_targets"] = bool(recall >= config["target_recall"]
                                and out["speedup"] >= config["target_speedup"]
                                and out["max_abs_diff_s"] <= config["target_ds"])
    log(f"[{name}] s_1..s_{d}: max |s_exact − s_approx| = {out['max_abs_diff_s']:.1e} "
        f"(first-order estimate from the sample: "
        f"{np.max(np.abs(estimate)) if estimate is not None else float('nan'):.1e})")
    return out

