"""Building blocks computed once per sample and shared by many contexts.

The correlation study evaluates dozens of strengths of one context family on one sample (KNN for
35 values of k, RBF for 35 values of γ, their masked variants). What they share is expensive and
independent of the strength:

- KNN: the sorted neighbour lists for the largest k (KNN with a smaller k is a slice, see
  :class:`~contextures.contexts.neighbors.NeighborLists`);
- RBF: the squared-distance matrix (RBF for any γ is exp(−γ D) row-normalised);
- masked variants: the same per feature mask (keyed by the visible columns).

Usage::

    cache = ContextCache(X, max_k=150)
    for k in ks:
        op = make_context(f"knn(k={k})").fit(X, cache=cache).operator()

Every context's ``fit`` accepts ``cache=``. The cache must hold the same X (checked by shape and
a checksum); matrices are kept while they fit in ``max_bytes`` (default: a quarter of the memory
budget) and recomputed on demand otherwise.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .._memory import resolve_budget
from ..exceptions import ParameterError
from ..validation import check_array
from .distances import median_squared_distance, squared_distances
from .neighbors import NeighborLists, kneighbors


def _checksum(X: np.ndarray) -> tuple[int, int, str]:
    """The array's identity: its shape and a BLAKE2b hash of its bytes (row order included), so
    that any change of a value or of the order of rows is another array."""
    data = np.ascontiguousarray(X, dtype=np.float64)
    digest = hashlib.blake2b(data.view(np.uint8).reshape(-1), digest_size=16).hexdigest()
    return (X.shape[0], X.shape[1], digest)


class ContextCache:
    """Neighbour lists, distance matrices and bandwidths of one sample X, computed once.

    Parameters
    ----------
    X : array (n, F)
    max_k : int, optional
        Neighbour lists are computed for max(k, max_k) so later requests with a larger k up to
        ``max_k`` are slices (capped at n − 1).
    max_bytes : int, optional
        Bytes the cached distance matrices may take; default a quarter of the memory budget.
    memory_budget : int, optional
        Budget of each single allocation (see ``contextures._memory``).
    """

    def __init__(self, X: np.ndarray, *, max_k: int | None = None, max_bytes: int | None = None,
                 memory_budget: int | None = None):
        self.X = check_array(X, what="ContextCache", min_samples=2, representable=True)
        self.max_k = max_k
        self.memory_budget = memory_budget
        self.max_bytes = (resolve_budget(memory_budget) // 4 if max_bytes is None
                          else int(max_bytes))
        self._checksum = _checksum(self.X)
        self._neighbors: dict[tuple[int, ...] | None, NeighborLists] = {}
        self._distances: dict[tuple[int, ...] | None, np.ndarray] = {}
        self._medians: dict[tuple[int, ...] | None, float] = {}
        self._queries: dict[tuple, tuple[np.ndarray, int]] = {}

    # --- identity -----------------------------------------------------------------------------
    def check_same(self, X: np.ndarray, who: str) -> None:
        """Raise ParameterError unless X is the cached sample."""
        if X is self.X:
            return
        if X.shape != self.X.shape or _checksum(X) != self._checksum:
            raise ParameterError(f"{who}: the cache was built for a different X "
                                 f"(shape {self.X.shape}, got {X.shape})")

    @staticmethod
    def _key(features) -> tuple[int, ...] | None:
        return None if features is None else tuple(int(f) for f in features)

    def _columns(self, key) -> np.ndarray:
        return self.X if key is None else np.ascontiguousarray(self.X[:, list(key)])

    # --- building blocks ----------------------------------------------------------------------
    def neighbors(self, k: int, features=None, search: str = "exact") -> NeighborLists:
        """Neighbour lists with at least k neighbours on the given feature columns, found by
        ``search`` (``exact``, ``approx`` or ``auto``, see
        :func:`~contextures.contexts.neighbors.choose_search`)."""
        cols = self._key(features)
        key = cols if search == "exact" else (cols, search)
        lists = self._neighbors.get(key)
        if lists is None or lists.max_k < k:
            n = self.X.shape[0]
            want = min(n - 1, max(k, self.max_k or 0))
            want = max(want, k)  # k > n − 1 reaches kneighbors, which reports it
            lists = NeighborLists.compute(self.X, want, cols, memory_budget=self.memory_budget,
                                          search=search)
            self._neighbors[key] = lists
        return lists

    def query_neighbors(self, X_new: np.ndarray, k: int, features=None) -> np.ndarray:
        """Indices (rows of X_new × k) of the k nearest cached-sample points of each new row.

        The lists for max(k, ``max_k``) are computed once per (X_new, feature columns) and kept
        while they fit in ``max_bytes`` with the distance matrices; a smaller k is a slice (the
        order is total, see :mod:`~contextures.contexts.neighbors`).
        """
        key = (self._key(features), _checksum(X_new))
        held = self._queries.get(key)
        if held is None or held[0].shape[1] < k:
            cols = self._key(features)
            want = max(k, min(self.X.shape[0], self.max_k or 0))
            Q = X_new if cols is None else np.ascontiguousarray(X_new[:, list(cols)])
            idx, _ = kneighbors(self._columns(cols), want, Q, memory_budget=self.memory_budget)
            if self._bytes_held() + idx.nbytes <= self.max_bytes:
                self._queries[key] = (idx, X_new.shape[0])
            return idx[:, :k]
        return held[0][:, :k]

    def _bytes_held(self) -> int:
        return (sum(m.nbytes for m in self._distances.values())
                + sum(idx.nbytes for idx, _ in self._queries.values()))

    def sq_distances(self, features=None) -> np.ndarray:
        """The n × n squared-distance matrix on the given feature columns (read-only)."""
        key = self._key(features)
        D = self._distances.get(key)
        if D is None:
            D = squared_distances(self._columns(key), memory_budget=self.memory_budget)
            D.setflags(write=False)
            if self._bytes_held() + D.nbytes <= self.max_bytes:
                self._distances[key] = D
        return D

    def median_sq_distance(self, features=None) -> float:
        """The median heuristic's median squared distance (see ``distances``)."""
        key = self._key(features)
        if key not in self._medians:
            self._medians[key] = median_squared_distance(self._columns(key))
        return self._medians[key]

    def clear(self) -> None:
        self._neighbors.clear()
        self._distances.clear()
        self._medians.clear()
        self._queries.clear()
