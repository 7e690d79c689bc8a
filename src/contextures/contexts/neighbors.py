"""k-nearest-neighbour lists with a documented order: (squared distance, index).

The rules every KNN-type context relies on:

- **Order.** Neighbours are sorted by squared Euclidean distance computed directly as
  Σ_f (x_f − z_f)² (not by the ‖x‖² + ‖z‖² − 2x·z expansion, whose rounding would make exact ties
  and exact duplicates look different), and **ties are broken by the smaller index** (a stable
  order). The k nearest are the first k of this total order, so the lists for any k are the first
  k columns of the lists for a larger k (what :class:`NeighborLists` exploits).
- **Self.** When the queries are the training points themselves, row i excludes *itself, by
  index*; a duplicate x_j = x_i (j ≠ i) is a legitimate neighbour at distance 0.
- **Size.** There are n − 1 other points, so k ≤ n − 1 for the training sample and k ≤ n for
  new points.

The candidates come from a search index (:func:`choose_algorithm`):

- up to ``KD_TREE_MAX_FEATURES`` features, scipy's ``cKDTree`` built on the centred data
  rotated to its principal axes, with the numerically null directions (exact linear dependencies
  between features) dropped. Rotation preserves distances and dropping a null direction can only
  shorten them, so the tree's distances never exceed the true ones (up to rounding), which is all
  the completeness check below needs; principal axes make the tree's splits follow the spread of
  the data (measured about 20 % faster on 11 correlated columns). The sample's own rows are
  queried in the tree's leaf order (10–25 % faster), on ``n_jobs`` threads (the tree's own
  ``workers``). scipy's tree (sliding-midpoint splits, 24 points per leaf) answers these queries
  2.5–4× faster than scikit-learn's ``KDTree`` (measured on 20 000 × 6 diamonds and
  100 000 × 11 flights rows, ``k = 34`` candidates, 2 threads: 0.10 s against 0.40 s and
  3.6 s against 11.6 s);
- above, scikit-learn's brute force (BLAS; a tree stops pruning in high dimension).

The search returns a few more candidates than needed (k, the point itself, and
``2 + k // 16`` more); distances are recomputed exactly, and a row whose k-th distance is not
safely below the last candidate's search distance (exact ties at the boundary, many duplicates) is
settled by one more query: with the tree, a ball query of radius the k-th exact distance (plus the
rounding allowance) gathers every point that can be among its k nearest, whatever the number of
ties, so no row is searched twice more; with brute force the row is queried again with twice as
many candidates. The result is exact and independent of the search algorithm.

Scale. The queries are cut into chunks of ``_CHUNK_ROWS`` rows that ``n_jobs`` threads take in
turn (the tree's query, the exact distances and the sort of a chunk all run on one thread; scipy's
query releases the GIL), so every step of the search is parallel, and the ball queries touch only
the rows that need them. Inside :func:`contextures._progress.reporting` the search reports the rows
done. Nothing is held beyond the n × k lists and one chunk of candidates per thread.

Approximate lists (:func:`~contextures.contexts.approximate.approximate_kneighbors`, the ``ann`` extra): a faiss inverted-file
index on the leading principal axes proposes candidates that are re-ranked by exact distance, and
the recall against exact lists on sampled rows is measured (and raised by probing more cells
until it reaches a target). :func:`choose_search` decides between ``exact``, ``approx`` and
``auto``; approximate lists are used by ``auto`` only above ``APPROX_AUTO_ROWS`` rows in more than
``KD_TREE_MAX_FEATURES`` features, where the exact search is brute force, O(n²·F). faiss-cpu was
chosen over hnswlib and pynndescent by measurement (200 000 × 128 clustered embedding, k = 30,
2 threads on a shared 2-core machine: faiss IVF 49 s at recall 1.000, hnswlib 67 s at 0.982,
faiss HNSW 111 s at 0.951, pynndescent 228 s at 0.9999); it also ships wheels for every platform
(hnswlib builds from source) and needs no JIT compiler (pynndescent needs numba).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree
from sklearn.neighbors import NearestNeighbors

from .. import _progress as progress
from .._memory import check_allocation
from .._resources import available_cores
from ..exceptions import ParameterError

if TYPE_CHECKING:
    from .approximate import ApproximateSearch

# measured on 20 000 × 6 (diamonds) and 100 000 × 11 (flights) standardised columns: scikit-learn's
# kd-tree took 1/7 and 1/2 of the CPU time of its brute force, and scipy's tree is 2.5-4x faster
# again; the crossover above 11 features was not measured (16 is a guess; a tree stops pruning in
# high dimension)
KD_TREE_MAX_FEATURES = 16
KD_TREE_LEAF_SIZE = 64
"""Points per kd-tree leaf. Chosen on two synthetic tables (200 000 × 8, k = 30: 1.13× faster
than 24; 150 000 × 14, k = 10: 1.30×) and measured after the choice on flights, diamonds, CPS1988
and HI (1.03–1.18× faster, never slower; ``benchmarks/kdtree_leaf.py``): a larger leaf scans more
points per leaf and visits fewer nodes, which suits the query's short candidate lists."""
SEARCHES = ("auto", "exact", "approx")
APPROX_AUTO_ROWS = 100_000   # auto: approximate lists from this many rows (above 16 features)
APPROX_MIN_ROWS = 5_000      # an approximate request on fewer rows gets exact lists
_GATHER_BYTES = 1 << 26  # rows × candidates per gather block
_NULL_DIRECTION = 1e-12  # principal variances below this fraction of the largest are dropped
_CHUNK_ROWS = 4096       # query rows per task of the thread pool
_BALL_ENTRIES = 1 << 22  # ball candidates gathered at once for the rows the first pass left open


