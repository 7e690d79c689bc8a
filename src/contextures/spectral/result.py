"""What every solver returns: :class:`SpectralResult`, and the common finishing step.

From orthonormal eigenvectors u_1..u_d of the deflated M̃ (all orthogonal to √π) and their
eigenvalues θ_i = s_i², :func:`finish` computes, in float64 and the sample order,

- s_i = √θ_i (descending),
- the right singular vectors v_i = Qᵀ u_i / s_i (context values; the out-of-sample extension),
- the eigenfunctions μ_i = D_π^{-1/2} u_i (zero mean and unit variance under π),
- the residuals ‖M u_i − s_i² u_i‖₂ from one product with M (u_i unit vectors, ‖M‖ = 1),

and fixes signs so that the largest-magnitude entry of each u_i is positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SpectralResult:
    """The top-d contexture of a fitted context (s_0 = 1 and its constant function excluded).

    Attributes
    ----------
    singular_values : (d,) s_1 ≥ … ≥ s_d.
    eigenfunctions : (n, d) μ_i on the sample, mean 0 and variance 1 under π.
    left_vectors : (n, d) unit left singular vectors u_i of Q (μ_i = u_i / √π).
    right_vectors : (m, d) unit right singular vectors v_i of Q over the kept context values
        (zero where s_i = 0).
    residuals : (d,) ‖M u_i − s_i² u_i‖₂, computed in float64 on the full operator.
    solver : the solver that produced the result (``dense``, ``svd_thin``, ``krylov``...).
    converged : whether the solver reached its tolerance.
    iterations : restarts (Krylov), or 0 for direct solvers.
    notes : why this solver, fallbacks, approximations and their errors.
    exact : False for approximations (Nyström, subsample).
    products : how many columns were multiplied by M (iterative solvers).
    """

    singular_values: np.ndarray
    eigenfunctions: np.ndarray
    left_vectors: np.ndarray
    right_vectors: np.ndarray
    residuals: np.ndarray
    solver: str
    converged: bool = True
    iterations: int = 0
    notes: list[str] = field(default_factory=list)
    exact: bool = True
    products: int | None = None

    @property
    def n_components(self) -> int:
        return int(self.singular_values.size)

    @property
    def eigenvalues(self) -> np.ndarray:
        """s_i², the eigenvalues of M = Q Qᵀ (of T T*)."""
        return self.singular_values ** 2

    @property
    def max_residual(self) -> float:
        return float(self.residuals.max()) if self.residuals.size else 0.0


def _flip_signs(U: np.ndarray) -> np.ndarray:
    """±1 per column so that each column's largest-magnitude entry is positive (when a column's
    largest and smallest entries have the same magnitude, the largest is made positive)."""
    if U.shape[0] == 0:
        return np.ones(U.shape[1])
    # column maxima and minima are contiguous reductions (7× faster than argmax(|U|) by column)
    return np.where(U.max(axis=0) >= -U.min(axis=0), 1.0, -1.0)


def finish(op, theta: np.ndarray, U: np.ndarray, *, solver: str, converged: bool = True,
           iterations: int = 0, notes: list[str] | None = None, exact: bool = True,
           products: int | None = None, MU: np.ndarray | None = None,
           QtU: np.ndarray | None = None, residuals: np.ndarray | None = None) -> SpectralResult:
    """Build a :class:`SpectralResult` from eigenpairs (θ, U) of M̃; see the module docstring.

    ``U`` (n × d, float64, sample order) must be orthonormal and orthogonal to √π. ``QtU`` and
    ``MU`` may pass Qᵀ U and M U when the caller already has them, ``residuals`` the norms
    ‖M u_i − θ_i u_i‖ (then M U is not needed). The arrays are taken over (modified in place).
    """
    theta = np.asarray(theta, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    order = np.argsort(-theta, kind="stable")
    if np.any(order != np.arange(order.size)):
        # (np.take gathers columns of a C-ordered array 6× faster than fancy indexing)
        theta, U = theta[order], np.take(U, order, axis=1)
        MU = None if MU is None else np.take(MU, order, axis=1)
        residuals = None if residuals is None else np.asarray(residuals)[order]
        QtU = None if QtU is None else np.take(QtU, order, axis=1)
    s = np.sqrt(np.clip(theta, 0.0, None))
    if QtU is None:
        QtU = np.asarray(op.rmatmat(U)) if U.shape[1] else np.zeros((op.shape[1], 0))
    if residuals is None:
        if MU is None:
            MU = np.asarray(op.matmat(QtU)) if U.shape[1] else np.zeros_like(U)
        MU -= U * theta[None, :]
        residuals = np.linalg.norm(MU, axis=0)
    residuals = np.asarray(residuals, dtype=np.float64)
    positive = s > 1e-12
    V = QtU
    V /= np.where(positive, s, 1.0)
    V[:, ~positive] = 0.0
    signs = _flip_signs(U)
    U *= signs
    V *= signs
    mu = op.eigenfunctions_from_left(U)
    return SpectralResult(singular_values=s, eigenfunctions=mu, left_vectors=U, right_vectors=V,
                          residuals=residuals, solver=solver, converged=converged,
                          iterations=iterations, notes=list(notes or []), exact=exact,
                          products=products)


def complete_basis(U: np.ndarray, p: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """U's columns plus orthonormal columns orthogonal to U and p, up to d columns (n × d)."""
    n, have = U.shape
    if have >= d:
        return U[:, :d]
    fresh = rng.standard_normal((n, d - have))
    for _ in range(2):
        fresh -= np.outer(p, p @ fresh)
        if have:
            fresh -= U @ (U.T @ fresh)
    fresh, _ = np.linalg.qr(fresh)
    return np.concatenate([U, fresh], axis=1)
