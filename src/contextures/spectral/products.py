"""Fast products with the deflated Gram operator M = Q Qᵀ, the only thing the iterative solvers touch.

A :class:`GramProducts` engine maps a block X (n × b) to M X = Q (Qᵀ X) for one
:class:`~contextures.contexts.operator.ContextOperator`, in a working precision (float64 or
float32), in a row order chosen for cache locality:

- sparse Q: CSR copies of Q and Qᵀ (scipy; torch's threaded CSR kernels are an opt-in
  alternative, ``use_torch``), with rows and columns renumbered by reverse Cuthill-McKee on
  the bipartite graph of Q so that the rows a product gathers sit close together in memory (about
  2× faster on a KNN operator). :meth:`GramProducts.split` spreads the products over the row
  parts of a :class:`~contextures.spectral.parts.RowParts` (one thread each, under a
  single-threaded BLAS: with a threaded BLAS, OpenBLAS's idle threads spin on the cores the
  products need, and a split product was measured no faster);
- dense Q: two BLAS-3 products, Q (Qᵀ X);
- matrix-free Q: the operator's own block products (float64).

Row renumbering changes nothing in the spectrum: the engine works on Π M Πᵀ and the solvers map
vectors back with :meth:`GramProducts.to_original`. Every engine also gives an exact float64
product for the final residuals (:meth:`GramProducts.products64`, blocked, in the engine's order).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation
from .parts import RowParts, csr_row_slices, product_part

# Below this many stored entries the reordering and the torch copy cost more than they save.
_TORCH_MIN_NNZ = 200_000
# columns per float64 sparse product in :meth:`GramProducts.products64`
_FLOAT64_BLOCK = 256


def _bipartite_graph(Q: sp.csr_matrix) -> sp.csr_matrix:
    """The pattern of [[0, Q], [Qᵀ, 0]]: rows 0..n−1 are samples, n..n+m−1 context values.

    Assembled from the index arrays of Q and Qᵀ (half the time of ``sp.bmat``)."""
    n, m = Q.shape
    QT = Q.T.tocsr()
    indptr = np.concatenate([Q.indptr, Q.indptr[-1] + QT.indptr[1:]])
    indices = np.concatenate([Q.indices + n, QT.indices])
    return sp.csr_matrix((np.ones(indices.size, dtype=np.int8), indices, indptr),
                         shape=(n + m, n + m))


def _rcm_orders(Q: sp.csr_matrix, B: sp.csr_matrix | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Row and column orders from reverse Cuthill-McKee on the bipartite graph [[0, Q], [Qᵀ, 0]]."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    n, m = Q.shape
    B = _bipartite_graph(Q) if B is None else B
    order = reverse_cuthill_mckee(B, symmetric_mode=True)
    rows = order[order < n]
    cols = order[order >= n] - n
    return rows, cols


class GramProducts:
    """M X for a context operator; see the module docstring.

    Parameters
    ----------
    op : ContextOperator
    dtype : numpy dtype of the working precision (float64 or float32).
    reorder : renumber rows and columns of a sparse Q for locality (default: when it is large).
    use_torch : use torch's threaded CSR products for a sparse Q (default: no).
    """

    def __init__(self, op, dtype=np.float64, reorder: bool | None = None,
                 use_torch: bool | None = None):
        self.op = op
        self.dtype = np.dtype(dtype)
        self.n = op.n_samples
        self.row_order: np.ndarray | None = None
        self.col_order: np.ndarray | None = None
        self._row_inverse: np.ndarray | None = None
        self.description = op.kind
        p = np.sqrt(op.pi)
        self._torch = None
        if op.kind == "sparse":
            Q = op._Q
            large = Q.nnz >= _TORCH_MIN_NNZ
            if reorder is None:
                reorder = large
            if use_torch is None:
                use_torch = False
            if reorder:
                self._graph = _bipartite_graph(Q)  # reused by components()
                rows, cols = _rcm_orders(Q, self._graph)
                self.row_order, self.col_order = rows, cols
                self._row_inverse = np.argsort(rows)
                Q = Q[rows][:, cols].tocsr()
                self.description += ", RCM-reordered"
            self._Q64 = Q  # float64, in the engine's order (for the final float64 products)
            Q = Q.astype(self.dtype)
            QT = Q.T.tocsr()
            Q.sort_indices()
            QT.sort_indices()
            if use_torch:
                self._torch = _TorchCSRPair(Q, QT)
                self.description += f", torch CSR ({self._torch.threads} threads)"
            self._Qw, self._QTw = Q, QT
        elif op.kind == "dense":
            Q = op._Q
            if self.dtype != Q.dtype:
                check_allocation(Q.size * self.dtype.itemsize, op.memory_budget,
                                 f"a {self.dtype.name} copy of the dense {Q.shape[0]}×{Q.shape[1]} Q")
                Q = Q.astype(self.dtype)
            self._Qw = Q
        else:
            self.dtype = np.dtype(np.float64)
        self.deflation = p if self.row_order is None else p[self.row_order]
        self.deflation_w = self.deflation.astype(self.dtype)
        self.parts: RowParts | None = None

    def split(self, parts: RowParts) -> None:
        """Spread the products of a sparse Q over ``parts``: Qᵀ X by its row parts (context
        values, ``parts.columns``), then Q Y by its row parts (samples, ``parts.rows``), each part
        on its own thread. The parts are row slices of Q and Qᵀ sharing their entries."""
        if self.op.kind != "sparse" or self._torch is not None or parts.count == 1:
            return
        self.parts = parts
        self._Qw_parts = csr_row_slices(self._Qw, parts.rows)
        self._QTw_parts = csr_row_slices(self._QTw, parts.columns)

    @property
    def uses_torch(self) -> bool:
        return self._torch is not None

    def components(self) -> tuple[int, np.ndarray | None]:
        """(r, labels): connected components of the context graph, labels of the rows in the
        engine's order (None when r = 1 or Q is not sparse; a dense kernel is taken as connected).

        Rows i and j are connected when they reach a common context value (Q[i, a] Q[j, a] ≠ 0);
        M is block diagonal over the components, each with top eigenvalue exactly 1.
        """
        if self.op.kind != "sparse":
            return 1, None
        from scipy.sparse.csgraph import connected_components

        n = self.n
        # the graph is symmetric: its strongly connected components are its components, and
        # scipy finds them without the transposed copy an undirected search makes (half the time)
        graph = getattr(self, "_graph", None)   # the sample-order graph, when reordered
        if graph is not None:
            _, labels = connected_components(graph, directed=True, connection="strong")
            rows = labels[:n][self.row_order]
        else:
            _, labels = connected_components(_bipartite_graph(self._Qw), directed=True,
                                             connection="strong")
            rows = labels[:n]
        _, rows = np.unique(rows, return_inverse=True)
        r = int(rows.max()) + 1
        return (r, rows) if r > 1 else (1, None)

    # --- products ---------------------------------------------------------------------------------
    def __call__(self, X: np.ndarray) -> np.ndarray:
        """M X in the working precision and row order (X: n × b)."""
        kind = self.op.kind
        if kind == "sparse":
            if self._torch is not None:
                return self._torch.gram(X)
            if self.parts is not None:
                return self._split_products(X, self._Qw_parts, self._QTw_parts)[0]
            return np.asarray(self._Qw @ (self._QTw @ np.ascontiguousarray(X)))
        if kind == "dense":
            return self._Qw @ (self._Qw.T @ X)
        return self.op.gram_matmat(np.asarray(X, dtype=np.float64))

    def _split_products(self, X: np.ndarray, Q_parts: list, QT_parts: list
                        ) -> tuple[np.ndarray, np.ndarray]:
        """(M X, Qᵀ X) from the row parts of Q and Qᵀ (see :meth:`split`)."""
        parts = self.parts
        X = np.ascontiguousarray(X)
        dtype = np.result_type(X.dtype, Q_parts[0].dtype)
        n, m = self.op.shape
        half = np.empty((m, X.shape[1]), dtype=dtype)
        out = np.empty((n, X.shape[1]), dtype=dtype)
        parts.run(product_part, parts.columns, QT_parts, X, half)
        parts.run(product_part, parts.rows, Q_parts, half, out)
        return out, half

    def with_half(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M X, Qᵀ X) for a stored dense Q (the half-way product comes for free)."""
        if self.op.kind != "dense":
            raise TypeError("with_half is for a stored dense Q")
        half = self._Qw.T @ X
        return self._Qw @ half, half

    def apply64(self, X: np.ndarray) -> np.ndarray:
        """M X in float64 for X in the engine's row order."""
        X = np.asarray(X, dtype=np.float64)
        if self.row_order is None or self.op.kind != "sparse":
            return self.op.gram_matmat(X)
        return self.from_original(self.op.gram_matmat(self.to_original(X)))

    def products64(self, U: np.ndarray, columns: int = _FLOAT64_BLOCK, *,
                   engine_order: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(M U, Qᵀ U) in float64 for U (n × d) in the *sample* order, results in the sample order
        (U and M U in the engine's order with ``engine_order=True``; Qᵀ U always by context value).

        A sparse Q is multiplied in the engine's (locality) order (measured about 2× faster than
        in the sample order on a 20 000-point KNN operator), ``columns`` columns at a time (wide
        blocks are cheaper per column: 256 columns took 0.18 s against 0.23 s in blocks of 32 and
        0.25 s in blocks of 16 on that operator, 0.73 s against 0.99 s and 1.56 s on a
        100 000-point one).
        """
        U = np.asarray(U, dtype=np.float64)
        if self.op.kind != "sparse":
            QtU = np.asarray(self.op.rmatmat(U))
            return np.asarray(self.op.matmat(QtU)), QtU
        Q = self._Q64
        if not hasattr(self, "_QT64"):
            self._QT64 = Q.T.tocsr()
        Ue = U if engine_order else self.from_original(U)
        if self.parts is not None:
            if not hasattr(self, "_Q64_parts"):
                self._Q64_parts = [Q[r] for r in self.parts.rows]
                self._QT64_parts = [self._QT64[c] for c in self.parts.columns]
            MU, QtU = self._split_products(Ue, self._Q64_parts, self._QT64_parts)
        elif U.shape[1] <= columns:
            QtU = self._QT64 @ np.ascontiguousarray(Ue)
            MU = Q @ QtU
        else:
            n, m = Q.shape
            MU = np.empty((n, U.shape[1]))
            QtU = np.empty((m, U.shape[1]))
            for j0 in range(0, U.shape[1], columns):
                j1 = min(U.shape[1], j0 + columns)
                half = self._QT64 @ np.ascontiguousarray(Ue[:, j0:j1])
                QtU[:, j0:j1] = half
                MU[:, j0:j1] = Q @ half
        if self.col_order is not None:
            QtU = np.take(QtU, np.argsort(self.col_order), axis=0)
        return (MU if engine_order else self.to_original(MU)), QtU

    def to_original(self, U: np.ndarray) -> np.ndarray:
        """Rows of U (engine order) back in the sample order."""
        if self.row_order is None:
            return U
        return np.take(U, self._row_inverse, axis=0)

    def from_original(self, U: np.ndarray) -> np.ndarray:
        """Rows of U (sample order) in the engine's order."""
        if self.row_order is None:
            return U
        return np.take(U, self.row_order, axis=0)


class _TorchCSRPair:
    """Q and Qᵀ as torch CSR tensors; ``gram(X)`` = Q (Qᵀ X) with torch's threaded kernels."""

    def __init__(self, Q: sp.csr_matrix, QT: sp.csr_matrix):
        import torch

        self.torch = torch
        self.threads = torch.get_num_threads()
        self.Q = self._tensor(Q)
        self.QT = self._tensor(QT)

    def _tensor(self, A: sp.csr_matrix):
        torch = self.torch
        return torch.sparse_csr_tensor(
            torch.from_numpy(A.indptr.astype(np.int64)),
            torch.from_numpy(A.indices.astype(np.int64)),
            torch.from_numpy(np.ascontiguousarray(A.data)),
            size=A.shape, check_invariants=False,
        )

    def gram(self, X: np.ndarray) -> np.ndarray:
        torch = self.torch
        Xt = torch.from_numpy(np.ascontiguousarray(X))
        with torch.no_grad():
            out = self.Q @ (self.QT @ Xt)
        return out.numpy()
