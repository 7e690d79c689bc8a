"""Test-only contexts with closed-form spectra for the encoder tests (not collected by pytest).

These wrap a transition matrix given directly, so the encoder tests do not depend on the real
context classes; the exact eigenfunctions come from a dense eigendecomposition of
M = D_π^{1/2} P D_c^{-1} Pᵀ D_π^{1/2} (docs/theory.md §4).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from contextures.contexts.base import Context
from contextures.contexts.operator import ContextOperator
from contextures.exceptions import ParameterError


def _rng(random_state):
    return random_state if isinstance(random_state, np.random.Generator) else \
        np.random.default_rng(random_state)


class MatrixContext(Context):
    """P⁺(x_j | x_i) = P[i, j] on the sample (𝒜 = 𝒳), P_X = ``weights`` (uniform by default)."""

    spec_name = "matrix_test"
    value_space = "input"
    access = "kernel"

    def __init__(self, P=None, weights=None):
        self.P = P
        self.weights = weights

    def fit(self, X, y=None):
        if X.shape[0] != self.P.shape[0]:
            raise ParameterError("sample size does not match P")
        if not np.isfinite(X).all():
            raise ParameterError("X has NaN")
        self.X_ = X
        self._dense = np.asarray(self.P.toarray() if sp.issparse(self.P) else self.P)
        self._cdf = np.cumsum(self._dense, axis=1)
        return self

    def operator(self, memory_budget=None):
        return ContextOperator(sp.csr_matrix(self._dense), sample_weight=self.weights)

    def sample_indices(self, indices, random_state=None):
        u = _rng(random_state).random(len(indices))
        cdf = self._cdf[np.asarray(indices)]
        j = (cdf < (u * cdf[:, -1])[:, None]).sum(1)
        return np.minimum(j, self._dense.shape[1] - 1)

    def sample(self, indices, random_state=None):
        return self.X_[self.sample_indices(indices, random_state)]

    def transition(self, X_new):
        # rows of the nearest training point
        d = ((X_new[:, None, :] - self.X_[None, :, :]) ** 2).sum(-1)
        return self._dense[d.argmin(1)]

    def spec(self):
        return "matrix_test"


class LabelMatrixContext(Context):
    """The label context: P⁺(a | x_i) = 1{a = y_i}; samples are one-hot rows."""

    spec_name = "label_test"
    value_space = "label"
    access = "kernel"

    def __init__(self, balanced=False):
        self.balanced = balanced

    def fit(self, X, y=None):
        if y is None:
            raise ParameterError("label context needs y")
        self.y_ = np.asarray(y, dtype=int)
        self.C_ = int(self.y_.max()) + 1
        return self

    def operator(self, memory_budget=None):
        n = len(self.y_)
        P = sp.csr_matrix((np.ones(n), (np.arange(n), self.y_)), shape=(n, self.C_))
        return ContextOperator(P)

    def sample(self, indices, random_state=None):
        return np.eye(self.C_)[self.y_[np.asarray(indices)]]

    def sample_indices(self, indices, random_state=None):
        return self.y_[np.asarray(indices)]

    def spec(self):
        return "label_test"


class NoiseOnlyContext(Context):
    """A sample-only context: a = x + σ ε; no operator (like ``crop``)."""

    spec_name = "noise_only_test"
    value_space = "input"
    access = "sample"

    def __init__(self, sigma=0.1):
        self.sigma = sigma

    def fit(self, X, y=None):
        self.X_ = X
        return self

    def operator(self, memory_budget=None):
        raise ParameterError("noise_only_test is sample-only: no operator")

    def sample(self, indices, random_state=None):
        rng = _rng(random_state)
        x = self.X_[np.asarray(indices)]
        return x + self.sigma * rng.normal(size=x.shape)

    def spec(self):
        return "noise_only_test"


class KernelOnlyContext(MatrixContext):
    """Kernel access but no sampling (like a teacher-feature context)."""

    spec_name = "kernel_only_test"
    value_space = "other"

    def sample(self, indices, random_state=None):
        raise ParameterError("kernel_only_test cannot be sampled")

    def sample_indices(self, indices, random_state=None):
        raise ParameterError("kernel_only_test cannot be sampled")

    def spec(self):
        return "kernel_only_test"


# --- problems with known answers ------------------------------------------------------------------


def exact_eigenfunctions(P, weights=None):
    """(s² descending, μ (n × r) unit variance under π), s_0 = 1 and its constant excluded."""
    P = np.asarray(P.toarray() if sp.issparse(P) else P, dtype=float)
    n = P.shape[0]
    pi = np.full(n, 1 / n) if weights is None else np.asarray(weights) / np.sum(weights)
    c = pi @ P
    keep = c > 0
    Q = np.sqrt(pi)[:, None] * P[:, keep] / np.sqrt(c[keep])[None, :]
    w, U = np.linalg.eigh(Q @ Q.T)
    w, U = w[::-1], U[:, ::-1]
    mu = U / np.sqrt(pi)[:, None]
    return w[1:], mu[:, 1:]


def smooth_grid_problem(n=200, width=0.25, seed=0):
    """1-D points on [−1, 1], RBF transition: cosine-like eigenfunctions, distinct eigenvalues."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, n))
    K = np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * width ** 2))
    P = K / K.sum(1, keepdims=True)
    X = np.column_stack([x, np.zeros(n)]) + 0.0
    X[:, 1] = x ** 2  # a second, redundant feature
    return X, P


