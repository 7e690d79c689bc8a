"""Matrix-free STKR solves on a context's operator (the propagation iterations).

Notation. The context is fitted on all N rows (labelled and unlabelled), with P_X uniform on them;
its operator gives M = Q Qᵀ (N × N, never formed) whose eigenpairs are (λ_i, u_i), and the dual
kernel on the rows is k(x_i, x_j) = N M_ij. L is the set of the n labelled rows, S the N × n
matrix that places a vector of L into R^N, y the (centred) targets of L, one column per target.
For a transformation s(λ) = λ h(λ) the labelled Gram matrix of k_s is G_s = N Sᵀ M h(M) S and
STKR's coefficients are

    α̂ = (G_s + n β I)⁻¹ y.                                                            (1)

With b = h(M) S α̂ ∈ R^N the fitted function is f̂ = N M b on the rows and, at any point x
with transition row p(x) = P⁺(· | x),

    f̂(x) = k(x, X) b = p(x) · w,    w = √N D_c^{-1/2} Qᵀ b,                             (2)

because k(x, x_j) = Σ_a p_a(x) P⁺(a | x_j) / P_A(a). On a fitted row p(x_j) · w = N (M b)_j, so
(2) reproduces the fitted values; nothing is divided by an eigenvalue, so (2) is bounded by the
entries of w wherever the row p(x) is a probability vector.

**Inverse Laplacian** (h(λ) = 1/(1 − ηλ)). Then (I − ηM) b = S α̂, hence ηMb = b − Sα̂ and (1)
reads (N/η)(Sᵀb − α̂) + nβ α̂ = y. Together:

    [ I − ηM    −S          ] [ b ]   [ 0      ]
    [ −Sᵀ       (1 − ηnβ/N) ] [ α̂ ] = [ −ηy/N ],                                       (3)

one symmetric sparse system of size N + n, in which each step propagates once through the
context (one product with M) — the fixed point of the paper's propagation iteration (STKR-Prop),
solved here by MINRES instead of Richardson's iteration. Eliminating b gives back (1): the Schur
complement of the first block is −(η/N)(G_s + nβI), negative definite, so (3) is nonsingular
for every β > 0, and MINRES converges at a rate set by 1 − η and by the conditioning of G_s + nβI.
The α̂ rows are scaled by t_j = (η (M_jj + nβ/N))^{-1/2}, which makes the diagonal of that Schur
complement about 1. The fitted values need no further product: f̂ = N M b = (N/η)(b − S α̂).

**Polynomial** (h(λ) = λ^{p−1}; p = 1 is kernel ridge with k itself). G_s v = N Sᵀ M^p S v costs p
propagations; (1) is solved by conjugate gradients (G_s + nβI is positive definite), then
b = M^{p−1} S α̂.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation
from ._krylov import KrylovResult, block_cg, block_minres


@dataclass
class Solution:
    """One STKR solve: α̂ (n × C), b = h(M) S α̂ (N × C) and the Krylov report."""

    alpha: np.ndarray
    b: np.ndarray
    krylov: KrylovResult


SINGLE_PRECISION_ROWS = 20_000
"""From this many rows, the products with a sparse M run in float32 (``precision="auto"``)."""
SPLIT_ROWS = 50_000
"""From this many rows, the sparse products are split by rows over the solver threads
(:func:`~contextures.spectral.threads.current_threads`): each row's sum is computed as in one
product, so the result is the same to the bit."""


class Propagator:
    """The products STKR needs from a fitted context's operator (uniform P_X on its N rows).

    ``precision``: ``"float64"``, ``"float32"`` or ``"auto"`` (float32 for a sparse operator of
    at least :data:`SINGLE_PRECISION_ROWS` rows). In float32 the sparse Q and Qᵀ are stored in
    single precision and M V is computed in it (half the memory traffic of the products, which
    are the solve's cost); the Krylov recurrences stay in float64, and the residual they report
    is the one of the float32 operator, whose entries differ from M's by a relative 10⁻⁷.
    """

    def __init__(self, op, memory_budget=None, precision: str = "auto"):
        self.op = op
        self.N = op.n_samples
        self.memory_budget = memory_budget
        self.products = 0
        self._diag = kernel_diagonal(op)
        single = precision == "float32" or (precision == "auto"
                                            and self.N >= SINGLE_PRECISION_ROWS)
        self._factors = op.sparse_factors(np.float32) if single else None
        self.precision = "float32" if self._factors is not None else "float64"
        self._parts = None
        if self._factors is not None and self.N >= SPLIT_ROWS:
            from ..spectral.parts import RowParts
            from ..spectral.threads import current_threads

            Q, QT = self._factors
            threads = current_threads()
            if threads > 1:
                self._parts = RowParts(Q.shape[0], threads, m=QT.shape[0])
                self._split = ([_row_view(Q, r) for r in self._parts.rows],
                               [_row_view(QT, c) for c in self._parts.columns])
                weakref.finalize(self, self._parts.close)   # the threads end with the engine

    def M(self, V: np.ndarray) -> np.ndarray:
        """M V = Q (Qᵀ V), never forming M."""
        self.products += V.shape[1]
        if self._factors is None:
            return self.op.gram_matmat(V)
        Q, QT = self._factors
        V32 = np.ascontiguousarray(V, dtype=np.float32)
        if self._parts is None:
            return np.asarray(Q @ (QT @ V32), dtype=np.float64)
        Q_parts, QT_parts = self._split
        H = np.empty((QT.shape[0], V32.shape[1]), dtype=np.float32)
        W = np.empty((Q.shape[0], V32.shape[1]), dtype=np.float32)

        def part(i: int, A_parts, slices, X, out) -> None:
            out[slices[i]] = A_parts[i] @ X

        self._parts.run(part, QT_parts, self._parts.columns, V32, H)
        self._parts.run(part, Q_parts, self._parts.rows, H, W)
        return W.astype(np.float64)


    def kernel_diagonal(self, rows: np.ndarray) -> np.ndarray:
        """k(x_j, x_j) for the given rows."""
        return self._diag[rows]

    def weights(self, b: np.ndarray) -> np.ndarray:
        """w of (2) for b (see :func:`context_weights`)."""
        return context_weights(self.op, b)

    def check_memory(self, n_labelled: int, columns: int, what: str) -> None:
        check_allocation(8.0 * 10 * (self.N + n_labelled) * max(1, columns), self.memory_budget,
                         what)


def _row_view(A: sp.csr_matrix, rows: slice) -> sp.csr_matrix:
    """Rows ``rows`` of a CSR matrix sharing its data and indices (no copy of the entries)."""
    start, stop = A.indptr[rows.start], A.indptr[rows.stop]
    return sp.csr_matrix((A.data[start:stop], A.indices[start:stop],
                          A.indptr[rows.start:rows.stop + 1] - start),
                         shape=(rows.stop - rows.start, A.shape[1]), copy=False)


def kernel_diagonal(op) -> np.ndarray:
    """k(x_j, x_j) = Σ_a P⁺(a|x_j)² / P_A(a) for every fitted row (= N M_jj), from the rows of P.

    ``op`` is a :class:`~contextures.contexts.operator.ContextOperator` with uniform P_X (a
    transition matrix, not a feature matrix); dense and matrix-free rows are read in blocks.
    """
    m = op.shape[1]
    inv_c = op.extension_weights(np.ones((m, 1)), np.ones(1))[:, 0] ** 2
    P = op.P
    if sp.issparse(P):
        P = sp.csr_matrix(P)
        return np.asarray(P.multiply(P) @ inv_c).ravel()
    n = op.n_samples
    out = np.empty(n)
    if isinstance(P, np.ndarray):
        for i0 in range(0, n, 1024):
            rows = P[i0:i0 + 1024]
            out[i0:i0 + 1024] = (rows * rows) @ inv_c
        return out
    for i0 in range(0, n, P.block_rows):
        rows = P.row_block(i0, min(n, i0 + P.block_rows))
        out[i0:i0 + rows.shape[0]] = (rows * rows) @ inv_c
    return out


def context_weights(op, b: np.ndarray) -> np.ndarray:
    """w = √N D_c^{-1/2} Qᵀ b over every context value (zero on values no row reaches), (2)."""
    QTb = op.rmatmat(b)
    return np.sqrt(op.n_samples) * op.extension_weights(QTb, np.ones(b.shape[1]))


def solve_inverse_laplacian(prop: Propagator, rows: np.ndarray, Y: np.ndarray, eta: float,
                            beta: float, *, start: Solution | None = None, tol: float = 1e-6,
                            maxiter: int = 2000, extra: np.ndarray | None = None) -> Solution:
    """α̂ and b for s(λ) = λ/(1 − ηλ) by MINRES on the joint system (3) of the module docstring.

    ``extra`` is a symmetric positive semi-definite n × n matrix E added to G_s (an ambient kernel,
    :mod:`~contextures.semisupervised.ambient`): the α̂ block of (3) gains −(η/N) E, and
    eliminating b gives (G_s + E + nβI) α̂ = y.
    """
    N, n = prop.N, rows.size
    prop.check_memory(n, Y.shape[1], f"the propagation vectors of {N} rows")
    gamma = 1.0 - eta * n * beta / N
    diag = prop.kernel_diagonal(rows) + (0.0 if extra is None else np.diag(extra))
    t = 1.0 / np.sqrt(eta * (diag / N + n * beta / N))
    E = None if extra is None else (eta / N) * (t[:, None] * extra * t[None, :])
    t = t[:, None]

    def apply(Z: np.ndarray) -> np.ndarray:
        b, a = Z[:N], Z[N:]
        out = np.empty_like(Z)
        out[:N] = b - eta * prop.M(b)
        out[rows] -= t * a
        out[N:] = -t * b[rows] + gamma * (t * t) * a
        if E is not None:
            out[N:] -= E @ a
        return out

    B = np.zeros((N + n, Y.shape[1]))
    B[N:] = -t * (eta / N) * Y
    X0 = None
    if start is not None:
        X0 = np.vstack([start.b, start.alpha / t])
    res = block_minres(apply, B, X0=X0, tol=tol, maxiter=maxiter)
    return Solution(alpha=t * res.X[N:], b=res.X[:N], krylov=res)


def fitted_inverse_laplacian(prop: Propagator, rows: np.ndarray, sol: Solution,
                             eta: float) -> np.ndarray:
    """f̂ on every row: N M b = (N/η)(b − S α̂), no further product."""
    f = sol.b.copy()
    f[rows] -= sol.alpha
    return (prop.N / eta) * f


def _powers(prop: Propagator, V: np.ndarray, times: int) -> np.ndarray:
    for _ in range(times):
        V = prop.M(V)
    return V


def solve_poly(prop: Propagator, rows: np.ndarray, Y: np.ndarray, p: int, beta: float, *,
               start: Solution | None = None, tol: float = 1e-6,
               maxiter: int = 2000, extra: np.ndarray | None = None) -> Solution:
    """α̂ and b for s(λ) = λ^p by conjugate gradients on (1), G_s v = N Sᵀ M^p S v
    (plus ``extra`` E v: the system is (G_s + E + nβI) α̂ = y)."""
    N, n = prop.N, rows.size
    prop.check_memory(n, Y.shape[1], f"the propagation vectors of {N} rows")

    def apply(A: np.ndarray) -> np.ndarray:
        V = np.zeros((N, A.shape[1]))
        V[rows] = A
        out = N * _powers(prop, V, p)[rows] + (n * beta) * A
        return out if extra is None else out + extra @ A

    diag = None
    if p == 1:
        diag = prop.kernel_diagonal(rows) + n * beta + (0.0 if extra is None else np.diag(extra))
    res = block_cg(apply, Y, X0=None if start is None else start.alpha, tol=tol,
                   maxiter=maxiter, precondition=diag)
    V = np.zeros((N, Y.shape[1]))
    V[rows] = res.X
    return Solution(alpha=res.X, b=_powers(prop, V, p - 1), krylov=res)


def fitted_poly(prop: Propagator, sol: Solution) -> np.ndarray:
    """f̂ on every row: N M b."""
    return prop.N * prop.M(sol.b)
