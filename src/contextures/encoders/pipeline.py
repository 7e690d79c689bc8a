"""The data pipeline: what the objectives need, drawn from a fitted context on the training sample.

Sampling happens here, never in a loss. :class:`ContextSampler` wraps a fitted context and its
training sample and answers three kinds of request:

- *sample access*: one a ~ P⁺(·|x_i) per row (``Context.sample``), or, for contexts whose values are
  the training points themselves (KNN, RBF, masked variants, graphs: 𝒜 = 𝒳, "finite values"),
  the index j of the drawn value (``Context.sample_indices``), so a network can be evaluated once
  on the distinct rows and its outputs gathered;
- *kernel access*: Gram blocks of k_X⁺ (``ContextOperator.kernel``) or the whole operator;
- *transition rows*: P⁺(·|x) over the finite values, for Φ = T Ψ on training and new points.

It also says which of these the context supports, so that an objective/context mismatch becomes a
clear :class:`~contextures.exceptions.ParameterError` before training starts.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation, fits
from ..exceptions import ContexturesError, ParameterError


class ContextSampler:
    """Draws from a fitted context on its training sample X (n × F)."""

    def __init__(self, context, X: np.ndarray, memory_budget: int | None = None):
        self.context = context
        self.X = X
        self.n = X.shape[0]
        self.memory_budget = memory_budget
        self._op = None
        self._op_error: str | None = None
        self._can_sample: bool | None = None
        self._sample_dim: int | None = None
        self._finite: bool | None = None
        self._reverse = None
        self._forward = None

    @property
    def name(self) -> str:
        try:
            return self.context.spec()
        except Exception:  # pragma: no cover - a context without a spec
            return type(self.context).__name__

    @property
    def value_space(self) -> str:
        return getattr(self.context, "value_space", "other")

    @property
    def access(self) -> str:
        return getattr(self.context, "access", "kernel")

    # --- capabilities -------------------------------------------------------------------------
    def operator(self):
        """The fitted context's ContextOperator (built once); ParameterError when it has none."""
        if self._op is None and self._op_error is None:
            try:
                self._op = self.context.operator(memory_budget=self.memory_budget)
            except (ParameterError, NotImplementedError) as exc:
                self._op_error = str(exc) or type(exc).__name__
        if self._op is None:
            raise ParameterError(f"context {self.name} gives no kernel access: {self._op_error}")
        return self._op

    def has_kernel(self) -> bool:
        try:
            self.operator()
        except ParameterError:
            return False
        return True

    def can_sample(self) -> bool:
        """Whether ``Context.sample`` works (checked once with a throw-away draw)."""
        if self._can_sample is None:
            try:
                a = np.asarray(self.context.sample(np.array([0]),
                                                   random_state=np.random.default_rng(0)))
                self._sample_dim = int(a.reshape(1, -1).shape[1])
                self._can_sample = True
            except (ParameterError, NotImplementedError, AttributeError):
                self._can_sample = False
        return self._can_sample

    @property
    def sample_dim(self) -> int:
        """Length of one context value as returned by ``sample`` (F for input-space contexts)."""
        if not self.can_sample():
            raise ParameterError(f"context {self.name} cannot be sampled")
        return self._sample_dim

    def finite_values(self) -> bool:
        """Whether the context values are the training points (𝒜 = 𝒳 on the sample, kernel access).

        True for KNN, RBF, their masked variants and graphs; False for labels (values are
        classes) and Monte-Carlo augmentation contexts (values are draws).
        """
        if self._finite is None:
            ok = (self.value_space == "input" and self.access == "kernel"
                  and hasattr(self.context, "sample_indices"))
            if ok:
                try:
                    j = np.asarray(self.context.sample_indices(
                        np.array([0]), random_state=np.random.default_rng(0)))
                    ok = j.size == 1 and self.operator().P.shape[1] == self.n
                except (ContexturesError, NotImplementedError, AttributeError):
                    ok = False
            self._finite = bool(ok)
        return self._finite

    # --- draws ----------------------------------------------------------------------------------
    def sample(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One a ~ P⁺(·|x_i) per index, as rows (float64)."""
        a = np.asarray(self.context.sample(indices, random_state=rng), dtype=np.float64)
        return a.reshape(len(indices), -1)

    def value_indices(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For finite contexts: the index j of one drawn value x_j ~ P⁺(·|x_i) per index i.

        A dense transition matrix (RBF) is sampled from a table of its row sums, built once when
        it fits the memory budget (the context would recompute its kernel rows at every draw);
        others ask the context.
        """
        P = self._op.P if self._op is not None else None
        if (isinstance(P, np.ndarray) and P.shape[1] == self.n and self._forward is None
                and fits(8.0 * P.size, self.memory_budget)):
            self._forward = np.cumsum(P, axis=1)
        if self._forward is not None:
            idx = np.asarray(indices, dtype=np.int64).reshape(-1)
            cdf = self._forward
            return _search(cdf, idx, rng.random(idx.size) * cdf[idx, -1])
        j = np.asarray(self.context.sample_indices(indices, random_state=rng)).astype(np.int64)
        return j.reshape(len(indices))

    def reverse_value_indices(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For finite contexts: one row v per value index a, drawn from the posterior
        P(x = x_v | a) = P_X(x_v) P⁺(a | x_v) / P_A(a) (the reverse step of the context).

        After a forward draw a ~ P⁺(·|u) with u ~ P_X, the pair (u, v) has the joint law
        P_X(u) P_X(v) k_X⁺(u, v): the edge kernel of a two-hop walk is the dual kernel.
        """
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        op = self.operator()
        P, pi = op.P, np.asarray(op.pi, dtype=np.float64)
        u = rng.random(values.size)
        if sp.issparse(P):
            if self._reverse is None:
                R = sp.csr_matrix(sp.csr_matrix(P).T @ sp.diags(pi))   # R[a, v] = π_v P[v, a]
                R.sort_indices()
                self._reverse = (R, np.cumsum(R.data))
            R, cum = self._reverse
            start, stop = R.indptr[values], R.indptr[values + 1]
            if np.any(stop <= start):
                raise ParameterError("a drawn context value has no mass under P_X")
            base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
            total = cum[stop - 1] - base
            pos = np.searchsorted(cum, base + u * total, side="right")
            return R.indices[np.clip(pos, start, stop - 1)].astype(np.int64)
        n = P.shape[0]
        if isinstance(P, np.ndarray) and fits(8.0 * P.size, self.memory_budget):
            if self._reverse is None:
                # cdf[a, v] = Σ_{v' ≤ v} π_v' P[v', a], one row per value (as large as P)
                self._reverse = np.cumsum((pi[:, None] * P).T, axis=1)
            return _search(self._reverse, values, u * self._reverse[values, -1])
        out = np.empty(values.size, dtype=np.int64)
        for s in range(0, values.size, 256):
            a = values[s:s + 256]
            if isinstance(P, np.ndarray):
                cols = P[:, a]
            else:           # matrix-free: the columns P[:, a] = P e_a, one pass over P
                E = np.zeros((P.shape[1], a.size))
                E[a, np.arange(a.size)] = 1.0
                cols = multiply(P, E)
            cdf = np.cumsum(pi[:, None] * cols, axis=0)
            target = u[s:s + a.size] * cdf[-1]
            out[s:s + a.size] = np.minimum((cdf <= target[None, :]).sum(0), n - 1)
        return out

    def is_reversible(self, rtol: float = 1e-8) -> bool:
        """Whether P_X(x_i) P⁺(x_j | x_i) is symmetric (detailed balance), for finite contexts
        with a sparse or dense transition matrix (matrix-free ones are not checked: False)."""
        op = self.operator()
        P, pi = op.P, np.asarray(op.pi, dtype=np.float64)
        if P.shape[0] != P.shape[1]:
            return False
        if sp.issparse(P):
            F = sp.csr_matrix(sp.diags(pi) @ sp.csr_matrix(P))
            D = abs(F - F.T)
            gap = D.max() if D.nnz else 0.0
            top = abs(F).max() if F.nnz else 0.0
        elif isinstance(P, np.ndarray):
            F = pi[:, None] * P
            gap, top = np.abs(F - F.T).max(), np.abs(F).max()
        else:
            return False
        return bool(gap <= rtol * max(top, 1e-300))

    def kernel_block(self, rows: np.ndarray) -> np.ndarray:
        """The Gram block k_X⁺(x_i, x_k) for i, k in ``rows`` (memory-checked)."""
        m = len(rows)
        check_allocation(8.0 * m * m, self.memory_budget, f"a {m}×{m} kernel block")
        return np.asarray(self.operator().kernel(rows, rows), dtype=np.float64)

    def transition_rows(self, rows: np.ndarray | None = None):
        """Rows P[rows] of the training transition matrix (all rows when None)."""
        P = self.operator().P
        if rows is None:
            return P
        if sp.issparse(P):
            return sp.csr_matrix(P)[rows]
        if isinstance(P, np.ndarray):
            return P[rows]
        return _RowsOf(P, np.asarray(rows))

    @property
    def weights(self) -> np.ndarray | None:
        """P_X on the training sample when it is not uniform (graphs), else None."""
        if not self.has_kernel():
            return None
        pi = np.asarray(self.operator().pi)
        if np.allclose(pi, 1.0 / self.n, rtol=1e-9, atol=0):
            return None
        return pi


def _search(cdf: np.ndarray, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each k, the first column j with cdf[rows_k, j] > target_k (vectorised bisection)."""
    lo = np.zeros(rows.size, dtype=np.int64)
    hi = np.full(rows.size, cdf.shape[1] - 1, dtype=np.int64)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        right = cdf[rows, mid] <= target
        lo = np.where(right, mid + 1, lo)
        hi = np.where(right, hi, mid)
    return lo


class _RowsOf:
    """Selected rows of a matrix-free transition, with a ``@`` product."""

    def __init__(self, P, rows):
        self.P = P
        self.rows = rows
        self.shape = (len(rows), P.shape[1])

    def __matmul__(self, V):
        out = np.empty((len(self.rows), V.shape[1]))
        for k, i in enumerate(self.rows):
            out[k] = self.P.row_block(int(i), int(i) + 1) @ V
        return out


def multiply(P, V: np.ndarray) -> np.ndarray:
    """P @ V for a sparse, dense or matrix-free transition matrix."""
    if hasattr(P, "matmat") and not sp.issparse(P) and not isinstance(P, np.ndarray):
        return np.asarray(P.matmat(V))
    return np.asarray(P @ V)