def low_rank_problem(n=240, r=4, seed=1):
    """P⁺(a|x) = Σ_k π_k(x) q_k(a): rank r, so s_1..s_{r−1} > 0 = s_r = …; the top r − 1
    eigenfunctions span the centred memberships π_k(x)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    centres = np.linspace(-0.8, 0.8, r)
    logits = -((x[:, None] - centres[None, :]) ** 2) / 0.05
    memb = np.exp(logits - logits.max(1, keepdims=True))
    memb /= memb.sum(1, keepdims=True)
    q = memb / memb.sum(0, keepdims=True)        # q_k(x_j) ∝ π_k(x_j)
    P = memb @ q.T
    X = np.column_stack([x, np.sin(3 * x)])
    return X, P, memb


def blobs_problem(n=180, C=3, seed=2):
    """C well-separated Gaussian blobs with labels (the label context's top functions are the
    centred class indicators)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % C
    angles = 2 * np.pi * np.arange(C) / C
    centres = 8.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    X = centres[y] + rng.normal(size=(n, 2))
    return X, y


def two_cluster_graph(n_per=40, p_in=0.5, p_out=0.02, seed=3):
    """Two dense clusters, a few edges between: P = D⁻¹W, P_X ∝ degree; the top eigenfunction
    is (close to) the ±1 cluster indicator (the Fiedler vector)."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per
    side = np.repeat([0, 1], n_per)
    prob = np.where(side[:, None] == side[None, :], p_in, p_out)
    W = (rng.random((n, n)) < prob).astype(float)
    W = np.triu(W, 1)
    W = W + W.T + np.eye(n)  # self loops: lazy walk, no negative eigenvalues of concern
    deg = W.sum(1)
    P = W / deg[:, None]
    X = np.column_stack([rng.normal(size=n) + 10.0 * side, rng.normal(size=n)])
    return X, P, deg / deg.sum(), side


def lazy_problem(n=240, F=6, width=0.15, lazy=0.5, seed=0):
    """X uniform on [−1, 1]^F; P = lazy·I + (1 − lazy)·(an RBF smoother along x₀ only).

    The top eigenfunctions are smooth functions of x₀ (s² ≈ 0.98, 0.91, 0.78, …); the identity
    part puts every other function at s² ≈ lazy². An untrained network, whose outputs mix all F
    coordinates, spans them poorly — also through Φ = PΨ, which keeps half of Ψ unsmoothed — so a
    learned span that matches them is evidence that the objective did the work.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, F))
    x = X[:, 0]
    K = np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * width ** 2))
    P = lazy * np.eye(n) + (1 - lazy) * K / K.sum(1, keepdims=True)
    return X, P


def hub_graph_problem(n=240, F=6, width=0.2, hub=1.5, lazy=0.5, seed=0):
    """A weighted graph on X uniform in [−1, 1]^F: w(u, v) = K(u, v) h_u h_v (K an RBF kernel
    on the first two coordinates, h = exp(hub · x₀): hubs on one side) plus lazy self-loops.

    Returns (X, P = D⁻¹W, π = degree / Σ degree). P_X is far from uniform (degree ratio ≈ 700
    for hub = 1.5), and the top eigenfunctions under π differ from those under a uniform P_X.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, F))
    x = X[:, :2]
    K = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * width ** 2))
    h = np.exp(hub * X[:, 0])
    W = K * h[:, None] * h[None]
    W = W + lazy * np.diag(W.sum(1))
    deg = W.sum(1)
    return X, W / deg[:, None], deg / deg.sum()


def weighted_knn_graph(n=800, k=20, seed=0):
    """A symmetrised kNN graph (union of the k-neighbour lists) on 4-D Gaussian points, with
    Gaussian edge weights exp(−‖x_u − x_v‖² / median²): node degrees vary, so P_X ∝ degree is
    not uniform. Returns (X, W sparse)."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * np.array([1.0, 0.7, 0.5, 0.3])
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    scale = np.median(dist[:, 1:]) ** 2
    rows = np.repeat(np.arange(n), k)
    A = sp.csr_matrix((np.exp(-dist[:, 1:].ravel() ** 2 / scale), (rows, idx[:, 1:].ravel())),
                      shape=(n, n))
    return X, sp.csr_matrix(A.maximum(A.T))


def weighted_cca_r2(A, B, weights=None):
    """Mean squared canonical correlation of the column spans of A and B in L²(weights)
    (uniform when None), over min(columns) pairs; both centred under the weights."""
    n = A.shape[0]
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights) / np.sum(weights)

    def basis(M):
        M = np.asarray(M, dtype=float).reshape(n, -1)
        M = M - w @ M
        Q, R = np.linalg.qr(np.sqrt(w)[:, None] * M)
        diag = np.abs(np.diag(R))
        return Q[:, diag > 1e-10 * diag.max()]

    s = np.linalg.svd(basis(A).T @ basis(B), compute_uv=False)
    k = min(np.asarray(A).reshape(n, -1).shape[1], np.asarray(B).reshape(n, -1).shape[1])
    return float(np.mean(np.clip(s[:k], 0.0, 1.0) ** 2))


def untrained(encoder):
    """The same encoder with training switched off in effect (one epoch at lr = 1e-12): the
    control that an end-to-end test's threshold must reject."""
    from sklearn.base import clone

    return clone(encoder).set_params(epochs=1, lr=1e-12, patience=None,
                                     validation_fraction=0.0)
