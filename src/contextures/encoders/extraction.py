"""Extraction: from a learned span to ordered singular functions and s_i² estimates.

An encoder with d₁ ≥ d outputs Φ spans (approximately) μ_1..μ_d but in no particular basis. On m
points estimate

    C_Φ = Cov[Φ] = Φ̃ᵀ W Φ̃,     B_Φ[i, j] = ⟨φ̃_i, T T* φ̃_j⟩,

solve the generalised eigenproblem B_Φ v = λ C_Φ v, and order by λ: λ_1 ≥ λ_2 ≥ … estimate
s_1², s_2², … (Rayleigh–Ritz in span Φ, so λ_i ≤ s_i² when B and C are exact) and Φ̃ v_i, rescaled
to unit variance, estimate μ_i. How B_Φ is estimated depends on the access to the context:

- kernel access (:func:`kernel_matrices`): B_Φ = Φ̃ᵀ W G W Φ̃ with G the k_X⁺ block — through the
  operator, exact on the whole training sample, the unbiased Horvitz–Thompson estimate on a
  uniform subsample of m rows, for uniform and non-uniform P_X alike
  (:class:`~contextures.encoders.kernels.OperatorKernel`);
- sample access for an encoder Ψ of the context variable (contrastive, VICReg, denoising;
  :func:`view_matrices`): work in Ψ-space, where C_Ψ = Cov_{P_A}[Ψ] and B_Ψ = ⟨ψ_i, T*T ψ_j⟩ =
  E_x[ψ̃_i(A) ψ̃_j(A⁺)] for two independent views A, A⁺ of the same x (the symmetrised
  cross-covariance); then μ_i = T ν_i / s_i with ν_i = Ψ v_i, i.e. the same coefficients applied
  to Φ = T Ψ;
- sample access with SVME's second encoder Ψ ≈ T*Φ: the same view estimate in Ψ-space. If
  Ψ = T*Φ, then C_Ψ = ⟨Φ, TT*Φ⟩ and B_Ψ = ⟨Φ, (TT*)²Φ⟩, whose generalised eigenvectors are those
  of (B_Φ, C_Φ) with the same eigenvalues s_i² on the span of eigenfunctions, so the coefficients
  apply to Φ. (Estimating B_Φ as Cov_{P_A}[Ψ] directly is unstable: in directions where Φ is nearly
  collapsed but Ψ is not, B_Φ/C_Φ explodes.)

The generalised problem is solved by whitening C: eigen-directions of C below ``rcond`` times its
largest eigenvalue (collapsed output dimensions) are dropped, a relative ``ridge`` is added, and
``scipy.linalg.eigh`` solves the reduced symmetric problem.

Resolved components (:func:`resolve`). A component μ̂_i = Φ̃ v_i is scaled to unit variance,
which divides it by the square root of its Rayleigh quotient's support: for Φ = TΨ the function
is T(Ψ v_i) / s_i, and a component with a tiny λ_i = s_i² is amplified by 1/s_i wherever (new
rows, another sample) it has more mass. The sample resolves λ_i only above its *noise floor*

    ε = Σ_i w_i² k_X⁺(x_i, x_i)      (w: the P_X weights of the m extraction rows, Σ w = 1),

the share of B_Φ that pairs each row with itself: for a unit-variance function f,
B̂[f] = Σ_{i≠k} w_i w_k G_ik f_i f_k + Σ_i w_i² G_ii f_i², and the second sum ≈ ε has no
counterpart in the population operator (a row is always "similar to itself"; its weight falls as
the sample grows). A component with λ_i ≤ ε may consist of this self-similarity alone: the gap
that separates it from noise is below the estimate's own bias, so the error bound
‖E‖ / gap of its eigenfunction exceeds 1. ε is always ≥ Σ w_i² ≥ 1/m (Cauchy–Schwarz:
k_X⁺(x, x) ≥ 1); for KNN(k) it is ≈ 1/k, for a label context C/m, for a lazy context with
P⁺(x|x) = β about β². Sample-access extraction (views) has no kernel diagonal and uses the
lower bound Σ w_i². Components are ordered by λ, so the resolved ones are the leading
``n_resolved`` = #{i ≤ d : λ_i > ε}; only those are returned as functions (the estimator's
``n_components_resolved_``), while all d eigenvalue estimates are kept (they are Ritz values,
valid whatever the floor). Eigen-directions of C_Φ below ``rcond`` × its largest eigenvalue are
dropped before whitening as before (1e-12 with exact matrices on the whole sample, 1e-6 with
estimates), so no direction is amplified beyond 1/sqrt(rcond).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..exceptions import ParameterError


@dataclass
class Extraction:
    """Ordered eigenfunctions μ̂_i(x) = (Φ(x) − mean) · coef[:, i], and λ_i ≈ s_i²."""

    mean: np.ndarray          # (d₁,)
    coef: np.ndarray          # (d₁, d)
    eigenvalues: np.ndarray   # (d,), non-increasing
    C: np.ndarray             # (d₁, d₁) covariance estimate
    B: np.ndarray             # (d₁, d₁) ⟨φ̃_i, T T* φ̃_j⟩ estimate
    n_samples: int            # m
    method: str               # "kernel", "svme" or "views"
    rank: int                 # directions of C kept (above rcond)
    noise_floor: float = 0.0  # ε: eigenvalue estimates at or below it are not resolved

    def apply(self, features: np.ndarray) -> np.ndarray:
        """μ̂ on rows of encoder features (n × d₁ → n × n_resolved)."""
        return (features - self.mean) @ self.coef

    @property
    def n_components(self) -> int:
        """d, the number of eigenvalue estimates."""
        return self.eigenvalues.shape[0]

    @property
    def n_resolved(self) -> int:
        """The number of functions returned: the leading components the sample resolves."""
        return self.coef.shape[1]


def weighted_mean_cov(F: np.ndarray, weights: np.ndarray | None = None):
    """(mean, Φ̃, C = Φ̃ᵀ W Φ̃) with W = diag(weights) (uniform when None)."""
    n = F.shape[0]
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights) / np.sum(weights)
    mean = w @ F
    Fc = F - mean
    C = Fc.T @ (w[:, None] * Fc)
    return mean, Fc, 0.5 * (C + C.T)


def solve_generalized(B: np.ndarray, C: np.ndarray, n_components: int, rcond: float = 1e-6,
                      ridge: float = 1e-8):
    """Top ``n_components`` solutions of B v = λ (C + ridge·tr(C)/d₁·I) v with vᵀ C v = 1.

    Returns (λ non-increasing, V (d₁ × d), rank kept). Directions of C with eigenvalue below
    ``rcond`` × the largest are dropped first; fewer surviving directions than ``n_components``
    is a ParameterError (the encoder collapsed).
    """
    d1 = C.shape[0]
    C = 0.5 * (C + C.T)
    B = 0.5 * (B + B.T)
    c_eig, c_vec = scipy.linalg.eigh(C)
    top = max(float(c_eig[-1]), 0.0)
    if top <= 0 or not np.isfinite(top):
        raise ParameterError("the encoder outputs are constant on the extraction sample: "
                             "nothing to extract (training collapsed)")
    keep = c_eig > rcond * top
    rank = int(keep.sum())
    if rank < n_components:
        raise ParameterError(
            f"the encoder outputs span only {rank} directions (of d₁ = {d1}), fewer than "
            f"n_components = {n_components}: training collapsed; train longer, raise output_dim "
            "or lower n_components")
    shift = ridge * float(np.trace(C)) / d1
    Wh = c_vec[:, keep] / np.sqrt(c_eig[keep] + shift)
    Bw = Wh.T @ B @ Wh
    lam, Y = scipy.linalg.eigh(0.5 * (Bw + Bw.T),
                               subset_by_index=[rank - n_components, rank - 1])
    order = np.argsort(lam)[::-1]
    lam, Y = lam[order], Y[:, order]
    V = Wh @ Y
    return lam, V, rank


def noise_floor(weights: np.ndarray, diagonal: np.ndarray | None = None) -> float:
    """ε = Σ_i w_i² k_X⁺(x_i, x_i) with w = weights / Σ weights (the self-pair share of B_Φ);
    Σ_i w_i² when the kernel diagonal is unknown (its lower bound, since k_X⁺(x, x) ≥ 1)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    g = 1.0 if diagonal is None else np.maximum(np.asarray(diagonal, dtype=np.float64), 1.0)
    return float(np.sum(w * w * g))


