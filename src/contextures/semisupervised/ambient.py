"""The ambient kernel: a kernel on the raw features added to STKR's transformed context kernel.

STKR fits f̂ in the RKHS of k_s, the context's kernel with its spectrum transformed. A context
that is local (a KNN graph) makes k_s smooth *along the data*, but it cannot extrapolate a trend
that the raw features carry globally (a price rising with a size, a class set by a linear rule on
one-hot positions): with a few labels, such a target is far from every function of small
‖·‖_{k_s}. The ambient kernel adds one that can:

    k_total(x, x') = k_s(x, x') + c · k_a(x, x'),

a sum of two kernels, whose RKHS holds the sums g + h with g ∈ H_{k_s}, h ∈ H_{k_a} and norm
min ‖g‖²_{k_s} + ‖h‖²_{k_a} / c (Aronszajn). STKR's solution keeps its form,

    f̂(x) = ȳ + k_s(x, X_L) α̂ + c k_a(x, X_L) α̂,     α̂ = (G_s + c K_a + nβ I)⁻¹ (y − ȳ),

K_a the n × n matrix of k_a on the labelled rows: only labelled rows enter k_a, so it costs
n × n memory, never N × N, and a new row costs n kernel values. This is the ambient-plus-intrinsic
regulariser of manifold regularisation (Belkin, Niyogi and Sindhwani, JMLR 2006) written as one
kernel: the context supplies the intrinsic geometry, the raw features the ambient one. With c = 0
it is STKR unchanged; c is chosen by cross-validation with β (:data:`WEIGHT_GRID`), so it can
switch the ambient part off.

Kernels (``ambient=``), on the rows as given to ``fit`` (the project's loaders standardise them):

- ``linear``: k_a(x, x') = (x − x̄)·(x' − x̄) / F, x̄ the mean of every fitted row (labelled or
  not), F the number of features — a ridge regression on the raw features inside STKR;
- ``rbf``: k_a(x, x') = exp(−γ ‖x − x'‖²), γ by the median heuristic on the fitted rows;
- ``none``: no ambient kernel.

c is relative to the two kernels' scales, c = ρ · mean_j k(x_j, x_j) / mean_j k_a(x_j, x_j) over
the labelled rows (k the context's kernel before the transformation), ρ ∈ :data:`WEIGHT_GRID`.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ParameterError

AMBIENT_KERNELS = ("none", "linear", "rbf")
WEIGHT_GRID = (0.0, 0.1, 1.0, 10.0, 100.0)
"""ρ of c = ρ · mean k(x_j, x_j) / mean k_a(x_j, x_j), searched by the cross-validation."""
_RBF_BLOCK = 1 << 22  # kernel entries per block when evaluating k_a on many rows


def check_ambient(name) -> str:
    """The ambient kernel's name, or a ParameterError naming the choices."""
    if name is None:
        return "none"
    if not isinstance(name, str) or name not in AMBIENT_KERNELS:
        raise ParameterError(f"ambient must be one of {', '.join(AMBIENT_KERNELS)}, got {name!r}")
    return name


class AmbientKernel:
    """k_a of the module docstring, fitted on the rows X and evaluated against the labelled rows.

    ``gram()`` is K_a (n × n, labelled rows); ``cross(Z)`` is k_a(Z, X_L) (rows of Z × n);
    ``diagonal_mean()`` the mean of k_a(x_j, x_j) over the labelled rows.
    """

    def __init__(self, name: str, X: np.ndarray, rows: np.ndarray):
        self.name = check_ambient(name)
        self.X_L = np.ascontiguousarray(X[rows], dtype=float)
        self.center = X.mean(axis=0)
        self.gamma = None
        if self.name == "linear":
            self._Z = (self.X_L - self.center) / np.sqrt(max(1, X.shape[1]))
        elif self.name == "rbf":
            from ..contexts.distances import median_gamma

            self.gamma = float(median_gamma(X))
        self._gram = None

    @property
    def active(self) -> bool:
        return self.name != "none"

    def gram(self) -> np.ndarray:
        if self._gram is None:
            self._gram = self.cross(self.X_L)
        return self._gram

    def diagonal_mean(self) -> float:
        if not self.active:
            return 1.0
        if self.name == "rbf":
            return 1.0
        return float(np.einsum("ij,ij->i", self._Z, self._Z).mean()) or 1.0

    def cross(self, Z: np.ndarray) -> np.ndarray:
        """k_a(z, x_j) for every row z of Z and labelled row x_j."""
        Z = np.asarray(Z, dtype=float)
        if self.name == "linear":
            return ((Z - self.center) / np.sqrt(max(1, Z.shape[1]))) @ self._Z.T
        if self.name == "rbf":
            out = np.empty((Z.shape[0], self.X_L.shape[0]))
            sq_l = np.einsum("ij,ij->i", self.X_L, self.X_L)
            step = max(1, _RBF_BLOCK // max(1, self.X_L.shape[0]))
            for i0 in range(0, Z.shape[0], step):
                B = Z[i0:i0 + step]
                d2 = np.einsum("ij,ij->i", B, B)[:, None] + sq_l[None, :] - 2.0 * B @ self.X_L.T
                np.maximum(d2, 0.0, out=d2)
                out[i0:i0 + step] = np.exp(-self.gamma * d2)
            return out
        return np.zeros((Z.shape[0], self.X_L.shape[0]))

    def apply(self, Z: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """k_a(Z, X_L) @ coef, in blocks (never the whole rows-of-Z × n matrix for rbf)."""
        if self.name == "linear":
            w = self._Z.T @ coef
            return ((np.asarray(Z, dtype=float) - self.center) / np.sqrt(max(1, Z.shape[1]))) @ w
        if self.name == "rbf":
            step = max(1, _RBF_BLOCK // max(1, self.X_L.shape[0]))
            return np.vstack([self.cross(Z[i0:i0 + step]) @ coef
                              for i0 in range(0, Z.shape[0], step)]) if Z.shape[0] else \
                np.zeros((0, coef.shape[1]))
        return np.zeros((Z.shape[0], coef.shape[1]))