def default_search_threads() -> int:
    """Threads of the neighbour search: every core this process may use (the affinity mask
    capped by the control group's CPU quota, :func:`contextures._resources.available_cores`)."""
    return available_cores()


def choose_algorithm(n_features: int) -> str:
    """kd-tree (on principal axes) in low dimension, brute force (BLAS) otherwise."""
    return "kd_tree" if n_features <= KD_TREE_MAX_FEATURES else "brute"


def approximate_available() -> bool:
    """Whether the approximate backend (the ``ann`` extra: faiss-cpu) is installed."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def choose_search(n: int, n_features: int, search: str = "auto") -> tuple[str, str | None]:
    """``exact`` or ``approx`` for a request, and a note when the request was not followed.

    - ``exact``: always exact.
    - ``approx``: the approximate backend, except on fewer than ``APPROX_MIN_ROWS`` rows, where
      the exact search is as fast and is used instead (with a note).
    - ``auto``: approximate in the brute-force range (more than ``KD_TREE_MAX_FEATURES``
      features) from ``APPROX_AUTO_ROWS`` rows on, when the ``ann`` extra is installed; exact
      otherwise (the kd-tree stays exact at any n in low dimension).
    """
    if search not in SEARCHES:
        raise ParameterError(f"search must be one of {', '.join(SEARCHES)}, got {search!r}")
    if search == "exact":
        return "exact", None
    if search == "approx":
        if n < APPROX_MIN_ROWS:
            return "exact", (f"approximate neighbour search asked on {n} rows, fewer than "
                             f"{APPROX_MIN_ROWS}: exact lists used (as fast at this size)")
        if not approximate_available():
            raise ParameterError("the approximate neighbour search needs faiss-cpu: "
                                 "pip install 'contextures[ann]'")
        return "approx", None
    if (n >= APPROX_AUTO_ROWS and n_features > KD_TREE_MAX_FEATURES
            and approximate_available()):
        return "approx", None
    return "exact", None


def _exact_sq_distances(Q: np.ndarray, X: np.ndarray, cand: np.ndarray,
                        columns: np.ndarray | None = None) -> np.ndarray:
    """Σ_f (Q[r, f] − X[cand[r, c], f])², computed directly (features summed in order), one
    feature column at a time (a gather of one column per feature: measured 2.4× faster than
    gathering whole rows into a rows × candidates × features array on 6–11 features, and 3.7×
    on 128). ``columns`` is X's transpose, made once by callers that make many calls."""
    out = np.zeros(cand.shape, dtype=np.float64)
    if columns is None:
        columns = np.ascontiguousarray(X.T)
    rows_per_block = max(1, _GATHER_BYTES // (8 * max(1, cand.shape[1])))
    for r0 in range(0, cand.shape[0], rows_per_block):
        r1 = min(cand.shape[0], r0 + rows_per_block)
        block = out[r0:r1]
        for f in range(X.shape[1]):
            diff = np.take(columns[f], cand[r0:r1])
            diff -= Q[r0:r1, f, None]
            diff *= diff
            block += diff
    return out


class _PrincipalKDTree:
    """A kd-tree on (X − mean) R, R the principal axes of X with null directions dropped.

    ``query(Q, m)`` returns the (search distances, indices) of the m nearest training points of
    each row of Q, distances measured in the rotated space (never above the true distance, up to
    rounding), computed on ``threads`` threads.
    """

    def __init__(self, X: np.ndarray, threads: int):
        self.center = X.mean(axis=0)
        Xc = X - self.center
        var, axes = np.linalg.eigh(Xc.T @ Xc)
        keep = var > _NULL_DIRECTION * max(float(var[-1]), 1e-300)
        if not keep.any():          # every row identical: one direction is enough
            keep[-1] = True
        self.rotation = np.ascontiguousarray(axes[:, keep][:, ::-1])
        # sliding-midpoint splits without the median rebalancing: faster to build and to query
        self.tree = cKDTree(Xc @ self.rotation, leafsize=KD_TREE_LEAF_SIZE,
                            balanced_tree=False, compact_nodes=False)
        self.threads = max(1, int(threads))

    def query_order(self, n: int) -> np.ndarray:
        """The training rows in the tree's leaf order: queried in this order, consecutive queries
        visit the same nodes (measured 10–25 % faster than the data's own order)."""
        return np.asarray(self.tree.indices, dtype=np.int64)

    def rotate(self, Q: np.ndarray) -> np.ndarray:
        return (Q - self.center) @ self.rotation

    def query(self, Q: np.ndarray, m: int, workers: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        Z = self.rotate(Q)
        dist, ind = self.tree.query(Z, k=m, workers=self.threads if workers is None else workers)
        nq = Z.shape[0]
        return dist.reshape(nq, m), ind.reshape(nq, m).astype(np.intp, copy=False)


class _BruteForce:
    """scikit-learn's brute-force search (BLAS expansion of the distances)."""

    def __init__(self, X: np.ndarray, threads: int):
        self.search = NearestNeighbors(algorithm="brute", n_jobs=threads).fit(X)

    def query_order(self, n: int) -> np.ndarray:
        return np.arange(n)

    def query(self, Q: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        return self.search.kneighbors(Q, n_neighbors=m)


def _search_index(X: np.ndarray, algorithm: str, threads: int):
    if algorithm == "kd_tree":
        return _PrincipalKDTree(X, threads)
    if algorithm == "brute":
        return _BruteForce(X, threads)
    raise ParameterError(f"unknown neighbour search algorithm {algorithm!r}; "
                         "use 'auto', 'kd_tree' or 'brute'")


def _finish_rows(Qp: np.ndarray, rows: np.ndarray, cand: np.ndarray, X: np.ndarray, k: int,
                 self_query: bool, columns: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The first k candidates of each row in the (exact squared distance, index) order, the row
    itself left out by index when the queries are the training rows."""
    n = X.shape[0]
    d2 = _exact_sq_distances(Qp, X, cand, columns)
    if self_query:
        is_self = cand == rows[:, None]
        d2[is_self] = np.inf
        cand = np.where(is_self, n, cand)  # sorts after every real neighbour
    order = np.lexsort((cand, d2), axis=-1)
    return (np.take_along_axis(cand, order, axis=1)[:, :k],
            np.take_along_axis(d2, order, axis=1)[:, :k])


def _ball_rows(index: _PrincipalKDTree, Qp: np.ndarray, rows: np.ndarray, r2: np.ndarray,
               X: np.ndarray, k: int, self_query: bool,
               memory_budget) -> tuple[np.ndarray, np.ndarray]:
    """Exact lists of rows whose candidates did not settle them: every training point within the
    search radius √r2 (the k-th exact distance plus the rounding allowance) is gathered in one
    ball query, whatever the number of ties, and the first k in the total order are kept."""
    Z = index.rotate(Qp)
    radius = np.sqrt(r2)
    counts = np.asarray(index.tree.query_ball_point(Z, radius, return_length=True), dtype=np.int64)
    out_idx = np.empty((rows.size, k), dtype=np.int64)
    out_d2 = np.empty((rows.size, k), dtype=np.float64)
    need = k + int(self_query)
    short = counts < need   # rounding beyond the allowance: these rows take every point
    lo = 0
    while lo < rows.size:
        hi = lo + 1
        total = counts[lo]
        while hi < rows.size and total + counts[hi] <= _BALL_ENTRIES:
            total += counts[hi]
            hi += 1
        check_allocation(8.0 * 4 * total, memory_budget, f"{total} ball candidates")
        group = np.arange(lo, hi)
        wide = group[short[group]]
        narrow = group[~short[group]]
        if narrow.size:
            lists = index.tree.query_ball_point(Z[narrow], radius[narrow], return_sorted=False)
            lengths = counts[narrow]
            flat = np.concatenate([np.asarray(a, dtype=np.int64) for a in lists])
            owner = np.repeat(np.arange(narrow.size), lengths)
            d2 = np.zeros(flat.size)
            for f in range(X.shape[1]):
                diff = np.take(X[:, f], flat)
                diff -= Qp[narrow, f][owner]
                diff *= diff
                d2 += diff
            if self_query:
                is_self = flat == rows[narrow][owner]
                d2[is_self] = np.inf
                flat = np.where(is_self, X.shape[0], flat)
            order = np.lexsort((flat, d2, owner))
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            pick = order[(starts[:, None] + np.arange(k)[None, :]).ravel()].reshape(-1, k)
            out_idx[narrow] = flat[pick]
            out_d2[narrow] = d2[pick]
        for i in wide:
            cand = np.arange(X.shape[0])[None, :]
            out_idx[i], out_d2[i] = (a[0] for a in _finish_rows(
                Qp[i:i + 1], rows[i:i + 1], cand, X, k, self_query))
        lo = hi
    return out_idx, out_d2


def kneighbors(X_train: np.ndarray, k: int, X_query: np.ndarray | None = None, *,
               algorithm: str = "auto", memory_budget: int | None = None,
               n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest training points of each query, ordered by (squared distance, index).

    With ``X_query=None`` the queries are the training rows and each excludes itself by index.
    ``n_jobs`` threads share the queries (default: :func:`default_search_threads`).
    Returns ``(indices, sq_distances)``, both (n_query × k). See the module docstring for the rules.
    """
    X_train = np.ascontiguousarray(X_train, dtype=np.float64)
    n = X_train.shape[0]
    self_query = X_query is None
    Q = X_train if self_query else np.ascontiguousarray(X_query, dtype=np.float64)
    available = n - 1 if self_query else n
    if not 1 <= k <= available:
        raise ParameterError(f"k must satisfy 1 ≤ k ≤ {available} (n = {n} samples"
                             f"{', the point itself excluded' if self_query else ''}), got k={k}")
    nq = Q.shape[0]
    if nq == 0:
        return np.empty((0, k), dtype=np.int64), np.empty((0, k))
    if algorithm == "auto":
        algorithm = choose_algorithm(X_train.shape[1])
    threads = max(1, default_search_threads() if n_jobs is None else int(n_jobs))
    index = _search_index(X_train, algorithm, threads)

    out_idx = np.empty((nq, k), dtype=np.int64)
    out_d2 = np.empty((nq, k), dtype=np.float64)
    # a rounding allowance for the search's own distances (brute force uses the expansion, the
    # tree a rotated copy of the data)
    sq_norm = np.einsum("ij,ij->i", X_train, X_train)
    q_norm = sq_norm if self_query else np.einsum("ij,ij->i", Q, Q)
    slack = 1e-9 * (q_norm + sq_norm.max()) + 1e-300
    n_cand = min(n, k + int(self_query) + 2 + k // 16)
    check_allocation(8.0 * 3 * min(nq, _CHUNK_ROWS * threads) * n_cand, memory_budget,
                     f"neighbour candidates of {min(nq, _CHUNK_ROWS * threads)} rows")
    order = index.query_order(n) if self_query else np.arange(nq)
    columns = np.ascontiguousarray(X_train.T)
    bar = progress.task(f"neighbour search ({algorithm}, k = {k})", nq, "rows")

    if algorithm == "kd_tree":
        def work(rows: np.ndarray) -> None:
            Qp = Q[rows]
            dist, cand = index.query(Qp, n_cand, workers=1)
            idx, d2 = _finish_rows(Qp, rows, cand, X_train, k, self_query, columns)
            if n_cand < n:
                # points not returned are at search distance ≥ the last one returned, and the
                # search distance never exceeds the true one (beyond the slack)
                open_ = ~(d2[:, -1] < dist[:, -1] ** 2 - slack[rows])
                if open_.any():
                    idx[open_], d2[open_] = _ball_rows(
                        index, Qp[open_], rows[open_], d2[open_, -1] + slack[rows[open_]],
                        X_train, k, self_query, memory_budget)
            out_idx[rows] = idx
            out_d2[rows] = d2
            bar.update(advance=rows.size)

        size = int(min(_CHUNK_ROWS, max(256, -(-nq // (4 * threads)))))
        chunks = [order[i:i + size] for i in range(0, nq, size)]
        if threads == 1 or len(chunks) == 1:
            for rows in chunks:
                work(rows)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(work, chunks))
        bar.close()
        return out_idx, out_d2

    pending = order
    while pending.size:
        check_allocation(8.0 * 3 * min(pending.size, _CHUNK_ROWS * threads) * n_cand,
                         memory_budget, f"neighbour candidates with {n_cand} per row")
        still = []
        step = _CHUNK_ROWS * threads
        for i in range(0, pending.size, step):
            rows = pending[i:i + step]
            Qp = Q[rows]
            dist, cand = index.query(Qp, n_cand)
            idx, d2 = _finish_rows(Qp, rows, cand, X_train, k, self_query, columns)
            if n_cand >= n:
                complete = np.ones(rows.size, dtype=bool)
            else:
                complete = d2[:, -1] < dist[:, -1] ** 2 - slack[rows]
            out_idx[rows[complete]] = idx[complete]
            out_d2[rows[complete]] = d2[complete]
            still.append(rows[~complete])
            bar.update(advance=int(complete.sum()))
        pending = np.concatenate(still)
        n_cand = min(n, 2 * n_cand)
    bar.close()
    return out_idx, out_d2


def new_point_neighbors(X_train: np.ndarray, X_query: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The k neighbours of new points, from their k + 1 nearest training rows ``idx``.

    A new point equal to a training row *is* that row: as every fitted row does, it leaves itself
    out (the first of its rows at distance 0, the one of smallest index) and takes the next k, so
    ``transform`` of a training row gives its fitted value. Any other point takes its k nearest.
    The rule is per row (a function of the point alone); like every KNN list it changes only where
    the neighbour order does.
    """
    diff = X_query - X_train[idx[:, 0]]
    same = np.einsum("ij,ij->i", diff, diff) == 0.0
    return np.where(same[:, None], idx[:, 1:], idx[:, :-1])


@dataclass
class NeighborLists:
    """Sorted neighbour lists of a training sample for the largest k needed.

    ``indices[i, :k]`` are the k nearest other points of x_i for every k ≤ ``max_k`` (the order is
    total, see the module docstring), ``sq_distances`` their squared distances. ``features`` is
    the tuple of feature columns the distances use (None: all of them).
    """

    indices: np.ndarray
    sq_distances: np.ndarray
    features: tuple[int, ...] | None = None
    search: str = "exact"
    approximation: ApproximateSearch | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.approximation is None

    @property
    def max_k(self) -> int:
        return self.indices.shape[1]

    @property
    def n_samples(self) -> int:
        return self.indices.shape[0]

    @classmethod
    def compute(cls, X: np.ndarray, max_k: int, features: tuple[int, ...] | None = None, *,
                memory_budget: int | None = None, search: str = "exact",
                random_state=0) -> NeighborLists:
        """Lists for ``max_k`` neighbours; ``search`` is ``exact``, ``approx`` or ``auto``
        (:func:`choose_search`). Approximate lists carry their :class:`ApproximateSearch` and a
        note; a request that was not followed carries a note saying so."""
        Xf = X if features is None else np.ascontiguousarray(X[:, list(features)])
        n = Xf.shape[0]
        method, note = choose_search(n, Xf.shape[1], search)
        notes = [note] if note else []
        if method == "approx" and 1 <= max_k <= n - 1:
            from .approximate import approximate_kneighbors

            idx, d2, info = approximate_kneighbors(Xf, max_k, random_state=random_state,
                                                   memory_budget=memory_budget)
            return cls(idx, d2, features, "approx", info, notes + [info.note()])
        idx, d2 = kneighbors(Xf, max_k, memory_budget=memory_budget)
        return cls(idx, d2, features, "exact", None, notes)

    def first(self, k: int) -> np.ndarray:
        """The k nearest neighbours of every point (n × k), a view."""
        if k > self.max_k:
            raise ParameterError(f"these neighbour lists hold {self.max_k} neighbours, {k} asked")
        return self.indices[:, :k]
