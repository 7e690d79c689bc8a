"""RBF context: P⁺(x_j | x_i) ∝ exp(−γ‖x_i − x_j‖²) over all sample points j (i included).

Rows are normalised to sum to 1. The bandwidth is given (γ > 0) or set by the median heuristic
``gamma="median"``: γ = 1 / median_{i<j} ‖x_i − x_j‖² over the pairs of at most 2000 points drawn
at random with seed 0 (all points when n ≤ 2000); the value used is stored as ``gamma_``.

P is dense (n × n) when two n × n float64 matrices fit the memory budget (P and Q; the squared
distances are overwritten in place), otherwise a :class:`KernelRows` transition computes row blocks
on the fly (O(n²F) per product, memory O(block × n)). Exponents are shifted by the row minimum of
the distances before ``exp`` (the row maximum of the exponent), so no row underflows to 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._memory import check_allocation, fits
from ..exceptions import ParameterError
from ..validation import check_array, check_positive
from ._validation import check_fitted, check_indices, check_new_data, make_rng
from .base import Context, register_context
from .cache import ContextCache
from .distances import median_gamma, squared_distances
from .operator import ContextOperator, MatrixFreeTransition

_BLOCK_ENTRIES = 1 << 23  # 64 MB of float64 per row block


def rbf_rows(D: np.ndarray, gamma: float, *, out: np.ndarray | None = None,
             zero_min: bool = False) -> np.ndarray:
    """Rows ∝ exp(−γ D) of squared distances D (rows × m), normalised to sum to 1.

    ``out`` receives the result (default: D itself, in place). Each row is shifted by its minimum
    distance first (the maximum exponent); ``zero_min=True`` says the minima are already 0 (the
    sample against itself, exact zeros on the diagonal) and skips that pass.
    """
    out = D if out is None else out
    if zero_min:
        np.multiply(D, -gamma, out=out)
    else:
        np.subtract(D, D.min(axis=1, keepdims=True), out=out)
        out *= -gamma
    np.exp(out, out=out)
    out *= (1.0 / out.sum(axis=1))[:, None]
    return out


def check_gamma(gamma: Any, who: str) -> float | str:
    if isinstance(gamma, str):
        if gamma.lower() == "median":
            return "median"
        raise ParameterError(f"{who}: gamma must be a positive number or 'median', got {gamma!r}")
    return check_positive(gamma, "gamma", who=who)


class KernelRows(MatrixFreeTransition):
    """P[i, j] = mean over feature subsets V of  exp(−γ‖x_i − z_j‖²_V) / Σ_j' exp(−γ‖x_i − z_j'‖²_V).

    Rows x_i are ``X_rows``, columns z_j are ``X_cols`` (the training sample); ``subsets`` lists the
    visible feature columns of each mask (one subset with every column for plain RBF). When the rows
    are the training sample itself (``same=True``) the diagonal distances are exactly 0.
    """

    def __init__(self, X_rows: np.ndarray, X_cols: np.ndarray, gamma: float,
                 subsets: list[np.ndarray] | None = None, *, same: bool = False):
        super().__init__((X_rows.shape[0], X_cols.shape[0]))
        self.X_rows = X_rows
        self.X_cols = X_cols
        self.gamma = float(gamma)
        self.subsets = subsets if subsets is not None else [np.arange(X_rows.shape[1])]
        self.same = same
        self.block_rows = max(1, min(1024, _BLOCK_ENTRIES // max(1, X_cols.shape[0])))
        self._col_norms = [np.einsum("ij,ij->i", X_cols[:, s], X_cols[:, s]) for s in self.subsets]

    def _distances(self, A: np.ndarray, cols: np.ndarray, col_norms: np.ndarray) -> np.ndarray:
        D = A @ self.X_cols[:, cols].T
        D *= -2.0
        D += np.einsum("ij,ij->i", A, A)[:, None]
        D += col_norms[None, :]
        np.maximum(D, 0.0, out=D)
        return D

    def take(self, index: np.ndarray) -> np.ndarray:
        """Dense rows P[index] for any row numbers (one block: keep ``index`` short)."""
        index = np.asarray(index)
        out = None
        for cols, cn in zip(self.subsets, self._col_norms, strict=True):
            D = self._distances(self.X_rows[index][:, cols], cols, cn)
            if self.same:
                D[np.arange(index.size), index] = 0.0
            rows = rbf_rows(D, self.gamma)
            if out is None:
                out = rows
            else:
                out += rows
        if len(self.subsets) > 1:
            out /= len(self.subsets)
        return out

    def row_block(self, i0: int, i1: int) -> np.ndarray:
        return self.take(np.arange(i0, i1))

    def dense(self) -> np.ndarray:
        """The whole of P as a dense array (the caller checks the memory)."""
        out = np.empty(self.shape)
        for i0, i1, rows in self._blocks():
            out[i0:i1] = rows
        return out


def sample_from_rows(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column per row of a row-stochastic dense block, by inverse CDF."""
    cdf = np.cumsum(rows, axis=1)
    u = rng.random(rows.shape[0]) * cdf[:, -1]
    j = (cdf < u[:, None]).sum(axis=1)
    return np.minimum(j, rows.shape[1] - 1)


