"""The finite-sample operator of a context: the contract between ``contexts`` and ``spectral``.

A context fitted on n samples x_1..x_n defines a row-stochastic transition matrix
P ∈ R^{n×m}, P[i, a] = P⁺(a | x_i), over m context values a (the sample itself for KNN, RBF and
graphs; classes for labels; Monte-Carlo draws for augmentations). With sample weights π (P_X on the
sample, uniform by default) and the context marginal c = Pᵀπ (P_A, columns with c_a = 0 dropped),

    Q = D_π^{1/2} P D_c^{-1/2}        M = Q Qᵀ

M is the matrix of T T* in L²(P_X): symmetric PSD, top eigenvalue s_0² = 1 with eigenvector √π.
The singular values of Q are s_0 = 1 ≥ s_1 ≥ ..., and with Q = U S Vᵀ the singular functions are
μ_i = D_π^{-1/2} u_i on the sample (unit variance under π) and ν_i = D_c^{-1/2} v_i on the context
values. At a new point x with transition row p(x) = P⁺(·|x) the extension of docs/theory.md §6 is

    μ_i(x) = s_i⁻¹ Σ_a p_a(x) ν_i(a) = p(x) · D_c^{-1/2} v_i / s_i,

which reproduces μ_i on the training sample. For uniform π this is
Q = P diag(colsum)^{-1/2}: the 1/n factors cancel.

P may be a ``scipy.sparse`` matrix (KNN, labels, graphs), a dense array (RBF, masked RBF) or a
:class:`MatrixFreeTransition` that computes blocks on the fly (dense kernels too large to store).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .. import _progress as progress
from .. import _timeguard as timeguard
from .._memory import check_allocation
from ..exceptions import ParameterError


class MatrixFreeTransition:
    """A transition matrix P (n × m) that is never stored: products are computed block by block.

    Subclasses implement :meth:`row_block` (dense rows ``P[i0:i1]``); products and the column mass
    are derived from it, in blocks of ``block_rows`` rows so memory stays at ``block_rows × m``.
    """

    block_rows: int = 1024

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape

    def row_block(self, i0: int, i1: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _blocks(self):
        """Row blocks (i0, i1, P[i0:i1]) of one pass; a long pass reports its progress (inside
        :func:`contextures._progress.reporting`) and is checked against the time limit (inside
        :func:`contextures._timeguard.time_limit`)."""
        n = self.shape[0]
        bar = progress.task("matrix-free pass over the kernel", n, "rows")
        guard = timeguard.current()
        start = time.perf_counter()
        for i0 in range(0, n, self.block_rows):
            i1 = min(n, i0 + self.block_rows)
            yield i0, i1, self.row_block(i0, i1)
            bar.update(i1)
            if guard is not None:
                guard.on_pass(n, i1, time.perf_counter() - start)
        bar.close()

    def matmat(self, V: np.ndarray) -> np.ndarray:
        """P @ V."""
        out = np.empty((self.shape[0], V.shape[1]), dtype=np.result_type(V, np.float64))
        for i0, i1, rows in self._blocks():
            out[i0:i1] = rows @ V
        return out

    def rmatmat(self, U: np.ndarray) -> np.ndarray:
        """Pᵀ @ U."""
        out = np.zeros((self.shape[1], U.shape[1]), dtype=np.result_type(U, np.float64))
        for i0, i1, rows in self._blocks():
            out += rows.T @ U[i0:i1]
        return out


@dataclass
class ContextOperator:
    """Q = D_π^{1/2} P D_c^{-1/2} for a transition matrix P; see the module docstring.

    Parameters
    ----------
    P : sparse matrix, ndarray or MatrixFreeTransition, shape (n, m)
        Row-stochastic: P[i, a] = P⁺(a | x_i). Rows are renormalised if they drift by rounding.
    sample_weight : ndarray (n,), optional
        P_X on the sample (sums to 1); uniform by default.
    exact : bool
        False when P is itself an estimate (Monte-Carlo or Nyström); ``error`` then says how large.
    error : float, optional
        Estimated operator-norm error of M (Monte-Carlo contexts), or None.
    description : str
        What was built, e.g. ``"knn(k=30): sparse P, nnz=600000"``.
    memory_budget : int, optional
        Bytes that dense allocations may take (default: see ``contextures._memory``).
    features : bool
        When True, ``P`` is not a transition matrix but a feature matrix F whose columns are
        already on the scale of L²(P_A): Q = D_π^{1/2} F, no column mass is computed and the
        extension is μ(x) = f(x) · v / s. Used by linear-kernel contexts (teacher features,
        whitened regression labels), whose dual kernel is k⁺(x, x') = f(x) · f(x').
    """

    P: object
    sample_weight: np.ndarray | None = None
    exact: bool = True
    error: float | None = None
    description: str = ""
    memory_budget: int | None = None
    features: bool = False
    kept_columns: np.ndarray = field(init=False)
    col_mass: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        P = self.P
        n = P.shape[0]
        if self.sample_weight is None:
            pi = np.full(n, 1.0 / n)
        else:
            pi = np.asarray(self.sample_weight, dtype=np.float64)
            if pi.shape != (n,) or np.any(pi < 0) or not np.isfinite(pi).all():
                raise ParameterError("sample_weight must be n non-negative finite numbers")
            pi = pi / pi.sum()
        self.pi = pi
        c = np.ones(P.shape[1]) if self.features else self._rmatvec_P(pi)
        keep = c > 1e-300
        self.kept_columns = np.flatnonzero(keep)
        self.col_mass = c[keep]
        self._sqrt_pi = np.sqrt(pi)
        self._inv_sqrt_c_full = np.zeros(P.shape[1])
        self._inv_sqrt_c_full[keep] = 1.0 / np.sqrt(c[keep])
        self._Q = None
        self._QT = None
        if sp.issparse(P):
            Q = sp.diags(self._sqrt_pi) @ sp.csr_matrix(P) @ sp.diags(self._inv_sqrt_c_full)
            Q = sp.csr_matrix(Q)[:, self.kept_columns] if not keep.all() else sp.csr_matrix(Q)
            Q.sort_indices()
            self._Q = Q
            self._QT = sp.csr_matrix(Q.T)
            self.kind = "sparse"
        elif isinstance(P, np.ndarray):
            check_allocation(P.size * 8, self.memory_budget, "the dense operator Q")
            Q = (P if keep.all() else P[:, self.kept_columns]).astype(np.float64, copy=True)
            Q *= self._sqrt_pi[:, None]
            Q *= self._inv_sqrt_c_full[None, self.kept_columns]
            self._Q = Q
            self.kind = "dense"
        elif isinstance(P, MatrixFreeTransition):
            self.kind = "matrix_free"
        else:
            raise TypeError(f"unsupported transition matrix type {type(P).__name__}")

    # --- shapes -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(n, m): samples × kept context values."""
        return (self.P.shape[0], self.kept_columns.size)

    @property
    def n_samples(self) -> int:
        return self.P.shape[0]

    @property
    def nnz(self) -> int | None:
        return self._Q.nnz if self.kind == "sparse" else None

    def sparse_factors(self, dtype=np.float64) -> tuple[sp.csr_matrix, sp.csr_matrix] | None:
        """(Q, Qᵀ) as CSR matrices of ``dtype`` (copies unless float64), or None unless sparse."""
        if self.kind != "sparse":
            return None
        if np.dtype(dtype) == self._Q.dtype:
            return self._Q, self._QT
        return self._Q.astype(dtype), self._QT.astype(dtype)

    def _rmatvec_P(self, u: np.ndarray) -> np.ndarray:
        P = self.P
        if isinstance(P, MatrixFreeTransition):
            return P.rmatmat(u[:, None])[:, 0]
        return np.asarray(P.T @ u).ravel()

    # --- products with Q ----------------------------------------------------------------------
    def matmat(self, V: np.ndarray) -> np.ndarray:
        """Q @ V for V of shape (m, b)."""
        if self._Q is not None:
            return np.asarray(self._Q @ V)
        full = np.zeros((self.P.shape[1], V.shape[1]))
        full[self.kept_columns] = V * self._inv_sqrt_c_full[self.kept_columns, None]
        return self._sqrt_pi[:, None] * self.P.matmat(full)

    def rmatmat(self, U: np.ndarray) -> np.ndarray:
        """Qᵀ @ U for U of shape (n, b)."""
        if self._QT is not None:
            return np.asarray(self._QT @ U)
        if self._Q is not None:
            return self._Q.T @ U
        out = self.P.rmatmat(self._sqrt_pi[:, None] * U)[self.kept_columns]
        return out * self._inv_sqrt_c_full[self.kept_columns, None]

    def gram_matmat(self, U: np.ndarray) -> np.ndarray:
        """M @ U = Q (Qᵀ U), never forming M."""
        return self.matmat(self.rmatmat(U))

    def dense_q(self) -> np.ndarray:
        """Q as a dense array (memory-checked)."""
        n, m = self.shape
        check_allocation(8.0 * n * m, self.memory_budget, f"a dense {n}×{m} Q")
        if self.kind == "dense":
            return self._Q
        if self.kind == "sparse":
            return self._Q.toarray()
        return self.matmat(np.eye(m))

    def dense_gram(self) -> np.ndarray:
        """M = Q Qᵀ as a dense n × n array (memory-checked)."""
        n, m = self.shape
        check_allocation(8.0 * n * n * (2 if self.kind != "dense" else 1), self.memory_budget,
                         f"the dense {n}×{n} matrix M")
        if self.kind == "sparse":
            M = (self._Q @ self._QT).toarray()
        elif self.kind == "dense":
            M = self._Q @ self._Q.T
        else:
            M = np.empty((n, n))
            for i0 in range(0, n, 1024):
                i1 = min(n, i0 + 1024)
                e = np.zeros((n, i1 - i0))
                e[np.arange(i0, i1), np.arange(i1 - i0)] = 1.0
                M[:, i0:i1] = self.gram_matmat(e)
        return 0.5 * (M + M.T)

    # --- kernel access and the extension ------------------------------------------------------
    def kernel(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The dual kernel k_X⁺(x_i, x_j) = M_ij / sqrt(π_i π_j) for i in rows, j in cols.

        Computed as Q[rows] Q[cols]ᵀ (cost |rows| × m × |cols|), never from the whole of M.
        """
        rows = np.asarray(rows)
        cols = np.asarray(cols)
        if self._Q is not None:
            block = self._Q[rows] @ self._Q[cols].T
            block = block.toarray() if sp.issparse(block) else np.asarray(block)
        else:
            n = self.n_samples
            E = np.zeros((n, cols.size))
            E[cols, np.arange(cols.size)] = 1.0
            block = self.gram_matmat(E)[rows]
        return block / np.outer(self._sqrt_pi[rows], self._sqrt_pi[cols])

    def eigenfunctions_from_left(self, U: np.ndarray) -> np.ndarray:
        """μ = D_π^{-1/2} U: left singular vectors of Q to functions with unit variance under π."""
        return U / self._sqrt_pi[:, None]

    def extension_weights(self, V: np.ndarray, s: np.ndarray) -> np.ndarray:
        """W (m_full × d) such that μ(x) = p(x) @ W for a full transition row p(x) over all m columns.

        ``V`` holds right singular vectors of Q (m_kept × d) and ``s`` their singular values.
        """
        W = np.zeros((self.P.shape[1], V.shape[1]))
        safe = np.where(s > 0, s, np.inf)
        W[self.kept_columns] = V * self._inv_sqrt_c_full[self.kept_columns, None] / safe[None, :]
        return W
