"""Graph context: the nodes are the n samples, P⁺(v | u) = w(u, v) / d(u), P_X(u) = d(u) / Σ d.

The graph is undirected with non-negative weights. It is given either as an edge-list file
(``graph(edges=PATH)``) or, from Python, as an adjacency matrix
(``GraphContext(adjacency=scipy.sparse or array)``). Whatever the input, with A the n × n matrix
it describes, the weights are W = (A + Aᵀ)/2: a symmetric matrix is used as is, and an edge list
that names each undirected edge once gives every edge the same weight in both directions (a list
naming both directions of every edge gives the same context, since P and P_X do not change when
W is scaled). Repeated edges add up.

Edge-list files: CSV (comma), TSV (tab) or whitespace-separated text with two or three columns
``u, v[, w]`` of 0-based row indices into X (w defaults to 1); an optional header line is skipped
when its first field is not a number.

Isolated nodes (degree 0) have no transition row: ``isolated="error"`` (default) raises
ParameterError naming them; ``isolated="self_loop"`` gives each one a self-loop of weight equal to
the median degree of the other nodes (1 if none), so it is its own component (adding a singular
value 1 per isolated node, the truth about a point associated with nothing else).

The operator is Q = D_π^{1/2} P D_c^{-1/2} with π = d / Σd, so M = Q Qᵀ = (D^{-1/2} W D^{-1/2})²,
the square of the normalised adjacency; a graph with r connected components has s₀ = … = s_{r−1} = 1.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import DataError, ParameterError
from ..spec import Call
from ..validation import check_array, check_choice
from ._validation import check_fitted, check_indices, make_rng
from .base import Context, register_context
from .operator import ContextOperator


def read_edge_list(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, w) from an edge-list file (see the module docstring)."""
    if not os.path.exists(path):
        raise DataError(f"graph: edge-list file {path!r} not found")
    if not os.path.isfile(path):   # a device (/dev/zero never ends), a FIFO, a directory
        kind = "a directory" if os.path.isdir(path) else "not a regular file (a device or FIFO)"
        raise DataError(f"graph: edge-list path {path!r} is {kind}; give an edge-list file")
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = ""
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                first = line
                break
    if not first:
        raise DataError(f"graph: edge-list file {path!r} is empty")
    if path.lower().endswith((".tsv", ".tab")) or "\t" in first:
        sep = "\t"
    elif "," in first:
        sep = ","
    else:
        sep = r"\s+"
    head = first.strip().split(sep if sep != r"\s+" else None)[0].strip()
    try:
        float(head)
        header = None
    except ValueError:
        header = 0
    try:
        table = pd.read_csv(path, sep=sep, header=header, comment="#", engine="python"
                            if sep == r"\s+" else "c")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"graph: cannot read edge list {path!r}: {exc}") from exc
    if table.shape[1] not in (2, 3):
        raise DataError(f"graph: edge list {path!r} must have 2 or 3 columns (u, v[, w]), "
                        f"found {table.shape[1]}")
    try:
        values = table.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"graph: edge list {path!r} has non-numeric entries") from exc
    u, v = values[:, 0], values[:, 1]
    w = values[:, 2] if values.shape[1] == 3 else np.ones(len(values))
    return u, v, w


def _node_indices(a: np.ndarray, n: int, who: str) -> np.ndarray:
    if not np.isfinite(a).all() or np.any(a != np.round(a)):
        raise ParameterError(f"{who}: node indices must be integers (0-based rows of X)")
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ParameterError(f"{who}: node indices must lie in [0, {n}) (rows of X), found "
                             f"[{a.min()}, {a.max()}]")
    return a


def adjacency_from_edges(u, v, w, n: int, who: str) -> sp.csr_matrix:
    u = _node_indices(np.asarray(u, dtype=np.float64), n, who)
    v = _node_indices(np.asarray(v, dtype=np.float64), n, who)
    w = np.asarray(w, dtype=np.float64)
    return sp.csr_matrix((w, (u, v)), shape=(n, n))


