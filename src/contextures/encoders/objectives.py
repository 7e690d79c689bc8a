"""Objectives that learn the contexture (spec §4), as ``torch.nn.Module`` losses on batch tensors.

Every loss takes tensors that the data pipeline has already drawn from the context (views,
kernel blocks, edges, labels); no loss samples anything itself. Notation: a batch of m rows,
outputs Z (m × d), optional sample weights w (Σ w = 1, default uniform 1/m), batch-centred
outputs Z̃ = Z − Σ_i w_i z_i, weighted covariance C = Z̃ᵀ W Z̃.

All of them recover the *span* of the top-d singular functions only (except the nested loss,
which orders them); :mod:`contextures.encoders.extraction` turns a span into ordered functions.
"""

from __future__ import annotations

import torch
from torch import nn

# --- shared pieces ------------------------------------------------------------------------------


def _weights(z: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return torch.full((z.shape[0],), 1.0 / z.shape[0], dtype=z.dtype, device=z.device)
    return weights / weights.sum()


def center(z: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Z̃ = Z − Σ_i w_i z_i (batch centring under the weights)."""
    w = _weights(z, weights)
    return z - (w[:, None] * z).sum(0, keepdim=True)


def covariance(z_centred: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """C = Z̃ᵀ W Z̃ for already centred outputs."""
    w = _weights(z_centred, weights)
    return z_centred.T @ (w[:, None] * z_centred)


def off_diagonal(C: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    d = C.shape[0]
    return C.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


class ThesisRegularizer(nn.Module):
    """The regulariser of [THESIS] shared by SVME, KISE and Laplacian eigenmaps (spec §4.5).

        std = mean_j relu(1 − sqrt(Var_j + 1e-4)),   cov = mean_{j≠j'} C_jj'²,
        L_total = (L + c_std·std + c_cov·cov) / (1 + c_std + c_cov)

    with C the (weighted) covariance of the batch outputs. The hinge keeps every output at unit
    standard deviation, the covariance term decorrelates them: together a soft Cov[Φ] = I.
    """

    def __init__(self, c_std: float = 1.0, c_cov: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.c_std = float(c_std)
        self.c_cov = float(c_cov)
        self.eps = float(eps)

    def terms(self, z: torch.Tensor, weights: torch.Tensor | None = None):
        """(std, cov) terms for outputs ``z``."""
        C = covariance(center(z, weights), weights)
        std = torch.relu(1.0 - torch.sqrt(torch.diagonal(C) + self.eps)).mean()
        d = C.shape[0]
        cov = (off_diagonal(C) ** 2).mean() if d > 1 else C.new_zeros(())
        return std, cov

    def forward(self, loss: torch.Tensor, z: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        std, cov = self.terms(z, weights)
        return (loss + self.c_std * std + self.c_cov * cov) / (1.0 + self.c_std + self.c_cov)


# --- 1. supervised ------------------------------------------------------------------------------


class SupervisedLoss(nn.Module):
    """Supervised pretraining with a linear head [ICML Thm 6–8] (spec §4.1).

        L = E ‖W Φ(X) + b − A‖²            (``head_bias=True``, the affine "biased" head)
        L = E ‖W Φ(X) − A‖²                (``head_bias=False``, the linear "unbiased" head)

    with A the one-hot class of X (more generally the target vector a ~ P⁺(·|x)). The head
    (W, b) is trained with the encoder. With ``balanced=True`` the target is A / sqrt(P_A(A)),
    i.e. the one-hot row of class y divided by sqrt(p_y): its kernel
    Σ_a P⁺(a|x) P⁺(a|x') / P_A(a) is the dual kernel k_X⁺, so Φ learns the contexture exactly;
    without it the kernel is Σ_a P⁺(a|x) P⁺(a|x'), which favours frequent classes.
    With the affine head, span{1, Φ} is fitted, so Φ spans μ_1..μ_d; with the linear head Φ also
    has to carry the constant μ_0 and spans μ_0..μ_{d−1}.
    """

    def __init__(self, in_dim: int, n_targets: int, head_bias: bool = True,
                 balanced: bool = False, class_prior: torch.Tensor | None = None):
        super().__init__()
        self.head = nn.Linear(in_dim, n_targets, bias=head_bias)
        self.balanced = bool(balanced)
        scale = torch.ones(n_targets)
        if balanced:
            if class_prior is None or class_prior.shape != (n_targets,):
                raise ValueError("balanced supervision needs the class prior P_A")
            scale = 1.0 / torch.sqrt(class_prior.clamp_min(1e-12))
        self.register_buffer("target_scale", scale.to(torch.float32))

    def forward(self, phi: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        w = _weights(phi, weights)
        resid = self.head(phi) - target * self.target_scale
        return (w * (resid ** 2).sum(1)).sum()


# --- 2. spectral contrastive --------------------------------------------------------------------


class SpectralContrastiveLoss(nn.Module):
    """Spectral contrastive loss [ICML Thm 10] (spec §4.2) on two views of each row.

        L_C = E[ −⟨Ψ̃(A), Ψ̃(A⁺)⟩ + ½ ⟨Ψ̃(A), Ψ̃(A⁻)⟩² ]

    (A, A⁺) are two views of the same x (row i of ``za`` and ``zb``); the negatives A⁻ are the
    views of the other rows of the batch: the second term averages ⟨ψ̃(a_i), ψ̃(b_j)⟩² over i ≠ j,
    computed as (Tr(AᵀA BᵀB) − Σ_i ⟨a_i, b_i⟩²) / (m(m−1)) in O(m d²). The minimiser spans the
    top right singular functions ν_1..ν_d; downstream, Φ = T Ψ.
    """

    def forward(self, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
        m = za.shape[0]
        a = center(za)
        b = center(zb)
        diag = (a * b).sum(1)
        positive = diag.mean()
        all_pairs = ((a.T @ a) * (b.T @ b)).sum()
        negative = (all_pairs - (diag ** 2).sum()) / (m * (m - 1))
        return -positive + 0.5 * negative


# --- 3. non-contrastive (VICReg) ----------------------------------------------------------------


class VICRegLoss(nn.Module):
    """Non-contrastive learning, VICReg style (spec §4.3): L_N = E‖Ψ(A) − Ψ(A⁺)‖² s.t. Cov[Ψ] = I.

        L = λ_inv · (1/(m d)) Σ_i ‖ψ(a_i) − ψ(b_i)‖²
          + λ_var · ½ Σ_{z∈{a,b}} mean_j relu(γ − sqrt(Var_j[z] + ε))
          + λ_cov · Σ_{z∈{a,b}} (1/d) Σ_{j≠j'} C_jj'[z]²

    (Bardes et al. 2022; defaults λ_inv = λ_var = 25, λ_cov = 1, γ = 1, ε = 1e-4; variances are the
    unbiased batch estimates). The minimiser spans ν_1..ν_d; downstream, Φ = T Ψ.
    """

    def __init__(self, invariance: float = 25.0, variance: float = 25.0,
                 covariance: float = 1.0, gamma: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.invariance = float(invariance)
        self.variance = float(variance)
        self.covariance = float(covariance)
        self.gamma = float(gamma)
        self.eps = float(eps)

    def _var_cov(self, z: torch.Tensor):
        m, d = z.shape
        zc = z - z.mean(0, keepdim=True)
        C = zc.T @ zc / (m - 1)
        var = torch.relu(self.gamma - torch.sqrt(torch.diagonal(C) + self.eps)).mean()
        cov = (off_diagonal(C) ** 2).sum() / d
        return var, cov

    def forward(self, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
        inv = ((za - zb) ** 2).mean()
        va, ca = self._var_cov(za)
        vb, cb = self._var_cov(zb)
        return (self.invariance * inv + self.variance * 0.5 * (va + vb)
                + self.covariance * (ca + cb))


# --- 4. SVME ------------------------------------------------------------------------------------


class SVMELoss(nn.Module):
    """SVME, sample access with two encoders [THESIS] (spec §4.4).

        L = (1/(m d)) Σ_i ‖Φ̃(x_i) − Ψ̃(a_i)‖²,   a_i ~ P⁺(·|x_i),

    combined with :class:`ThesisRegularizer` on Φ̃. For fixed Φ the optimal Ψ is T*Φ, leaving
    (1/d) Σ_j (‖φ̃_j‖² − ⟨φ̃_j, T T* φ̃_j⟩): under the unit-covariance regulariser, Φ spans the top-d
    eigenfunctions of T T*, i.e. μ_1..μ_d.
    """

    def __init__(self, c_std: float = 1.0, c_cov: float = 1.0):
        super().__init__()
        self.regularizer = ThesisRegularizer(c_std, c_cov)

    def forward(self, phi: torch.Tensor, psi: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        w = _weights(phi, weights)
        d = phi.shape[1]
        gap = center(phi, w) - center(psi, w)
        loss = (w * (gap ** 2).sum(1)).sum() / d
        return self.regularizer(loss, phi, w)


# --- 5. KISE ------------------------------------------------------------------------------------


class KISELoss(nn.Module):
    """KISE, kernel access with one encoder [THESIS] (spec §4.5).

        L = (1/d) [ (1/m) Σ_i ‖Φ̃(x_i)‖² − (1/m²) Σ_{i,k} G_ik ⟨Φ̃(x_i), Φ̃(x_k)⟩ ]

    with G the Gram block of k_X⁺ on the batch (a :mod:`~contextures.encoders.kernels` block,
    which applies the weights and the mini-batch debiasing), combined with
    :class:`ThesisRegularizer`. Population objective Σ_j (‖φ̃_j‖² − ⟨φ̃_j, T T* φ̃_j⟩), shared
    with SVME.
    """

    def __init__(self, c_std: float = 1.0, c_cov: float = 1.0):
        super().__init__()
        self.regularizer = ThesisRegularizer(c_std, c_cov)

    def forward(self, phi: torch.Tensor, kernel) -> torch.Tensor:
        w = kernel.weights.to(phi.dtype)
        d = phi.shape[1]
        zc = center(phi, w)
        norm = (w * (zc ** 2).sum(1)).sum()
        loss = (norm - torch.trace(kernel.form(zc))) / d
        return self.regularizer(loss, phi, w)


# --- 6. denoising / masked reconstruction -------------------------------------------------------


class ReconstructionLoss(nn.Module):
    """Denoising / masked autoencoding [ICML Thm 11] (spec §4.6).

        L = E ‖W Ψ(A) + b − X‖² / F,   A ~ P⁺(·|X) a corrupted (noisy, masked, SCARF...) copy of X

    with a linear decoder (W, b) trained with the encoder. With ``masked_only=True`` only the
    coordinates that the corruption changed count (the masked-autoencoder convention; ``mask``
    must then be given). The optimal Ψ spans the top principal functions of a ↦ E[X̃ | A = a],
    i.e. the contexture of the context seen through the linear kernel of X; Φ = T Ψ.
    """

    def __init__(self, in_dim: int, n_features: int, masked_only: bool = False):
        super().__init__()
        self.decoder = nn.Linear(in_dim, n_features)
        self.masked_only = bool(masked_only)

    def forward(self, psi: torch.Tensor, x: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        resid = (self.decoder(psi) - x) ** 2
        if self.masked_only and mask is not None:
            m = mask.to(resid.dtype)
            return (resid * m).sum() / m.sum().clamp_min(1.0)
        return resid.mean()


# --- 7. Laplacian eigenmaps ---------------------------------------------------------------------


class LaplacianLoss(nn.Module):
    """Laplacian eigenmaps / node embeddings [ICML Thm 12] (spec §4.7).

        L = ½ Σ_e w_e ‖Φ(u_e) − Φ(v_e)‖² / d  s.t. Cov_{P_X}[Φ] = I

    over edges e = (u, v) drawn as u ~ P_X, v ~ P⁺(·|u) (weights w_e normalised to sum 1); the
    constraint is the :class:`ThesisRegularizer` on the node outputs (with the node weights P_X).
    For a graph context (P = D⁻¹W, P_X ∝ degree) the minimiser spans the top eigenfunctions of P,
    which are those of T T* = P² when P has no large negative eigenvalues.
    """

    def __init__(self, c_std: float = 1.0, c_cov: float = 1.0):
        super().__init__()
        self.regularizer = ThesisRegularizer(c_std, c_cov)

    def forward(self, phi_u: torch.Tensor, phi_v: torch.Tensor, phi_nodes: torch.Tensor,
                edge_weights: torch.Tensor | None = None,
                node_weights: torch.Tensor | None = None) -> torch.Tensor:
        we = _weights(phi_u, edge_weights)
        d = phi_u.shape[1]
        smooth = 0.5 * (we * ((phi_u - phi_v) ** 2).sum(1)).sum() / d
        return self.regularizer(smooth, phi_nodes, node_weights)


# --- 8. nested low-rank -------------------------------------------------------------------------


class NestedLowRankLoss(nn.Module):
    """Nested low-rank approximation of the kernel (NeuralSVD-style ordered eigenfunctions).

        L = (1/d) Σ_{k=1}^{d} [ −2 Tr(Φ̃_kᵀ G Φ̃_k)/m² + ‖Φ̃_kᵀ Φ̃_k / m‖_F² ]

    with Φ̃_k the first k centred outputs and G the k_X⁺ Gram block (kernel access; weights and
    debiasing as in :mod:`~contextures.encoders.kernels`). Each term is ‖K − Φ_kΦ_kᵀ‖² − ‖K‖² for
    the centred kernel operator K = T T* − 1⊗1, whose minimiser is the best rank-k approximation;
    summing over prefixes makes the solution ordered: φ̃_i = s_i μ_i (up to sign), so ‖φ̃_i‖² = s_i².
    Computed in O(d²) from A = Φ̃ᵀ W G W Φ̃ and C = Φ̃ᵀ W Φ̃:
    L = (1/d)[−2 Σ_i (d−i) A_ii + Σ_{i,j} (d − max(i,j)) C_ij²]  (0-based i, j).
    """

    def forward(self, phi: torch.Tensor, kernel) -> torch.Tensor:
        w = kernel.weights.to(phi.dtype)
        d = phi.shape[1]
        zc = center(phi, w)
        A = kernel.form(zc)
        C = covariance(zc, w)
        idx = torch.arange(d, device=phi.device)
        prefix_count = (d - idx).to(phi.dtype)
        pair_count = (d - torch.maximum(idx[:, None], idx[None, :])).to(phi.dtype)
        loss = -2.0 * (prefix_count * torch.diagonal(A)).sum() + (pair_count * C ** 2).sum()
        return loss / d
