"""Matrix-free STKR solves on a context's operator (the propagation iterations).

Notation. The context is fitted on all N rows (labelled and unlabelled), with P_X uniform on them;
its operator gives Q (N × m, m the context values) and M = Q Qᵀ (N × N, never formed) whose
eigenpairs are (λ_i, u_i); the dual kernel on the rows is k(x_i, x_j) = N M_ij. L is the set of the
n labelled rows, S the N × n matrix that places a vector of L into R^N, Q_L = Sᵀ Q the labelled
rows of Q, y the (centred) targets of L, one column per target. For a transformation
s(λ) = λ h(λ) the labelled Gram matrix of k_s is G_s = N Sᵀ M h(M) S; with E an optional PSD
n × n matrix added to it (an ambient kernel on the labelled rows,
:mod:`~contextures.semisupervised.ambient`), STKR's coefficients are

    α̂ = (G_s + E + n β I)⁻¹ y.                                                        (1)

Every solve returns α̂ and the context-side coefficients c = Qᵀ b ∈ R^{m × C} of
b = h(M) S α̂ ∈ R^N. The fitted function is f̂ = N M b = N Q c on the rows (plus E's part) and,
at any point x with transition row p(x) = P⁺(· | x),

    f̂(x) = k(x, X) b = p(x) · w,    w = √N D_c^{-1/2} c,                                (2)

because k(x, x_j) = Σ_a p_a(x) P⁺(a | x_j) / P_A(a). On a fitted row p(x_j) · w = N (Q c)_j, so
(2) reproduces the fitted values; nothing is divided by an eigenvalue, so (2) is bounded by the
entries of w wherever the row p(x) is a probability vector.

**Inverse Laplacian** (h(λ) = 1/(1 − ηλ), 0 < η < 1), solved in the context's coordinates. By the
push-through identity M (I − ηM)⁻¹ = Q (I − ηQᵀQ)⁻¹ Qᵀ, k_s = N M (I − ηM)⁻¹ has the feature map
√N Q (I − ηQᵀQ)^{−1/2}: a function f = N Q c on the rows has ‖f‖²_{k_s} = N cᵀ (I − ηQᵀQ) c.
Kernel ridge regression with k_s + E (the E part carried by a dual vector a, f_L = N Q_L c + E a)
minimises ‖y − f_L‖² + nβ (N cᵀ (I − ηQᵀQ) c + aᵀ E a); setting the gradients to zero gives
(E + nβI) a = y − N Q_L c, and, with W = (E + nβI)⁻¹,

    H c = Q_Lᵀ W y,    H = I − η QᵀQ + N Q_Lᵀ W Q_L,                                     (3)
    α̂ = a = W (y − N Q_L c).

H is symmetric positive definite with H ⪰ (1 − η) I (‖Q‖ = s_0 = 1), and (3) is solved by
conjugate gradients with the Jacobi preconditioner diag(H) (diag(W) standing in for W when E is
present). One step costs one product with Q and one with Qᵀ — one propagation through the context,
as a step of the paper's propagation iteration (STKR-Prop). The iteration stops when
‖Q_Lᵀ W y − H c‖ ≤ tol (1 − η) ‖Q_Lᵀ W y‖, which bounds the error of c by tol ‖Q_Lᵀ W y‖ whatever
η (the error is H⁻¹ times the residual). The same (α̂, f̂) solve the saddle-point system in
(b, α̂) of size N + n obtained by keeping b = (I − ηM)⁻¹ S α̂ as an unknown; that system is
indefinite (MINRES), and on the benchmark problems (3) reached the same error of f̂ with 2.1 to
7.5 times fewer products (``benchmarks/stkr_solver_compare.py``).

**Polynomial** (h(λ) = λ^{p−1}; p = 1 is kernel ridge with k itself). G_s v = N Sᵀ M^p S v costs p
propagations; (1) is solved by conjugate gradients (G_s + E + nβI is positive definite), then
c = Qᵀ M^{p−1} S α̂.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .._memory import check_allocation
from ._krylov import KrylovResult, block_cg


@dataclass
class Solution:
    """One STKR solve: α̂ (n × C), c = Qᵀ b (m × C), Qc = Q c (N × C; f̂ = N Qc on the rows) and
    the Krylov report."""

    alpha: np.ndarray
    c: np.ndarray
    Qc: np.ndarray
    krylov: KrylovResult


SINGLE_PRECISION_ROWS = 20_000
"""From this many rows, the products with a sparse Q run in float32 (``precision="auto"``)."""
SPLIT_ROWS = 50_000
"""From this many rows, the sparse products are split by rows over the solver threads
(:func:`~contextures.spectral.threads.current_threads`): each row's sum is computed as in one
product, so the result is the same to the bit."""


class Propagator:
    """The products STKR needs from a fitted context's operator (uniform P_X on its N rows).

    ``precision``: ``"float64"``, ``"float32"`` or ``"auto"`` (float32 for a sparse operator of
    at least :data:`SINGLE_PRECISION_ROWS` rows). In float32 the sparse Q and Qᵀ are stored in
    single precision and the products are computed in it (half the memory traffic of the
    products, which are the solve's cost); the Krylov recurrences stay in float64, and the
    residual they report is the one of the float32 operator, whose entries differ from Q's by a
    relative 10⁻⁷. ``products`` counts products with M = Q Qᵀ (one per column; a product with Q
    and one with Qᵀ count as one).
    """

    def __init__(self, op, memory_budget=None, precision: str = "auto"):
        self.op = op
        self.N = op.n_samples
        self.m = op.shape[1]
        self.memory_budget = memory_budget
        self.products = 0
        self._diag = kernel_diagonal(op)
        single = precision == "float32" or (precision == "auto"
                                            and self.N >= SINGLE_PRECISION_ROWS)
        self._factors = op.sparse_factors(np.float32) if single else None
        self.precision = "float32" if self._factors is not None else "float64"
        self._parts = None
        self._column_sq = None
        if self._factors is not None and self.N >= SPLIT_ROWS:
            from ..spectral.parts import RowParts, csr_row_slices
            from ..spectral.threads import current_threads

            Q, QT = self._factors
            threads = current_threads()
            if threads > 1:
                self._parts = RowParts(Q.shape[0], threads, m=QT.shape[0])
                self._split = (csr_row_slices(Q, self._parts.rows),
                               csr_row_slices(QT, self._parts.columns))
                weakref.finalize(self, self._parts.close)   # the threads end with the engine

    def _product(self, which: int, V: np.ndarray) -> np.ndarray:
        """Q V (``which`` = 0) or Qᵀ V (1) with the float32 factors, split by rows if set up."""
        from ..spectral.parts import product_part

        A = self._factors[which]
        V32 = np.ascontiguousarray(V, dtype=np.float32)
        if self._parts is None:
            return A @ V32
        slices = self._parts.rows if which == 0 else self._parts.columns
        out = np.empty((A.shape[0], V32.shape[1]), dtype=np.float32)
        self._parts.run(product_part, slices, self._split[which], V32, out)
        return out

    def Q(self, C: np.ndarray, native: bool = False) -> np.ndarray:
        """Q C for C of shape (m, b): float64, or in the products' precision if ``native``."""
        if self._factors is None:
            return self.op.matmat(C)
        out = self._product(0, C)
        return out if native else out.astype(np.float64)

    def QT(self, U: np.ndarray, native: bool = False) -> np.ndarray:
        """Qᵀ U for U of shape (N, b): float64, or in the products' precision if ``native``."""
        if self._factors is None:
            return self.op.rmatmat(U)
        out = self._product(1, U)
        return out if native else out.astype(np.float64)

    def M(self, V: np.ndarray) -> np.ndarray:
        """M V = Q (Qᵀ V), never forming M."""
        self.products += V.shape[1]
        if self._factors is None:
            return self.op.gram_matmat(V)
        return self._product(0, self._product(1, V)).astype(np.float64)

    def jacobi(self, rows: np.ndarray, eta: float, weights: np.ndarray) -> np.ndarray | None:
        """diag(I − η QᵀQ + N Q_Lᵀ diag(weights) Q_L), or None when Q is not a stored sparse
        matrix (the preconditioner of (3); Σ_i Q_ia² is computed once)."""
        factors = self.op.sparse_factors()
        if factors is None:
            return None
        Q = factors[0]
        if self._column_sq is None:
            self._column_sq = np.asarray(Q.multiply(Q).sum(axis=0)).ravel()
        QL = Q[rows]
        labelled = np.asarray(QL.multiply(QL).T @ weights).ravel()
        return 1.0 - eta * self._column_sq + self.N * labelled

    def kernel_diagonal(self, rows: np.ndarray) -> np.ndarray:
        """k(x_j, x_j) for the given rows."""
        return self._diag[rows]

    def weights(self, c: np.ndarray) -> np.ndarray:
        """w of (2) for c (see :func:`context_weights`)."""
        return context_weights(self.op, c)

    def check_memory(self, columns: int, what: str) -> None:
        check_allocation(8.0 * 8 * (self.N + self.m) * max(1, columns), self.memory_budget, what)


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


def context_weights(op, c: np.ndarray) -> np.ndarray:
    """w = √N D_c^{-1/2} c over every context value (zero on values no row reaches), (2)."""
    return np.sqrt(op.n_samples) * op.extension_weights(c, np.ones(c.shape[1]))


class _RidgeWeight:
    """W = (E + nβI)⁻¹ of (3): a scalar without E, a Cholesky factor with it."""

    def __init__(self, n: int, beta: float, extra: np.ndarray | None, memory_budget=None):
        self.scalar = None
        if extra is None:
            self.scalar = 1.0 / (n * beta)
            self.diagonal = np.full(n, self.scalar)
            return
        check_allocation(16.0 * n * n, memory_budget,
                         f"the Cholesky factor of the ambient kernel on {n} labelled rows")
        A = extra + (n * beta) * np.eye(n)
        self.factor = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
        self.diagonal = 1.0 / np.diag(A)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        if self.scalar is not None:
            return self.scalar * V
        return scipy.linalg.cho_solve(self.factor, V, check_finite=False)


def solve_inverse_laplacian(prop: Propagator, rows: np.ndarray, Y: np.ndarray, eta: float,
                            beta: float, *, start: Solution | None = None, tol: float = 1e-6,
                            maxiter: int = 2000, extra: np.ndarray | None = None) -> Solution:
    """α̂ and c for s(λ) = λ/(1 − ηλ) by conjugate gradients on (3) of the module docstring,
    to a relative residual of ``tol`` (1 − η).

    ``extra`` is a symmetric positive semi-definite n × n matrix E added to G_s (an ambient
    kernel): the solution is α̂ = (G_s + E + nβI)⁻¹ y.
    """
    N, n = prop.N, rows.size
    prop.check_memory(Y.shape[1], f"the propagation vectors of {N} rows")
    W = _RidgeWeight(n, beta, extra, prop.memory_budget)

    def apply(C: np.ndarray) -> np.ndarray:
        prop.products += C.shape[1]
        u = prop.Q(C, native=True)
        z = u * u.dtype.type(-eta)
        z[rows] += N * W(u[rows])
        out = np.array(prop.QT(z, native=True), dtype=np.float64, order="F")
        out += C
        return out

    z = np.zeros((N, Y.shape[1]))
    z[rows] = W(Y)
    g = prop.QT(z)
    diag = prop.jacobi(rows, eta, W.diagonal)
    res = block_cg(apply, g, X0=None if start is None else start.c, tol=tol * (1.0 - eta),
                   maxiter=maxiter, precondition=diag)
    Qc = prop.Q(res.X)
    alpha = W(Y - N * Qc[rows])
    return Solution(alpha=alpha, c=res.X, Qc=Qc, krylov=res)


def _powers(prop: Propagator, V: np.ndarray, times: int) -> np.ndarray:
    for _ in range(times):
        V = prop.M(V)
    return V


def solve_poly(prop: Propagator, rows: np.ndarray, Y: np.ndarray, p: int, beta: float, *,
               start: Solution | None = None, tol: float = 1e-6,
               maxiter: int = 2000, extra: np.ndarray | None = None) -> Solution:
    """α̂ and c for s(λ) = λ^p by conjugate gradients on (1), G_s v = N Sᵀ M^p S v
    (plus ``extra`` E v: the system is (G_s + E + nβI) α̂ = y); c = Qᵀ M^{p−1} S α̂."""
    N, n = prop.N, rows.size
    prop.check_memory(Y.shape[1], f"the propagation vectors of {N} rows")

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
    c = prop.QT(_powers(prop, V, p - 1))
    return Solution(alpha=res.X, c=c, Qc=prop.Q(c), krylov=res)