@register_context
class GraphContext(Context):
    """P⁺(v | u) = w(u, v)/d(u) over the sample's nodes (see the module docstring).

    Parameters
    ----------
    edges : str, path of an edge-list file
    adjacency : scipy sparse matrix or array (n × n), Python API only
    isolated : "error" or "self_loop"
    """

    spec_name = "graph"

    def __init__(self, edges: str | None = None, adjacency: Any = None, isolated: str = "error"):
        self.edges = edges
        self.adjacency = adjacency
        self.isolated = isolated

    def spec_call(self) -> Call:
        if self.adjacency is None or isinstance(self.adjacency, str):
            return super().spec_call()
        shape = getattr(self.adjacency, "shape", ("?", "?"))
        kwargs: list[tuple[str, Any]] = [("adjacency", f"<in-memory {shape[0]}x{shape[1]}>")]
        if self.isolated != "error":
            kwargs.append(("isolated", self.isolated))
        return Call(self.spec_name, (), tuple(kwargs))

    def _adjacency(self, n: int, who: str) -> sp.csr_matrix:
        if (self.edges is None) == (self.adjacency is None):
            raise ParameterError(f"{who}: give exactly one of edges=PATH (an edge-list file) or "
                                 "adjacency= (a matrix, from Python)")
        if self.edges is not None:
            if not isinstance(self.edges, str | os.PathLike):
                raise ParameterError(f"{who}: edges must be a file path")
            return adjacency_from_edges(*read_edge_list(os.fspath(self.edges)), n, who)
        if isinstance(self.adjacency, str):
            raise ParameterError(f"{who}: an in-memory adjacency cannot be restored from a spec; "
                                 "save the graph as an edge list and use graph(edges=PATH)")
        try:
            A = sp.csr_matrix(self.adjacency, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{who}: adjacency must be a matrix ({exc})") from exc
        if A.shape != (n, n):
            raise ParameterError(f"{who}: adjacency must be n × n with n = {n} (rows of X), got "
                                 f"{A.shape[0]} × {A.shape[1]}")
        return A

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> GraphContext:
        who = self.spec()
        isolated = check_choice(self.isolated, "isolated", ("error", "self_loop"), who=who)
        X = check_array(X, what=who, min_samples=1, representable=True)
        n = X.shape[0]
        A = self._adjacency(n, who)
        if A.nnz and (not np.isfinite(A.data).all() or A.data.min() < 0):
            raise ParameterError(f"{who}: edge weights must be finite and non-negative")
        W = sp.csr_matrix((A + A.T) * 0.5)
        W.eliminate_zeros()
        degree = np.asarray(W.sum(axis=1)).ravel()
        lonely = np.flatnonzero(degree <= 0)
        if lonely.size:
            if isolated == "error":
                shown = ", ".join(str(i) for i in lonely[:10]) + (", …" if lonely.size > 10 else "")
                raise ParameterError(
                    f"{who}: {lonely.size} node(s) have no edges (rows {shown}); they have no "
                    "transition row. Add edges, drop those rows, or use isolated=self_loop")
            weight = float(np.median(degree[degree > 0])) if lonely.size < n else 1.0
            W = sp.csr_matrix(W + sp.csr_matrix((np.full(lonely.size, weight), (lonely, lonely)),
                                                shape=(n, n)))
            degree = np.asarray(W.sum(axis=1)).ravel()
        W.sort_indices()
        self.X_ = X
        self.n_samples_ = n
        self.n_features_in_ = X.shape[1]
        self.weights_ = W
        self.degree_ = degree
        self.n_isolated_ = int(lonely.size)
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        P = sp.csr_matrix(sp.diags(1.0 / self.degree_) @ self.weights_)
        P.sort_indices()
        return ContextOperator(P, sample_weight=self.degree_ / self.degree_.sum(),
                               memory_budget=memory_budget,
                               description=f"{self.spec()}: exact sparse P, n={self.n_samples_}, "
                                           f"nnz={P.nnz}, isolated={self.n_isolated_}")

    def transition(self, X_new: np.ndarray):
        raise ParameterError(f"{self.spec()}: new points are not nodes of the graph, so they have "
                             "no transition rows (no out-of-sample extension)")

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One neighbour v ~ w(u, v)/d(u) per index u."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        rng = make_rng(random_state)
        W = self.weights_
        cum = np.cumsum(W.data)
        start = W.indptr[idx]
        stop = W.indptr[idx + 1]
        base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        target = base + rng.random(idx.size) * self.degree_[idx]
        pos = np.searchsorted(cum, target, side="right")
        pos = np.clip(pos, start, stop - 1)
        return W.indices[pos].astype(np.int64)

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        return self.X_[self.sample_indices(indices, random_state)]