def resolve(B: np.ndarray, C: np.ndarray, n_components: int, floor: float,
            rcond: float = 1e-12, ridge: float = 1e-8):
    """Eigenvalue estimates and the resolved components (see the module docstring).

    Returns (λ (d,), V (d₁ × k), rank, k): the top-d solutions of B v = λ C v on the directions
    of C above ``rcond`` (ParameterError when fewer than d: the encoder collapsed), and the
    k = #{i : λ_i > floor} leading ones as resolved components. No resolved component is a
    ParameterError (every estimate is at the noise floor).
    """
    lam, V, rank = solve_generalized(B, C, n_components, rcond=rcond, ridge=ridge)
    k = int(np.sum(lam > floor))
    if k == 0:
        raise ParameterError(
            f"no component is resolved by the extraction sample: the largest eigenvalue "
            f"estimate {lam[0]:.3g} is at or below the noise floor ε = {floor:.3g} (the share "
            "of each row's similarity with itself); use more rows or a weaker context")
    return lam, V[:, :k], rank, k


def finalize(mean: np.ndarray, V: np.ndarray, lam: np.ndarray, C: np.ndarray, B: np.ndarray,
             n_samples: int, method: str, rank: int,
             train_features: np.ndarray | None = None,
             train_weights: np.ndarray | None = None, floor: float = 0.0) -> Extraction:
    """Scale each direction to unit variance and fix its sign.

    ``V`` (d₁ × k) holds the k resolved directions, ``lam`` the d ≥ k eigenvalue estimates.
    Variances and signs are taken on ``train_features`` (the features ``transform`` will use on
    the training rows) when given, else from C. The sign makes the entry of largest magnitude on
    those rows positive (deterministic, so two fits with one seed agree).
    """
    coef = V.copy()
    if train_features is not None:
        mu_mean, _, Ct = weighted_mean_cov(train_features, train_weights)
        var = np.einsum("ij,ik,kj->j", coef, Ct, coef)
        coef = coef / np.sqrt(np.maximum(var, 1e-300))
        values = (train_features - mean) @ coef
        pick = np.abs(values).argmax(0)
        signs = np.sign(values[pick, np.arange(coef.shape[1])])
    else:
        var = np.einsum("ij,ik,kj->j", coef, C, coef)
        coef = coef / np.sqrt(np.maximum(var, 1e-300))
        pick = np.abs(coef).argmax(0)
        signs = np.sign(coef[pick, np.arange(coef.shape[1])])
    coef = coef * np.where(signs == 0, 1.0, signs)
    return Extraction(mean=mean, coef=coef, eigenvalues=np.clip(lam, 0.0, None), C=C, B=B,
                      n_samples=n_samples, method=method, rank=rank, noise_floor=float(floor))


