"""Approximate k-nearest-neighbour lists (the ``ann`` extra, faiss-cpu), with their measured recall.

A faiss inverted-file index on the leading principal axes of the rows proposes candidates, which
are re-ranked by exact squared distance (the order of :mod:`contextures.contexts.neighbors`:
distance, then index). The recall against exact lists is measured on ``RECALL_SAMPLE`` sampled
rows, and the number of probed cells doubles until it reaches ``APPROX_TARGET_RECALL``.
:func:`~contextures.contexts.neighbors.choose_search` decides when these lists are used, and
:class:`~contextures.contexts.neighbors.NeighborLists` carries the :class:`ApproximateSearch`
that describes them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import _progress as progress
from .._memory import check_allocation
from .neighbors import _CHUNK_ROWS, _finish_rows, default_search_threads, kneighbors

APPROX_TARGET_RECALL = 0.98  # the probe count doubles until the sampled recall reaches this
RECALL_SAMPLE = 500          # rows whose exact lists measure the recall
APPROX_PCA_VARIANCE = 0.99   # candidates are searched on the axes keeping this share of variance


@dataclass
class ApproximateSearch:
    """How approximate neighbour lists were made and how good they are.

    ``sample`` are the rows whose exact lists (``sample_lists``, ``sample_sq_distances``) were
    computed to measure the ``recall``: the share of the approximate neighbours of a sampled row
    that are at most as far as its exact k-th neighbour (ties count as found), averaged over the
    sample, with its standard error ``recall_se``.
    """

    backend: str
    nlist: int
    nprobe: int
    candidates: int
    recall: float
    recall_se: float
    sample: np.ndarray
    sample_lists: np.ndarray
    sample_sq_distances: np.ndarray
    seconds: float

    def note(self) -> str:
        return (f"approximate neighbour lists ({self.backend}: {self.nprobe} of {self.nlist} "
                f"cells probed, {self.candidates} candidates re-ranked by exact distance; "
                f"{self.seconds:.1f} s): recall {self.recall:.4f} ± {self.recall_se:.4f} "
                f"against exact lists on {self.sample.size} sampled rows")


def exact_rows(X: np.ndarray, rows: np.ndarray, k: int, *, memory_budget=None,
               n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The exact lists (self left out by index) of some training rows: (indices, sq distances)."""
    lists, d2 = kneighbors(X, k + 1, X[rows], memory_budget=memory_budget, n_jobs=n_jobs)
    is_self = lists == rows[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False   # more than k duplicates of smaller index: drop last
    return lists[keep].reshape(-1, k), d2[keep].reshape(-1, k)


def sampled_recall(found_d2: np.ndarray, exact_d2: np.ndarray) -> tuple[float, float]:
    """Mean share (and its standard error) of found neighbours within the exact k-th distance."""
    share = (found_d2 <= exact_d2[:, -1:]).mean(axis=1)
    se = float(share.std(ddof=1) / np.sqrt(share.size)) if share.size > 1 else 0.0
    return float(share.mean()), se


def _projection_dims(sample: np.ndarray, kept: float = APPROX_PCA_VARIANCE) -> tuple[int, float]:
    """The fewest principal axes keeping ``kept`` of the variance (a multiple of 4, at least
    min(F, 16)), and the share they keep; F itself when that saves less than a quarter."""
    F = sample.shape[1]
    centred = sample - sample.mean(axis=0)
    var = np.clip(np.linalg.eigvalsh(centred.T @ centred)[::-1], 0.0, None)
    share = np.cumsum(var) / max(float(var.sum()), 1e-300)
    r = int(np.searchsorted(share, kept) + 1)
    r = min(F, max(min(F, 16), 4 * -(-r // 4)))
    if r > 0.75 * F:
        return F, 1.0
    return r, float(share[r - 1])


def approximate_kneighbors(X: np.ndarray, k: int, *, random_state=0, memory_budget=None,
                           n_jobs: int | None = None,
                           target_recall: float = APPROX_TARGET_RECALL
                           ) -> tuple[np.ndarray, np.ndarray, ApproximateSearch]:
    """Approximate k-nearest-neighbour lists of the training rows (self left out by index).

    A faiss index proposes candidates and they are ranked exactly: the rows are projected on
    their leading principal axes (those keeping ``APPROX_PCA_VARIANCE`` of the variance, when
    that drops at least a quarter of the dimensions), grouped into about 2√n k-means cells
    (``nlist``) and stored in half precision (faiss ``PCA{r},IVF{nlist},SQfp16``); each row scans
    the cells of its ``nprobe`` nearest centroids for m = k + 1 + max(2, k/8) candidates, whose
    distances are then recomputed exactly in float64 on every feature and ranked in the
    (squared distance, index) order of the exact lists. ``nprobe`` grows by a quarter until the recall on
    ``RECALL_SAMPLE`` seeded rows, against their exact lists, reaches ``target_recall``, or every
    cell is probed. Returns ``(indices, sq_distances, ApproximateSearch)``.
    """
    import faiss

    start = time.perf_counter()
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, F = X.shape
    threads = max(1, default_search_threads() if n_jobs is None else int(n_jobs))
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, size=min(n, RECALL_SAMPLE), replace=False))
    exact_i, exact_d2 = exact_rows(X, sample, k, memory_budget=memory_budget, n_jobs=threads)
    nlist = int(min(max(16, round(2 * np.sqrt(n))), max(1, n // 40)))
    m = min(n, k + 1 + max(2, k // 8))
    check_allocation(4.0 * n * F + 8.0 * 3 * _CHUNK_ROWS * threads * 4 * m, memory_budget,
                     "the approximate neighbour index")
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    columns = np.ascontiguousarray(X.T)
    train = Xf[np.sort(rng.choice(n, size=min(n, max(32 * nlist, 20 * F)), replace=False))]
    dims, kept = _projection_dims(train.astype(np.float64))
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        prefix = f"PCA{dims}," if dims < F else ""
        index = faiss.index_factory(F, f"{prefix}IVF{nlist},SQfp16")
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = 10
        ivf.cp.min_points_per_centroid = 16
        ivf.cp.seed = int(rng.integers(2**31 - 1))
        index.train(train)
        index.add(Xf)

        def search(rows: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
            _, cand = index.search(Xf[rows], m)
            cand = cand.astype(np.int64)
            missing = cand < 0                 # cells holding fewer than m points in all
            cand[missing] = np.broadcast_to(rows[:, None], cand.shape)[missing]
            return _finish_rows(X[rows], rows, cand, X, k, True, columns)

        nprobe = min(nlist, max(4, nlist // 64))
        while True:
            ivf.nprobe = nprobe
            found_i, found_d2 = search(sample, m)
            recall, _ = sampled_recall(found_d2, exact_d2)
            if recall >= target_recall or nprobe >= nlist:
                break
            nprobe = min(nlist, -(-5 * nprobe // 4))
        out_i = np.empty((n, k), dtype=np.int64)
        out_d2 = np.empty((n, k))
        bar = progress.task(f"approximate neighbour search (k = {k})", n, "rows")
        step = _CHUNK_ROWS * threads
        for r0 in range(0, n, step):
            rows = np.arange(r0, min(n, r0 + step))
            _, cand = index.search(Xf[rows], m)
            cand = cand.astype(np.int64)
            missing = cand < 0
            cand[missing] = np.broadcast_to(rows[:, None], cand.shape)[missing]

            def finish(part: np.ndarray, rows=rows, cand=cand) -> None:
                out_i[rows[part]], out_d2[rows[part]] = _finish_rows(
                    X[rows[part]], rows[part], cand[part], X, k, True, columns)

            parts = np.array_split(np.arange(rows.size), threads)
            if threads == 1:
                finish(parts[0])
            else:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(finish, parts))
            bar.update(advance=rows.size)
        bar.close()
    finally:
        faiss.omp_set_num_threads(previous)
    # a row that found fewer than k other points (tiny cells) gets its exact list
    short = np.flatnonzero(out_i[:, -1] >= n)
    if short.size:
        out_i[short], out_d2[short] = exact_rows(X, short, k, memory_budget=memory_budget,
                                                 n_jobs=threads)
    recall, recall_se = sampled_recall(out_d2[sample], exact_d2)
    backend = (f"faiss PCA{dims},IVF{nlist},SQfp16 ({kept:.3f} of the variance on {dims} of "
               f"{F} axes)" if dims < F else f"faiss IVF{nlist},SQfp16")
    info = ApproximateSearch(backend, nlist, int(ivf.nprobe), m, recall, recall_se, sample,
                             exact_i, exact_d2, time.perf_counter() - start)
    return out_i, out_d2, info
