"""Monte-Carlo operators for contexts known through samples and a computable density q(a | x).

Convention (docs/theory.md §4.7, [derived]). Draw r = ``draws`` corrupted copies of every training row:
a_s for s = t·n + i is copy t of row i, S = r·n draws in all, so the draws are a sample of the
context marginal P_A. With P̂_A(a) = (1/n) Σ_l q(a | x_l) (exact for each draw, not estimated),

    W[i, s] = q(a_s | x_i) / P̂_A(a_s),        P[i, s] = W[i, s] / Σ_s' W[i, s'],

a proper finite context over the draws (self-normalised importance sampling of P⁺(· | x_i) on the
draws). Its column mass is c_s ≈ 1/S, and M = P diag(c)^{-1} Pᵀ estimates k_X⁺ on the sample
consistently as r grows:  Σ_s P_is P_js / c_s → ∫ q(a|x_i) q(a|x_j) / P_A(a) da.

Computation: log q in row blocks (two passes: a column log-sum-exp for log P̂_A, then the rows),
entries below ``threshold`` (1e-12) times their row maximum are dropped (the largest dropped row
mass is reported in the operator's description). New points get rows by the same formula.

Cost, checked before anything is drawn: the S = r·n draws (values and their codes, 16 bytes per
feature, and their origins) plus the working set of one block of log-densities and a few vectors
of length S must fit the memory budget (the one handed to ``operator``, else the default budget,
which ``Contexture.fit`` and ``spectrum --memory-budget`` set for the whole fit), and about
2·n·S·F elementary steps the time guard (:func:`contextures._timeguard.check_work`) when a limit
is active. The draws are made in blocks of at most 2²² entries (the same draws as one call when
they fit in one block). While W is accumulated, its non-zeros are checked against the budget
with the copies the operator makes (:data:`SPARSE_COPIES`).

Error: the r copies are split into two halves of ⌊r/2⌋ copies; each half gives an operator
M₁, M₂ (P̂_A does not depend on the other draws, so W is shared) and
error = ‖M₁ − M₂‖₂ / 2, estimated by a few subspace iterations (matrix-free). For independent
halves ‖M₁ − M₂‖ ≈ √2 σ_{r/2} and σ_r ≈ σ_{r/2}/√2, so this estimates the Monte-Carlo error of M
(its variance part; the self-normalisation bias, O(1/r), is not included). It is stored in
``ContextOperator.error`` with ``exact=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation
from .._timeguard import check_work
from ..exceptions import ParameterError
from ..validation import check_array, check_int
from ._validation import check_fitted, check_indices, check_new_data, make_rng
from .base import Context
from .operator import ContextOperator

THRESHOLD = 1e-12
LOG_ZERO = -1e7  # log of an impossible event (exp gives exactly 0, and no NaN from −inf)
_BLOCK_ENTRIES = 1 << 22  # rows × draws per dense block (32 MB); draws are made in such blocks
DRAW_BYTES_PER_FEATURE = 56.0   # per draw and feature: its value, its code, the match table being built
DRAW_BYTES_PER_ROW = 8.0        # its origin row (int64)
BLOCK_WORK_COPIES = 4           # a block of log-densities, its exponent, mask and sparse copy
COLUMN_VECTORS = 4              # log P̂_A, its running peak and sum, one row of a block
SPARSE_COPIES = 4               # W's parts, W, P and the two halves of the error estimate


def safe_log(x: np.ndarray | float) -> np.ndarray:
    """log x with log 0 = LOG_ZERO."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), LOG_ZERO)


