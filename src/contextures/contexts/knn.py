"""KNN context: P⁺(x_j | x_i) = 1/k on the k nearest neighbours of x_i in the sample.

Rules (tested): neighbours are ordered by squared Euclidean distance with ties broken by the
smaller index; x_i itself is excluded *by index* (a duplicate x_j = x_i is a legitimate neighbour
at distance 0); 1 ≤ k ≤ n − 1. With ``include_self=true`` x_i always counts as one of its own k
neighbours, followed by its k − 1 nearest other points. New points (``transition``) take the k
nearest training points, except that a new point equal to a training row is that row and, like
it, leaves itself out (:func:`~contextures.contexts.neighbors.new_point_neighbors`); with
``include_self=true`` it keeps itself, as the fitted row does. See :mod:`contextures.contexts.neighbors`.

P is sparse CSR with n·k non-zeros, so Q = P diag(c)^{-1/2} has n·k non-zeros as well.

``search`` chooses how the lists are found (:func:`~contextures.contexts.neighbors.choose_search`):
``auto`` (default; approximate lists only from 100 000 rows in more than 16 features, when the
``ann`` extra is installed), ``exact`` or ``approx``. With approximate lists the operator is marked
inexact and the solve reports, besides the sampled recall, a first-order estimate of the effect
on s_1..s_d (:func:`approximation_effect`). New points (``transition``) always get exact lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import ParameterError
from ..validation import check_array, check_bool, check_int
from ._validation import check_fitted, check_indices, check_new_data, make_rng
from .approximate import ApproximateSearch
from .base import Context, register_context
from .cache import ContextCache
from .neighbors import SEARCHES, NeighborLists, kneighbors, new_point_neighbors
from .operator import ContextOperator


def neighbor_transition(neighbors: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """CSR P with P[i, neighbors[i, c]] = 1/k (k = neighbors.shape[1])."""
    rows, k = neighbors.shape
    indptr = np.arange(0, rows * k + 1, k, dtype=np.int64)
    data = np.full(rows * k, 1.0 / k)
    P = sp.csr_matrix((data, neighbors.ravel().astype(np.int64), indptr), shape=(rows, n_columns))
    P.sort_indices()
    return P


def approximation_effect(op: ContextOperator, result, approximation: ApproximateSearch,
                         neighbors: np.ndarray, include_self: bool) -> str:
    """A first-order estimate of s_i(exact lists) − s_i(approximate lists), from the sampled rows.

    With ΔP = P_exact − P_approx (the two operators differ only in the rows whose lists differ,
    and in the column mass c through Δc = ΔPᵀπ), first-order perturbation of a simple singular
    value of Q = D_π^{1/2} P D_c^{-1/2} gives

        Δs_i ≈ Σ_r π_r [ μ_i(r) (ΔP_r · ν_i) − ½ s_i (ΔP_r · ν_i²) ],    ν_i = D_c^{-1/2} v_i,

    a sum over rows, estimated from the rows whose exact lists were computed for the recall
    (an unbiased mean of the sampled terms, times n, with its standard error). Returns the note.
    """
    s = np.asarray(result.singular_values)
    if s.size == 0:
        return "approximate neighbour lists: no singular values to estimate their effect on"
    nu = op.extension_weights(result.right_vectors, s) * s[None, :]
    rows = approximation.sample
    k = neighbors.shape[1]
    others = k - 1 if include_self else k
    exact = approximation.sample_lists[:, :others]
    if include_self:
        exact = np.hstack([rows[:, None], exact])
    approx = neighbors[rows]
    d_nu = (nu[exact].sum(axis=1) - nu[approx].sum(axis=1)) / k
    d_nu2 = ((nu ** 2)[exact].sum(axis=1) - (nu ** 2)[approx].sum(axis=1)) / k
    mu = result.eigenfunctions[rows]
    terms = op.n_samples * op.pi[rows, None] * (mu * d_nu - 0.5 * s[None, :] * d_nu2)
    estimate = terms.mean(axis=0)
    se = terms.std(axis=0, ddof=1) / np.sqrt(rows.size) if rows.size > 1 else np.zeros_like(s)
    worst = int(np.argmax(np.abs(estimate)))
    result.approximation_effect = estimate
    return (f"estimated effect of the approximate neighbour lists on s_1..s_{s.size} (first "
            f"order, from the {rows.size} rows of the recall sample): max |Δs_i| = "
            f"{abs(estimate[worst]):.1e} at i = {worst + 1} (standard error {se[worst]:.1e}); "
            f"exact lists would give about s_i + Δs_i")


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
    search : ``auto``, ``exact`` or ``approx``
        How the neighbour lists are found (see the module docstring).

    ``fit(X, cache=ContextCache(X, max_k=K))`` reuses neighbour lists across values of k.
    """

    spec_name = "knn"
    strength_param = "k"

    def __init__(self, k: int = 30, include_self: bool = False, search: str = "auto"):
        self.k = k
        self.include_self = include_self
        self.search = search

    def fit(self, X: np.ndarray, y: Any = None, *, cache: ContextCache | None = None) -> KNNContext:
        who = f"{self.spec_name}(k={self.k})"
        X = check_array(X, what=who, min_samples=2, representable=True)
        n = X.shape[0]
        k = check_int(self.k, "k", low=1, high=n - 1, note=k_upper_note(n), who=who)
        include_self = check_bool(self.include_self, "include_self", who=who)
        if self.search not in SEARCHES:
            raise ParameterError(f"{who}: search must be one of {', '.join(SEARCHES)}, "
                                 f"got {self.search!r}")
        others = k - 1 if include_self else k
        lists = None
        if others > 0:
            if cache is not None:
                cache.check_same(X, who)
                lists = cache.neighbors(others, search=self.search)
            else:
                lists = NeighborLists.compute(X, others, search=self.search)
            found = lists.first(others)
        else:
            found = np.empty((n, 0), dtype=np.int64)
        self.search_ = "exact" if lists is None else lists.search
        self.search_notes_ = [] if lists is None else list(lists.notes)
        self.approximation_ = None if lists is None else lists.approximation
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
        approximation = getattr(self, "approximation_", None)
        kind = "exact" if approximation is None else "approximate-neighbour"
        op = ContextOperator(P, memory_budget=memory_budget,
                             description=f"{self.spec()}: {kind} sparse P, n={self.n_samples_}, "
                                         f"nnz={P.nnz}")
        op.search_notes = list(getattr(self, "search_notes_", []))
        if approximation is not None:
            op.exact = False
            neighbors, include_self = self.neighbors_, self.include_self

            def report(result) -> str:
                return approximation_effect(op, result, approximation, neighbors, include_self)

            op.report_approximation = report
        return op

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