def kernel_matrices(F: np.ndarray, kernel, mean: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, C_Φ, B_Φ) from features on the kernel's rows, B_Φ = Φ̃ᵀ W G W Φ̃ (kernel access).

    Φ̃ = Φ − mean: the given ``mean`` (the P_X mean over all training rows, when the rows are a
    subsample: centring on the subsample's own mean z̄ would lower B_Φ by about z̄ᵀz̄, an O(1/m)
    bias, since T T* keeps constants) or the weighted mean of the rows; C_Φ = Σ_i w_i Φ̃_i Φ̃_iᵀ.
    """
    w = np.asarray(kernel.weights, dtype=np.float64)
    if mean is None:
        mean, Fc, C = weighted_mean_cov(F, w)
    else:
        mean = np.asarray(mean, dtype=np.float64)
        Fc = F - mean
        C = Fc.T @ ((w / w.sum())[:, None] * Fc)
        C = 0.5 * (C + C.T)
    B = kernel.form_numpy(Fc)
    return mean, C, 0.5 * (B + B.T)


def view_matrices(za: np.ndarray, zb: np.ndarray, weights: np.ndarray | None = None):
    """(mean, C_Ψ, B_Ψ) from two independent views per row (Ψ-space, sample access).

    ``za``, ``zb``: (r, m, d₁) — r pairs of views for each of the m rows, whose P_X weights are
    ``weights`` (uniform when None). With ω_i = weights_i / (r Σ weights) per view pair:

        mean = Σ ω_i (ψ(a_i) + ψ(b_i)) / 2,   C_Ψ = Σ ω_i (ã_i ã_iᵀ + b̃_i b̃_iᵀ) / 2,
        B_Ψ = sym Σ ω_i ã_i b̃_iᵀ,

    the covariance of all views pooled (P_A = the law of a view of x ~ P_X) and the
    cross-covariance of the paired views, E[ψ̃(A) ψ̃(A⁺)ᵀ], symmetrised.
    """
    r, m, d1 = za.shape
    w = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, float) / np.sum(weights)
    om = np.tile(w, r) / r
    a = za.reshape(r * m, d1)
    b = zb.reshape(r * m, d1)
    mean = 0.5 * (om @ a + om @ b)
    a = a - mean
    b = b - mean
    C = 0.5 * (a.T @ (om[:, None] * a) + b.T @ (om[:, None] * b))
    X = a.T @ (om[:, None] * b)
    return mean, 0.5 * (C + C.T), 0.5 * (X + X.T)