def block_rows(n_columns: int) -> int:
    return max(1, min(8192, _BLOCK_ENTRIES // max(1, n_columns)))


LogBlock = Callable[[int, int], np.ndarray]


def column_logsumexp(log_block: LogBlock, n_rows: int, n_columns: int) -> np.ndarray:
    """log Σ_i exp(L[i, s]) for L given block by block (rows i0:i1)."""
    peak = np.full(n_columns, -np.inf)
    acc = np.zeros(n_columns)
    step = block_rows(n_columns)
    for i0 in range(0, n_rows, step):
        L = log_block(i0, min(n_rows, i0 + step))
        new_peak = np.maximum(peak, L.max(axis=0))
        acc *= np.exp(peak - new_peak)
        L -= new_peak[None, :]
        np.exp(L, out=L)
        acc += L.sum(axis=0)
        peak = new_peak
    return peak + np.log(acc)


class SparseRows:
    """Accumulates thresholded rows exp(L − rowmax) into a CSR matrix, memory-checked."""

    def __init__(self, n_columns: int, threshold: float, memory_budget: int | None,
                 held_bytes: float = 0.0):
        self.held_bytes = held_bytes
        self.n_columns = n_columns
        self.log_threshold = float(np.log(threshold))
        self.memory_budget = memory_budget
        self.parts: list[sp.csr_matrix] = []
        self.nnz = 0
        self.max_dropped = 0.0

    def add(self, L: np.ndarray) -> None:
        """Rows with log weights L (B × S); each row is scaled to max 1."""
        L = L - L.max(axis=1, keepdims=True)
        keep = L >= self.log_threshold
        E = np.exp(L, out=L)
        total = E.sum(axis=1)
        E *= keep
        kept = E.sum(axis=1)
        self.max_dropped = max(self.max_dropped, float(np.max(1.0 - kept / total)))
        block = sp.csr_matrix(E)
        self.nnz += block.nnz
        check_allocation(self.held_bytes + SPARSE_COPIES * 12.0 * self.nnz, self.memory_budget,
                         f"the Monte-Carlo transition matrix ({self.nnz} non-zeros so far, "
                         f"{SPARSE_COPIES} copies while the operator is built)")
        self.parts.append(block)

    def matrix(self) -> sp.csr_matrix:
        if not self.parts:
            return sp.csr_matrix((0, self.n_columns))
        out = sp.csr_matrix(sp.vstack(self.parts, format="csr"))
        out.sort_indices()
        return out


def row_normalize(W: sp.csr_matrix) -> sp.csr_matrix:
    s = np.asarray(W.sum(axis=1)).ravel()
    if np.any(s <= 0):
        raise ParameterError("a row of the Monte-Carlo transition matrix is empty")
    P = sp.csr_matrix(sp.diags(1.0 / s) @ W)
    P.sort_indices()
    return P


def gram_product(P: sp.csr_matrix, pi: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """U ↦ M U for M = D_π^{1/2} P D_c^{-1} Pᵀ D_π^{1/2}, c = Pᵀπ (no copy of P is made)."""
    sqrt_pi = np.sqrt(pi)
    c = np.asarray(P.T @ pi).ravel()
    inv_c = np.divide(1.0, c, out=np.zeros_like(c), where=c > 0)

    def apply(U: np.ndarray) -> np.ndarray:
        V = np.asarray(P.T @ (sqrt_pi[:, None] * U)) * inv_c[:, None]
        return sqrt_pi[:, None] * np.asarray(P @ V)

    return apply


def difference_norm(gram1: Callable[[np.ndarray], np.ndarray],
                    gram2: Callable[[np.ndarray], np.ndarray], n: int, *,
                    iterations: int = 12, block: int = 3, seed: int = 0) -> float:
    """‖M₁ − M₂‖₂ by subspace iteration on the symmetric difference (matrix-free).

    A lower estimate that converges to the norm; a dozen iterations give its order of magnitude,
    which is what an error report needs.
    """
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.normal(size=(n, min(block, n))))
    for _ in range(iterations):
        V, _ = np.linalg.qr(gram1(V) - gram2(V))
    H = V.T @ (gram1(V) - gram2(V))
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (H + H.T)))))


def monte_carlo_operator(W: sp.csr_matrix, n: int, copies: int, *, memory_budget: int | None,
                         description: str, max_dropped: float = 0.0,
                         seed: int = 0) -> ContextOperator:
    """The ContextOperator of W (n × r·n, copy-major columns), with the split-half error."""
    P = row_normalize(W)
    half = copies // 2
    error = None
    note = ""
    if half >= 1:
        W1 = sp.csr_matrix(W[:, : half * n])
        W2 = sp.csr_matrix(W[:, half * n : 2 * half * n])
        r1 = np.asarray(W1.sum(axis=1)).ravel()
        r2 = np.asarray(W2.sum(axis=1)).ravel()
        if np.all(r1 > 0) and np.all(r2 > 0):
            pi = np.full(n, 1.0 / n)
            error = 0.5 * difference_norm(gram_product(row_normalize(W1), pi),
                                          gram_product(row_normalize(W2), pi), n, seed=seed)
            note = f", error≈{error:.3g} (split halves)"
        else:
            error = float("nan")
            note = ", error unknown (a half has an empty row)"
    return ContextOperator(
        P, memory_budget=memory_budget, exact=False, error=error,
        description=(f"{description}: Monte-Carlo P over {W.shape[1]} draws ({copies} per row), "
                     f"n={n}, nnz={P.nnz}, entries < {THRESHOLD:g}×row max dropped (largest "
                     f"dropped row mass {max_dropped:.2g}){note}"))


