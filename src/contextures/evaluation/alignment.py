"""Alignment between representations, and the ratio trace of an encoder against a context.

For two representations A (n × p) and B (n × q) of the same n points:

- ``cca_r2``: mean squared canonical correlation. With Q_A, Q_B orthonormal bases of the centred
  column spaces (pivoted QR, columns with |R_ii| ≤ rtol·|R_11| dropped as rank deficient), the
  canonical correlations are the singular values σ of Q_Aᵀ Q_B, and CCA R² = (1/r) Σ σ_i² with
  r = min(rank A, rank B). It is 1 when one span contains the other (e.g. B = A M, M invertible),
  and ≈ max(p, q)/n for independent noise. Note: with rank A + rank B ≥ n − 1 it is trivially 1.
- ``mutual_knn``: centre and whiten each representation (its orthonormal basis Q_A, which is the
  whitened data up to a factor √n), find each point's k nearest neighbours in each (the point
  itself excluded) and average |N_A(i) ∩ N_B(i)| / k over i. Whitening makes it invariant to
  invertible linear maps (value 1); for independent representations it is ≈ k/(n − 1).
- ``linear_cka``: ‖A_cᵀ B_c‖_F² / (‖A_cᵀ A_c‖_F ‖B_cᵀ B_c‖_F) on centred A_c, B_c; invariant to
  orthogonal maps and scaling (not to general linear maps).

Ratio trace (docs/theory.md §2, §10). For an encoder Φ (n × d) on the sample of a context operator with
Q = D_π^{1/2} P D_c^{-1/2} and Φ̃ = Φ − E_π Φ:

    C_Φ = Cov_π[Φ] = Φ̃ᵀ D_π Φ̃,
    (T*φ)(a) = Σ_i π_i P_ia φ(x_i) / c_a, and E_{P_A}[T*φ̃] = E_π[φ̃] = 0, so
    B_Φ = Cov_{P_A}[T*Φ] = Σ_a c_a (T*Φ̃)(a)ᵀ (T*Φ̃)(a) = Σ_a c_a⁻¹ (Σ_i π_i P_ia Φ̃_i)ᵀ(Σ_j π_j P_ja Φ̃_j)
        = Φ̃ᵀ D_π^{1/2} Q Qᵀ D_π^{1/2} Φ̃ = Wᵀ M W,     W = D_π^{1/2} Φ̃, M = Q Qᵀ,

since (Qᵀ D_π^{1/2} Φ̃)_a = c_a^{-1/2} Σ_i π_i P_ia Φ̃_i. With the QR W = Q_W R_W, C_Φ = R_Wᵀ R_W and

    RT(Φ) = Tr(C_Φ⁻¹ B_Φ) = Tr(Q_Wᵀ M Q_W) = ‖Qᵀ Q_W‖_F²,

which never forms C_Φ⁻¹ (for a rank-deficient Φ, C_Φ⁻¹ is read as the pseudo-inverse: RT of the
span). W is orthogonal to √π (the top eigenvector of M), so by Ky Fan's inequality
RT(Φ) ≤ s_1² + … + s_d², with equality when span Φ = span{μ_1..μ_d}.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import qr
from sklearn.neighbors import NearestNeighbors

from ..exceptions import ParameterError
from ..validation import check_array, check_int, check_same_rows
from ._operators import operator_of

RANK_RTOL = 1e-10
"""Relative threshold on the pivoted-QR diagonal below which a direction counts as rank deficient."""


def _pair(A, B) -> tuple[np.ndarray, np.ndarray]:
    A = check_array(A, what="A", min_samples=2, allow_1d=True)
    B = check_array(B, what="B", min_samples=2, allow_1d=True)
    check_same_rows(A=A, B=B)
    return A, B


def orthonormal_basis(A: np.ndarray, rtol: float = RANK_RTOL, weights=None,
                      name: str = "A") -> np.ndarray:
    """Orthonormal basis (n × rank) of the column span of A, centred (weighted by ``weights``)."""
    if weights is None:
        W = A - A.mean(axis=0)
    else:
        W = np.sqrt(weights)[:, None] * (A - weights @ A)
    Q, R, _ = qr(W, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    scale = float(np.abs(A).max()) * np.sqrt(A.shape[0]) * (1.0 if weights is None else
                                                            float(np.sqrt(weights.max())))
    if diag.size == 0 or diag[0] <= 1e-12 * scale:  # centring left nothing but rounding
        raise ParameterError(f"{name} is constant: it has no direction to compare")
    rank = int((diag > rtol * diag[0]).sum())
    return Q[:, :rank]


def canonical_correlations(A, B, rtol: float = RANK_RTOL) -> np.ndarray:
    """Canonical correlations of A and B (min(rank A, rank B) values, decreasing)."""
    A, B = _pair(A, B)
    Qa = orthonormal_basis(A, rtol, name="A")
    Qb = orthonormal_basis(B, rtol, name="B")
    sigma = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return np.clip(sigma, 0.0, 1.0)


def cca_r2(A, B, rtol: float = RANK_RTOL) -> float:
    """Mean squared canonical correlation of A and B (module docstring)."""
    sigma = canonical_correlations(A, B, rtol)
    return float(np.mean(sigma**2))


def _neighbours(Z: np.ndarray, k: int) -> np.ndarray:
    """Indices (n × k) of the k nearest neighbours of each row, the row itself excluded."""
    n = Z.shape[0]
    idx = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z, return_distance=False)
    own = idx == np.arange(n)[:, None]
    missing = ~own.any(axis=1)  # duplicates can push the point itself out: drop the farthest
    own[missing, -1] = True
    return idx[~own].reshape(n, k)


def mutual_knn(A, B, k: int = 10, rtol: float = RANK_RTOL) -> float:
    """Mean fraction of shared k nearest neighbours after centring and whitening each (module doc)."""
    A, B = _pair(A, B)
    n = A.shape[0]
    k = check_int(k, "k", low=1, high=n - 1)
    Na = _neighbours(orthonormal_basis(A, rtol, name="A"), k)
    Nb = _neighbours(orthonormal_basis(B, rtol, name="B"), k)
    rows = np.repeat(np.arange(n), k)
    ones = np.ones(n * k)
    Sa = sp.csr_matrix((ones, (rows, Na.ravel())), shape=(n, n))
    Sb = sp.csr_matrix((ones, (rows, Nb.ravel())), shape=(n, n))
    shared = np.asarray(Sa.multiply(Sb).sum(axis=1)).ravel()
    return float(shared.mean() / k)


def linear_cka(A, B) -> float:
    """Linear CKA: ‖A_cᵀ B_c‖_F² / (‖A_cᵀ A_c‖_F ‖B_cᵀ B_c‖_F) (module docstring)."""
    A, B = _pair(A, B)
    Ac = A - A.mean(axis=0)
    Bc = B - B.mean(axis=0)
    denom = np.linalg.norm(Ac.T @ Ac) * np.linalg.norm(Bc.T @ Bc)
    if denom == 0:
        raise ParameterError("linear CKA is undefined for a constant representation")
    return float(np.linalg.norm(Ac.T @ Bc) ** 2 / denom)


def ratio_trace(Phi, op, rtol: float = RANK_RTOL) -> float:
    """RT(Φ) = Tr(C_Φ⁻¹ B_Φ) of an encoder's features on a context's sample (module docstring).

    ``Phi`` (n × d) holds the encoder on the n samples of ``op`` (a ContextOperator or a fitted
    context), in the same order. RT ≤ s_1² + … + s_d², with equality for the top-d eigenfunctions.
    """
    op = operator_of(op)
    Phi = check_array(Phi, what="Phi", allow_1d=True)
    if Phi.shape[0] != op.n_samples:
        raise ParameterError(
            f"Phi has {Phi.shape[0]} rows but the context operator has {op.n_samples} samples"
        )
    Qw = orthonormal_basis(Phi, rtol, weights=op.pi, name="Phi")
    QtQw = op.rmatmat(Qw)
    return float(np.sum(QtQw * QtQw))
