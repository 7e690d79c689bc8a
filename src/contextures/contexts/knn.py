"""KNN context: P⁺(x_j | x_i) = 1/k on the k nearest neighbours of x_i in the sample.

Rules (tested): neighbours are ordered by squared Euclidean distance with ties broken by the
smaller index; x_i itself is excluded *by index* (a duplicate x_j = x_i is a legitimate neighbour
at distance 0); 1 ≤ k ≤ n − 1. With ``include_self=true`` x_i always counts as one of its own k
neighbours, followed by its k − 1 nearest other points. New points (``transition``) take the k
nearest training points, except that a new point equal to a training row is that row and, like
it, leaves itself out (:func:`~contextures.contexts.neighbors.new_point_neighbors`); with
``include_self=true`` it keeps itself, as the fitted row does. See :mod:`contextures.contexts.neighbors`.

P is sparse CSR with n·k non-zeros, so Q = P diag(c)^{-1/2} has n·k non-zeros as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validation import (
    check_bool,
    check_data,
    check_fitted,
    check_indices,
    check_int,
    check_new_data,
    make_rng,
)
from .base import Context, register_context
from .cache import ContextCache
from .neighbors import NeighborLists, kneighbors, new_point_neighbors
from .operator import ContextOperator


def neighbor_transition(neighbors: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """CSR P with P[i, neighbors[i, c]] = 1/k (k = neighbors.shape[1])."""
    rows, k = neighbors.shape
    indptr = np.arange(0, rows * k + 1, k, dtype=np.int64)
    data = np.full(rows * k, 1.0 / k)
    P = sp.csr_matrix((data, neighbors.ravel().astype(np.int64), indptr), shape=(rows, n_columns))
    P.sort_indices()
    return P


def k_upper_note(n: int) -> str:
    return f" (n = {n} samples: each point has n − 1 = {n - 1} other points)"


@register_context
class KNNContext(Context):
    """P⁺(x_j | x_i) = 1/k on the k nearest neighbours of x_i (see the module docstring).

    Parameters
    ----------
    k : int, 1 ≤ k ≤ n − 1
    include_self : bool
        Count x_i as one of its own k neighbours.

    ``fit(X, cache=ContextCache(X, max_k=K))`` reuses neighbour lists across values of k.
    """

    spec_name = "knn"
    strength_param = "k"

    def __init__(self, k: int = 30, include_self: bool = False):
        self.k = k
        self.include_self = include_self

    def fit(self, X: np.ndarray, y: Any = None, *, cache: ContextCache | None = None) -> KNNContext:
        who = f"{self.spec_name}(k={self.k})"
        X = check_data(X, who)
        n = X.shape[0]
        k = check_int(self.k, "k", who, low=1, high=n - 1, high_note=k_upper_note(n))
        include_self = check_bool(self.include_self, "include_self", who)
        others = k - 1 if include_self else k
        if others > 0:
            if cache is not None:
                cache.check_same(X, who)
                lists = cache.neighbors(others)
            else:
                lists = NeighborLists.compute(X, others)
            found = lists.first(others)
        else:
            found = np.empty((n, 0), dtype=np.int64)
        if include_self:
            found = np.hstack([np.arange(n)[:, None], found])
        self.X_ = X
        self.n_samples_ = n
        self.n_features_in_ = X.shape[1]
        self.k_ = k
        self.neighbors_ = np.ascontiguousarray(found)
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        P = neighbor_transition(self.neighbors_, self.n_samples_)
        return ContextOperator(P, memory_budget=memory_budget,
                               description=f"{self.spec()}: exact sparse P, n={self.n_samples_}, "
                                           f"nnz={P.nnz}")

    def transition(self, X_new: np.ndarray) -> sp.csr_matrix:
        """1/k on the k nearest training points of each new point (n_new × n, CSR); a new point
        equal to a training row takes that row's own list (see the module docstring)."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        if self.include_self:
            idx, _ = kneighbors(self.X_, self.k_, X_new)
        else:
            idx, _ = kneighbors(self.X_, self.k_ + 1, X_new)
            idx = new_point_neighbors(self.X_, X_new, idx)
        return neighbor_transition(idx, self.n_samples_)

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One neighbour j ~ uniform over the k neighbours of x_i, per index i."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        rng = make_rng(random_state)
        return self.neighbors_[idx, rng.integers(self.k_, size=idx.size)]

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """The feature rows of one drawn neighbour per index."""
        return self.X_[self.sample_indices(indices, random_state)]
