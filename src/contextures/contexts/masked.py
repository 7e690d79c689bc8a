"""Masked KNN and masked RBF: the average of KNN / RBF over random global feature masks.

``masks`` masks are drawn with ``numpy.random.default_rng(random_state)``; each hides
h = min(round(p·F), F − 1) features chosen uniformly without replacement (halves rounded up; at
least one feature stays visible), and the same mask applies to every sample. For mask m with
visible columns V_m, P_m is the KNN (or RBF) transition computed on X[:, V_m], and

    P = (1/masks) Σ_m P_m,

so P is row-stochastic and P⁺(·|x) is the mixture over masks. KNN masks are summed as sparse
matrices (nnz ≤ masks·n·k), RBF masks densely (or row block by row block when n² does not fit).

``gamma="median"`` for masked RBF uses γ = (F / (F − h)) / median_{i<j}‖x_i − x_j‖² on all
features (the median heuristic of plain RBF, rescaled to the number of visible features), so that
p = 0 gives the plain RBF context.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation, fits
from .._timeguard import check_work
from ..exceptions import ParameterError
from ..validation import check_array, check_fraction, check_int
from ._validation import check_fitted, check_indices, check_new_data, half_up, make_rng
from .base import Context, register_context
from .cache import ContextCache
from .distances import median_gamma, squared_distances
from .knn import k_upper_note, neighbor_transition
from .neighbors import NeighborLists, kneighbors, new_point_neighbors
from .operator import ContextOperator
from .rbf import KernelRows, check_gamma, rbf_rows, sample_from_rows

MASK_OVERHEAD_SECONDS = 2e-5   # drawing one mask and looking up its neighbour lists, in Python


def n_hidden(n_features: int, p: float) -> int:
    """Features each mask hides: round(p·F) (halves up), at most F − 1."""
    return min(half_up(p * n_features), n_features - 1)


def feature_masks(n_features: int, p: float, masks: int, random_state: Any) -> list[np.ndarray]:
    """The visible columns (sorted) of each of the ``masks`` masks."""
    rng = make_rng(random_state)
    h = n_hidden(n_features, p)
    visible = []
    for _ in range(masks):
        hidden = rng.choice(n_features, size=h, replace=False) if h else np.empty(0, int)
        keep = np.ones(n_features, dtype=bool)
        keep[hidden] = False
        visible.append(np.flatnonzero(keep))
    return visible


def masked_neighbor_transition(neighbors: np.ndarray, n_columns: int,
                               memory_budget: int | None = None) -> sp.csr_matrix:
    """CSR P = (1/masks) Σ_m (1/k)·1{j among the k neighbours of i under mask m}.

    ``neighbors`` is (masks × rows × k). Counts are summed with ``bincount`` over blocks of rows
    (a dense rows × n_columns count block per step), which is much faster than summing COO
    duplicates.
    """
    masks, rows, k = neighbors.shape
    scale = 1.0 / (masks * k)
    step = max(1, min(rows, (1 << 23) // max(1, n_columns)))
    check_allocation(8.0 * step * n_columns + 16.0 * masks * step * k, memory_budget,
                     "a block of masked KNN counts")
    parts = []
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        block = neighbors[:, r0:r1, :].astype(np.int64)
        keys = (np.arange(r1 - r0)[None, :, None] * n_columns + block).ravel()
        counts = np.bincount(keys, minlength=(r1 - r0) * n_columns).reshape(r1 - r0, n_columns)
        parts.append(sp.csr_matrix(counts * scale))
    P = sp.csr_matrix(sp.vstack(parts, format="csr"))
    P.sort_indices()
    return P


def _check_masking(ctx: Any, who: str) -> tuple[float, int]:
    p = check_fraction(ctx.p, "p", who=who)
    masks = check_int(ctx.masks, "masks", low=1, who=who)
    if ctx.random_state is not None and not isinstance(ctx.random_state, int | np.integer):
        raise ParameterError(f"{who}: random_state must be an integer or none")
    return p, masks


def _check_masks_cost(who: str, masks: int, n: int, n_features: int, *, per_mask_bytes: float,
                      per_mask_steps: float) -> None:
    """Before any mask is drawn: the masks' visible columns and ``per_mask_bytes`` per mask must
    fit the memory budget, and ``per_mask_steps`` per mask the time guard (when one is active).
    A mask takes about :data:`MASK_OVERHEAD_SECONDS` of Python work besides its steps."""
    check_allocation(masks * (8.0 * n_features + per_mask_bytes), None,
                     f"{who}: {masks} masks of {n} rows")
    check_work(masks * per_mask_steps, f"{who}: {masks} masks of {n} rows",
               overhead=masks * MASK_OVERHEAD_SECONDS)


@register_context
class KNNMaskContext(Context):
    """The mean over ``masks`` feature masks of KNN(k) on the visible features.

    Parameters
    ----------
    k : int, 1 ≤ k ≤ n − 1
    p : float in [0, 1], fraction of features each mask hides
    masks : int ≥ 1
    random_state : int or None, seed of the masks

    ``fit(X, cache=ContextCache(X, max_k=K))`` reuses each mask's neighbour lists across k.
    """

    spec_name = "knn_mask"
    strength_param = "k"

    def __init__(self, k: int = 30, p: float = 0.2, masks: int = 50, random_state: int | None = 0):
        self.k = k
        self.p = p
        self.masks = masks
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None, *,
            cache: ContextCache | None = None) -> KNNMaskContext:
        who = self.spec()
        X = check_array(X, what=who, min_samples=2, representable=True)
        n, F = X.shape
        k = check_int(self.k, "k", low=1, high=n - 1, note=k_upper_note(n), who=who)
        p, masks = _check_masking(self, who)
        dtype = np.int32 if n < 2**31 else np.int64
        # the neighbour lists (masks × n × k) and their sparse sum (12 bytes per entry)
        _check_masks_cost(who, masks, n, F, per_mask_bytes=n * k * (np.dtype(dtype).itemsize
                                                                    + 12.0),
                          per_mask_steps=2.0 * n * k)
        if cache is not None:
            cache.check_same(X, who)
        visible = feature_masks(F, p, masks, self.random_state)
        check_allocation(masks * n * k * np.dtype(dtype).itemsize, None, "the masked neighbour lists")
        neighbors = np.empty((masks, n, k), dtype=dtype)
        local: dict[tuple[int, ...], np.ndarray] = {}
        for m, cols in enumerate(visible):
            key = tuple(int(c) for c in cols)
            if key not in local:
                lists = (cache.neighbors(k, key) if cache is not None
                         else NeighborLists.compute(X, k, key))
                local[key] = lists.first(k)
            neighbors[m] = local[key]
        self.X_ = X
        self.n_samples_ = n
        self.n_features_in_ = F
        self.k_ = k
        self.visible_ = visible
        self.neighbors_ = neighbors
        self._cache = cache  # reused by transition() for new rows it has already seen
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        masks, n, k = self.neighbors_.shape
        P = masked_neighbor_transition(self.neighbors_, n, memory_budget)
        return ContextOperator(P, memory_budget=memory_budget,
                               description=f"{self.spec()}: exact sparse P averaged over "
                                           f"{masks} masks, n={n}, nnz={P.nnz}")

    def transition(self, X_new: np.ndarray) -> sp.csr_matrix:
        """Mean over masks of 1/k on the k nearest training points on the visible features."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        cache = getattr(self, "_cache", None)
        total = None
        done: dict[tuple[int, ...], sp.csr_matrix] = {}
        for cols in self.visible_:
            key = tuple(int(c) for c in cols)
            if key not in done:
                X_cols = np.ascontiguousarray(self.X_[:, cols])
                Q_cols = np.ascontiguousarray(X_new[:, cols])
                if cache is not None:
                    idx = cache.query_neighbors(X_new, self.k_ + 1, key)
                else:
                    idx, _ = kneighbors(X_cols, self.k_ + 1, Q_cols)
                # a new point equal to a training row on the visible features leaves it out,
                # as that row's own list does
                idx = new_point_neighbors(X_cols, Q_cols, idx)
                done[key] = neighbor_transition(idx, self.n_samples_)
            total = done[key] if total is None else total + done[key]
        total = sp.csr_matrix(total / len(self.visible_))
        total.sort_indices()
        return total

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """A mask uniformly at random, then one of its k neighbours uniformly."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        rng = make_rng(random_state)
        masks, _, k = self.neighbors_.shape
        m = rng.integers(masks, size=idx.size)
        c = rng.integers(k, size=idx.size)
        return self.neighbors_[m, idx, c].astype(np.int64)

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        return self.X_[self.sample_indices(indices, random_state)]


@register_context
class RBFMaskContext(Context):
    """The mean over ``masks`` feature masks of RBF(γ) on the visible features.

    Parameters
    ----------
    gamma : float > 0 or "median" (see the module docstring)
    p : float in [0, 1], fraction of features each mask hides
    masks : int ≥ 1
    random_state : int or None, seed of the masks

    ``fit(X, cache=ContextCache(X))`` reuses each mask's squared-distance matrix across γ.
    """

    spec_name = "rbf_mask"
    strength_param = "gamma"

    def __init__(self, gamma: float | str = "median", p: float = 0.2, masks: int = 50,
                 random_state: int | None = 0):
        self.gamma = gamma
        self.p = p
        self.masks = masks
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None, *,
            cache: ContextCache | None = None) -> RBFMaskContext:
        who = self.spec()
        gamma = check_gamma(self.gamma, who)
        X = check_array(X, what=who, min_samples=2, representable=True)
        n, F = X.shape
        p, masks = _check_masking(self, who)
        # each mask is a pass over the n² kernel entries on its visible features
        _check_masks_cost(who, masks, n, F, per_mask_bytes=0.0,
                          per_mask_steps=float(n) * n * (F + 4))
        if cache is not None:
            cache.check_same(X, who)
        h = n_hidden(F, p)
        if gamma == "median":
            scale = F / (F - h)
            if cache is not None:
                med = cache.median_sq_distance()
                if not med > 0:
                    raise ParameterError(f"{who}: the median squared distance is 0; give gamma")
                gamma = scale / med
            else:
                gamma = median_gamma(X, scale=scale)
        self.X_ = X
        self.n_samples_ = n
        self.n_features_in_ = F
        self.gamma_ = float(gamma)
        self.visible_ = feature_masks(F, p, masks, self.random_state)
        self._cache = cache
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        n = self.n_samples_
        masks = len(self.visible_)
        if fits(4 * 8.0 * n * n, memory_budget):
            cache = getattr(self, "_cache", None)
            P = np.zeros((n, n))
            buffer = np.empty((n, n)) if cache is not None else None
            for cols in self.visible_:
                if cache is not None:
                    P += rbf_rows(cache.sq_distances(cols), self.gamma_, out=buffer,
                                  zero_min=True)
                else:
                    D = squared_distances(np.ascontiguousarray(self.X_[:, cols]),
                                          memory_budget=memory_budget)
                    P += rbf_rows(D, self.gamma_, zero_min=True)
                    del D
            P /= masks
            return ContextOperator(P, memory_budget=memory_budget,
                                   description=f"{self.spec()}: exact dense P averaged over "
                                               f"{masks} masks, n={n}, gamma={self.gamma_:.6g}")
        P = KernelRows(self.X_, self.X_, self.gamma_, self.visible_, same=True)
        return ContextOperator(P, memory_budget=memory_budget,
                               description=f"{self.spec()}: exact matrix-free P over {masks} "
                                           f"masks (row blocks of {P.block_rows}), n={n}, "
                                           f"gamma={self.gamma_:.6g}")

    def transition(self, X_new: np.ndarray) -> np.ndarray:
        """Dense rows: the mean over masks of the RBF rows on the visible features."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        check_allocation(8.0 * X_new.shape[0] * self.n_samples_, None,
                         f"{X_new.shape[0]}×{self.n_samples_} transition rows")
        return KernelRows(X_new, self.X_, self.gamma_, self.visible_).dense()

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """A mask uniformly at random, then j ∝ exp(−γ‖x_i − x_j‖²) on its visible features."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        rng = make_rng(random_state)
        m = rng.integers(len(self.visible_), size=idx.size)
        out = np.empty(idx.size, dtype=np.int64)
        for mask in np.unique(m):
            sel = np.flatnonzero(m == mask)
            rows = KernelRows(self.X_, self.X_, self.gamma_, [self.visible_[mask]], same=True)
            for b0 in range(0, sel.size, rows.block_rows):
                part = sel[b0:b0 + rows.block_rows]
                out[part] = sample_from_rows(rows.take(idx[part]), rng)
        return out

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        return self.X_[self.sample_indices(indices, random_state)]