@register_context
class RBFContext(Context):
    """P⁺(x_j | x_i) ∝ exp(−γ‖x_i − x_j‖²), j over the whole sample (see the module docstring).

    Parameters
    ----------
    gamma : float > 0 or "median"

    ``fit(X, cache=ContextCache(X))`` reuses the squared-distance matrix across values of γ.
    """

    spec_name = "rbf"
    strength_param = "gamma"

    def __init__(self, gamma: float | str = "median"):
        self.gamma = gamma

    def fit(self, X: np.ndarray, y: Any = None, *, cache: ContextCache | None = None) -> RBFContext:
        who = self.spec()
        gamma = check_gamma(self.gamma, who)
        X = check_array(X, what=who, min_samples=2, representable=True)
        if cache is not None:
            cache.check_same(X, who)
        if gamma == "median":
            if cache is not None:
                med = cache.median_sq_distance()
                if not med > 0:
                    raise ParameterError(f"{who}: the median squared distance is 0; give gamma")
                gamma = 1.0 / med
            else:
                gamma = median_gamma(X)
        self.X_ = X
        self.n_samples_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        self.gamma_ = float(gamma)
        self._cache = cache
        return self

    def _dense_rows(self, memory_budget: int | None) -> np.ndarray:
        cache = getattr(self, "_cache", None)
        if cache is not None:
            D = cache.sq_distances()
            check_allocation(D.nbytes, memory_budget, "the dense RBF transition matrix")
            return rbf_rows(D, self.gamma_, out=np.empty_like(D), zero_min=True)
        D = squared_distances(self.X_, memory_budget=memory_budget)
        return rbf_rows(D, self.gamma_, zero_min=True)

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        n = self.n_samples_
        if fits(3 * 8.0 * n * n, memory_budget):
            P = self._dense_rows(memory_budget)
            return ContextOperator(P, memory_budget=memory_budget,
                                   description=f"{self.spec()}: exact dense P, n={n}, "
                                               f"gamma={self.gamma_:.6g}")
        P = KernelRows(self.X_, self.X_, self.gamma_, same=True)
        return ContextOperator(P, memory_budget=memory_budget,
                               description=f"{self.spec()}: exact matrix-free P (row blocks of "
                                           f"{P.block_rows}), n={n}, gamma={self.gamma_:.6g}")

    def _kernel_rows(self, X_rows: np.ndarray, same: bool = False) -> KernelRows:
        return KernelRows(X_rows, self.X_, self.gamma_, same=same)

    def transition(self, X_new: np.ndarray) -> np.ndarray:
        """Dense rows ∝ exp(−γ‖x − x_j‖²) over the training points (n_new × n)."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        check_allocation(8.0 * X_new.shape[0] * self.n_samples_, None,
                         f"{X_new.shape[0]}×{self.n_samples_} transition rows")
        return self._kernel_rows(X_new).dense()

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One j ~ P⁺(·|x_i) per index i (rows computed on the fly, in blocks)."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        rng = make_rng(random_state)
        rows = self._kernel_rows(self.X_, same=True)
        out = np.empty(idx.size, dtype=np.int64)
        for b0 in range(0, idx.size, rows.block_rows):
            b1 = min(idx.size, b0 + rows.block_rows)
            out[b0:b1] = sample_from_rows(rows.take(idx[b0:b1]), rng)
        return out

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        return self.X_[self.sample_indices(indices, random_state)]