class MonteCarloContext(Context):
    """Base of augmentation contexts with a computable density (see the module docstring).

    Subclasses set ``draws`` and ``random_state`` parameters and implement ``_check_params``,
    ``_prepare`` (fit-time tables), ``_draw(origins, rng)`` (one corrupted copy per origin row)
    and ``_log_q(rows_or_X, new)`` (log q(a_s | x) for a block, dense B × S), or override
    ``_weights`` entirely (cutmix).
    """

    access = "sample"
    value_space = "input"
    zero_density_possible: ClassVar[bool] = True  # log q uses LOG_ZERO for impossible draws

    # --- to implement ---------------------------------------------------------------------------
    def _check_params(self, who: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self) -> None:
        """Tables that depend on the sample only (called in fit before the draws)."""

    def _after_draws(self) -> None:
        """Tables that depend on the draws ``A_`` (called at the end of fit)."""

    def _draw(self, origins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def _log_q_train(self, i0: int, i1: int) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def _log_q_new(self, X_new: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    # --- fit --------------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> MonteCarloContext:
        who = self.spec()
        self._check_params(who)
        draws = check_int(self.draws, "draws", low=2, who=who)
        X = check_array(X, what=who, min_samples=2, representable=True)
        rng = make_rng(self.random_state)
        n = X.shape[0]
        self.X_ = X
        self.n_samples_ = n
        self.n_features_in_ = X.shape[1]
        self.draws_ = draws
        self._check_cost(n, draws, X.shape[1])
        self.origins_ = np.tile(np.arange(n), draws)
        self._prepare()
        self.A_ = self._draw_blocks(self.origins_, rng)
        self._log_pa = None
        self._W = None
        self._after_draws()
        return self

    def _check_cost(self, n: int, draws: int, n_features: int) -> None:
        """Refuse, before drawing, draws whose memory or time cannot fit (module docstring)."""
        S = float(n) * draws
        held = S * (DRAW_BYTES_PER_FEATURE * n_features + DRAW_BYTES_PER_ROW)
        block = min(n, block_rows(int(S))) * S
        working = BLOCK_WORK_COPIES * 8.0 * block + COLUMN_VECTORS * 8.0 * S
        check_allocation(held + working, None,
                         f"{self.spec()}: {draws} draws of {n} rows × {n_features} features "
                         f"({int(S)} draws; the draws, their codes and one block of log-densities)")
        check_work(2.0 * n * S * n_features, f"{self.spec()}: the Monte-Carlo operator over "
                                             f"{int(S)} draws")
        self._held_bytes = held

    def _draw_blocks(self, origins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``_draw`` over ``origins`` in blocks of at most ``_BLOCK_ENTRIES`` entries, into one
        preallocated array (one block, and the same draws as a single call, when it fits)."""
        F = self.X_.shape[1]
        step = max(1, _BLOCK_ENTRIES // max(1, F))
        if origins.size <= step:
            return self._draw(origins, rng)
        A = np.empty((origins.size, F))
        for i0 in range(0, origins.size, step):
            A[i0:i0 + step] = self._draw(origins[i0:i0 + step], rng)
        return A

    @property
    def n_draws_(self) -> int:
        return self.A_.shape[0]

    # --- the operator -----------------------------------------------------------------------------
    def log_marginal(self) -> np.ndarray:
        """log P̂_A(a_s) = log (1/n) Σ_l q(a_s | x_l) for every draw (computed once)."""
        check_fitted(self)
        if self._log_pa is None:
            self._log_pa = (column_logsumexp(self._log_q_train, self.n_samples_, self.n_draws_)
                            - np.log(self.n_samples_))
        return self._log_pa

    def _weights(self, memory_budget: int | None) -> tuple[sp.csr_matrix, float]:
        log_pa = self.log_marginal()
        rows = SparseRows(self.n_draws_, THRESHOLD, memory_budget,
                          held_bytes=getattr(self, "_held_bytes", 0.0))
        step = block_rows(self.n_draws_)
        for i0 in range(0, self.n_samples_, step):
            i1 = min(self.n_samples_, i0 + step)
            rows.add(self._log_q_train(i0, i1) - log_pa[None, :])
        return rows.matrix(), rows.max_dropped

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        if self._W is None:
            self._W = self._weights(memory_budget)
        W, dropped = self._W
        seed = self.random_state if isinstance(self.random_state, int) else 0
        return monte_carlo_operator(W, self.n_samples_, self.draws_, memory_budget=memory_budget,
                                    description=self.spec(), max_dropped=dropped, seed=seed)

    def transition(self, X_new: np.ndarray) -> sp.csr_matrix:
        """Rows P⁺(a_s | x) ∝ q(a_s | x) / P̂_A(a_s) over the training draws (n_new × S, CSR)."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        log_pa = self.log_marginal()
        rows = SparseRows(self.n_draws_, THRESHOLD, None)
        step = block_rows(self.n_draws_)
        for i0 in range(0, X_new.shape[0], step):
            L = self._log_q_new(X_new[i0:i0 + step])
            if self.zero_density_possible and np.any(L.max(axis=1) <= 0.5 * LOG_ZERO):
                raise ParameterError(f"{self.spec()}.transition: a new point cannot produce any "
                                     "of the training draws (density 0 everywhere)")
            rows.add(L - log_pa[None, :])
        W = rows.matrix()
        return row_normalize(W) if W.shape[0] else W

    # --- sampling ---------------------------------------------------------------------------------
    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One fresh corrupted copy a ~ P⁺(· | x_i) per index."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample")
        return self._draw(idx, make_rng(random_state))
