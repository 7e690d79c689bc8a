"""Objectives that learn the contexture, as ``torch.nn.Module`` losses on batch tensors.

Every loss takes tensors that the data pipeline has already drawn from the context (views,
kernel blocks, edges, labels); no loss samples anything itself. Notation: a batch of m rows,
outputs Z (m × d), sample weights w (P_X of the batch rows renormalised to Σ w = 1; uniform 1/m
when not given), batch-centred outputs Z̃ = Z − Σ_i w_i z_i, weighted covariance
C = Z̃ᵀ W Z̃ / (1 − Σ_i w_i²) (for uniform weights, the unbiased Z̃ᵀZ̃ / (m − 1)).

P_X need not be uniform (graph contexts: P_X ∝ degree). Every expectation over x ~ P_X is then a
w-weighted batch sum, every expectation over two independent rows x, x' ~ P_X a sum over pairs
i ≠ k weighted by w_i w_k / (1 − Σ w²); the kernel objectives (KISE, nested) take Horvitz–Thompson
estimates from :mod:`~contextures.encoders.kernels`, unbiased for any batch size.

All of them recover the *span* of the top-d singular functions only (except the nested loss,
which orders them); :mod:`contextures.encoders.extraction` turns a span into ordered functions.
"""

from __future__ import annotations

import torch
from torch import nn

from .kernels import unbiased_square

# --- shared pieces ------------------------------------------------------------------------------


def _weights(z: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return torch.full((z.shape[0],), 1.0 / z.shape[0], dtype=z.dtype, device=z.device)
    weights = weights.to(z.dtype)
    return weights / weights.sum()


def center(z: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Z̃ = Z − Σ_i w_i z_i (batch centring under the weights)."""
    w = _weights(z, weights)
    return z - (w[:, None] * z).sum(0, keepdim=True)


def covariance(z_centred: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Z̃ᵀ W Z̃ for already centred outputs (the plug-in, divisor-m covariance)."""
    w = _weights(z_centred, weights)
    return z_centred.T @ (w[:, None] * z_centred)


def unbiased_covariance(z: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """C = Z̃ᵀ W Z̃ / (1 − Σ_i w_i²) of raw outputs: the weighted unbiased covariance, equal to
    Z̃ᵀZ̃ / (m − 1) for uniform weights."""
    w = _weights(z, weights)
    zc = z - (w[:, None] * z).sum(0, keepdim=True)
    denom = (1.0 - (w * w).sum()).clamp_min(1e-12)
    return zc.T @ (w[:, None] * zc) / denom


def off_diagonal(C: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    d = C.shape[0]
    return C.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def pair_mean_sq_inner(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Σ_{i≠k} w_i w_k ⟨a_i, b_k⟩² / Σ_{i≠k} w_i w_k, in O(m d²):
    Σ_{i,k} w_i w_k ⟨a_i, b_k⟩² = Tr(AᵀWA · BᵀWB), minus the diagonal Σ_i w_i² ⟨a_i, b_i⟩²."""
    all_pairs = ((a.T @ (w[:, None] * a)) * (b.T @ (w[:, None] * b))).sum()
    diag = (w * w * (a * b).sum(1) ** 2).sum()
    return (all_pairs - diag) / (1.0 - (w * w).sum()).clamp_min(1e-12)


class ThesisRegularizer(nn.Module):
    """The regulariser of [THESIS] shared by SVME, KISE and Laplacian eigenmaps.

        std = mean_j relu(1 − sqrt(C_jj + 1e-4)),   cov = mean_{j≠j'} C_jj'²,
        L_total = (L + c_std·std + c_cov·cov) / (1 + c_std + c_cov)

    with C the weighted unbiased covariance of the batch outputs (divisor m − 1 for uniform
    weights, as in the thesis). The hinge keeps every output at unit standard deviation, the
    covariance term decorrelates them: together a soft Cov[Φ] = I.
    """

    def __init__(self, c_std: float = 1.0, c_cov: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.c_std = float(c_std)
        self.c_cov = float(c_cov)
        self.eps = float(eps)

    def terms(self, z: torch.Tensor, weights: torch.Tensor | None = None):
        """(std, cov) terms for outputs ``z``."""
        C = unbiased_covariance(z, weights)
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
    """Supervised pretraining with a linear head [ICML Thm 6–8].

        L = Σ_i w_i ‖W φ(x_i) + b − s ∘ a_i‖²     (``head_bias=True``, the affine head)
        L = Σ_i w_i ‖W φ(x_i) − s ∘ a_i‖²         (``head_bias=False``, the linear head)

    with a_i the target vector of x_i and s the per-column ``target_scale``. The head (W, b) is
    trained with the encoder. For classes, a_i is the one-hot class of x_i; with
    ``balanced=True``, s_y = 1/√P_A(y): the kernel Σ_a P⁺(a|x) P⁺(a|x') / P_A(a) of the scaled
    target is the dual kernel k_X⁺, so Φ learns the contexture exactly; without it the kernel is
    Σ_a P⁺(a|x) P⁺(a|x'), which favours frequent classes. For regression the target is the
    whitened centred target ỹ (the label context's features), whose linear kernel is k_X⁺ − 1,
    so no scale is needed. With the affine head, span{1, Φ} is fitted, so Φ spans μ_1..μ_d;
    with the linear head Φ also has to carry the constant μ_0 and spans μ_0..μ_{d−1}.
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
    """Spectral contrastive loss [ICML Thm 10] on two views of each row.

        L_C = E[ −⟨Ψ̃(A), Ψ̃(A⁺)⟩ + ½ ⟨Ψ̃(A), Ψ̃(A⁻)⟩² ]
        batch: −Σ_i w_i ⟨ã_i, b̃_i⟩ + ½ Σ_{i≠k} w_i w_k ⟨ã_i, b̃_k⟩² / Σ_{i≠k} w_i w_k

    (A, A⁺) are two views of the same x (row i of ``za`` and ``zb``, x ~ P_X through the weights
    w); the negatives A⁻ are the views of the other rows, pairs weighted by w_i w_k; each view is
    centred with the weights. For uniform weights the second term is the mean of ⟨ã_i, b̃_k⟩² over
    the m(m−1) pairs i ≠ k. Computed in O(m d²). The minimiser spans the top right singular
    functions ν_1..ν_d; downstream, Φ = T Ψ.
    """

    def forward(self, za: torch.Tensor, zb: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        w = _weights(za, weights)
        a = center(za, w)
        b = center(zb, w)
        positive = (w * (a * b).sum(1)).sum()
        negative = pair_mean_sq_inner(a, b, w)
        return -positive + 0.5 * negative


# --- 3. non-contrastive (VICReg) ----------------------------------------------------------------


class VICRegLoss(nn.Module):
    """Non-contrastive learning, VICReg style: L_N = E‖Ψ(A) − Ψ(A⁺)‖² s.t. Cov[Ψ] = I.

        L = λ_inv · (1/d) Σ_i w_i ‖ψ(a_i) − ψ(b_i)‖²
          + λ_var · ½ Σ_{z∈{a,b}} mean_j relu(γ − sqrt(C_jj[z] + ε))
          + λ_cov · Σ_{z∈{a,b}} (1/d) Σ_{j≠j'} C_jj'[z]²

    with w the P_X weights of the rows (uniform: 1/m) and C[z] the weighted unbiased covariance
    of one view (uniform: Z̃ᵀZ̃ / (m − 1)) (Bardes et al. 2022; defaults λ_inv = λ_var = 25,
    λ_cov = 1, γ = 1, ε = 1e-4). The minimiser spans ν_1..ν_d; downstream, Φ = T Ψ.
    """

    def __init__(self, invariance: float = 25.0, variance: float = 25.0,
                 covariance: float = 1.0, gamma: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.invariance = float(invariance)
        self.variance = float(variance)
        self.covariance = float(covariance)
        self.gamma = float(gamma)
        self.eps = float(eps)

    def _var_cov(self, z: torch.Tensor, w: torch.Tensor):
        d = z.shape[1]
        C = unbiased_covariance(z, w)
        var = torch.relu(self.gamma - torch.sqrt(torch.diagonal(C) + self.eps)).mean()
        cov = (off_diagonal(C) ** 2).sum() / d if d > 1 else C.new_zeros(())
        return var, cov

    def forward(self, za: torch.Tensor, zb: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        w = _weights(za, weights)
        inv = (w * ((za - zb) ** 2).sum(1)).sum() / za.shape[1]
        va, ca = self._var_cov(za, w)
        vb, cb = self._var_cov(zb, w)
        return (self.invariance * inv + self.variance * 0.5 * (va + vb)
                + self.covariance * (ca + cb))


# --- 4. SVME ------------------------------------------------------------------------------------


class SVMELoss(nn.Module):
    """SVME, sample access with two encoders [THESIS].

        L = (1/d) Σ_i w_i ‖Φ̃(x_i) − Ψ̃(a_i)‖²,   a_i ~ P⁺(·|x_i),

    combined with :class:`ThesisRegularizer` on Φ̃ (w: the P_X weights, uniform 1/m by default).
    For fixed Φ the optimal Ψ is T*Φ, leaving (1/d) Σ_j (‖φ̃_j‖² − ⟨φ̃_j, T T* φ̃_j⟩): under the
    unit-covariance regulariser, Φ spans the top-d eigenfunctions of T T*, i.e. μ_1..μ_d.
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
    """KISE, kernel access with one encoder [THESIS].

        L = (1/d) [ Σ_i p_i ‖Φ̃(x_i)‖² − Σ_{i,k} p_i p_k G_ik ⟨Φ̃(x_i), Φ̃(x_k)⟩ ]

    over the population (p = P_X), G the k_X⁺ Gram matrix; on a batch, the first sum is estimated
    by (N/m) Σ_{i∈S} p_i ‖Φ̃(x_i)‖² and the second by the Horvitz–Thompson form F̂ of
    :mod:`~contextures.encoders.kernels`, both unbiased (for uniform p and the full batch this
    is the thesis's (1/m) Σ_i ‖Φ̃_i‖² − (1/m²) Σ_{i,k} G_ik ⟨Φ̃_i, Φ̃_k⟩). Combined with
    :class:`ThesisRegularizer`. Population objective Σ_j (‖φ̃_j‖² − ⟨φ̃_j, T T* φ̃_j⟩), shared with
    SVME.
    """

    def __init__(self, c_std: float = 1.0, c_cov: float = 1.0):
        super().__init__()
        self.regularizer = ThesisRegularizer(c_std, c_cov)

    def forward(self, phi: torch.Tensor, kernel) -> torch.Tensor:
        w = kernel.weights.to(phi.dtype)
        lw = kernel.linear_weights.to(phi.dtype)
        d = phi.shape[1]
        zc = center(phi, w)
        norm = (lw * (zc ** 2).sum(1)).sum()
        loss = (norm - torch.trace(kernel.form(zc))) / d
        return self.regularizer(loss, phi, w)


# --- 6. denoising / masked reconstruction -------------------------------------------------------


class ReconstructionLoss(nn.Module):
    """Denoising / masked autoencoding [ICML Thm 11].

        L = Σ_i w_i ‖W ψ(a_i) + b − x_i‖² / F,   a_i ~ P⁺(·|x_i) a corrupted copy of x_i

    (w: the P_X weights of the rows, uniform 1/m by default) with a linear decoder (W, b) trained
    with the encoder. With ``masked_only=True`` only the coordinates that the corruption changed
    count: L = Σ_i w_i Σ_f m_if r_if² / Σ_i w_i Σ_f m_if (the masked-autoencoder convention;
    ``mask`` must then be given). The optimal Ψ spans the top principal functions of
    a ↦ E[X̃ | A = a], i.e. the contexture of the context seen through the linear kernel of X;
    Φ = T Ψ.
    """

    def __init__(self, in_dim: int, n_features: int, masked_only: bool = False):
        super().__init__()
        self.decoder = nn.Linear(in_dim, n_features)
        self.masked_only = bool(masked_only)

    def forward(self, psi: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        w = _weights(psi, weights)
        resid = (self.decoder(psi) - x) ** 2
        if self.masked_only and mask is not None:
            m = mask.to(resid.dtype)
            return (w * (resid * m).sum(1)).sum() / (w * m.sum(1)).sum().clamp_min(1e-12)
        return (w * resid.sum(1)).sum() / resid.shape[1]


# --- 7. Laplacian eigenmaps ---------------------------------------------------------------------


class LaplacianLoss(nn.Module):
    """Laplacian eigenmaps / node embeddings [ICML Thm 12].

        L = ½ Σ_e w_e ‖Φ(u_e) − Φ(v_e)‖² / d  s.t. Cov_{P_X}[Φ] = I

    over edges e = (u, v) with weights w_e (normalised to sum 1); the constraint is the
    :class:`ThesisRegularizer` on the node outputs (with the node weights P_X). When the edges are
    drawn with joint law P_X(u) P_X(v) k_X⁺(u, v) — two hops u → a → v, a ~ P⁺(·|u),
    v ~ P(x = · | a) — both ends have law P_X and L = (1/d) Σ_j (‖φ̃_j‖² − ⟨φ̃_j, T T* φ̃_j⟩), the
    KISE/SVME population objective: the minimiser spans μ_1..μ_d for every context. With one hop
    (v ~ P⁺(·|u)) this holds only for a reversible context (P_X(u) P⁺(v|u) symmetric) and then
    gives the top eigenfunctions of P, which are those of T T* = P² when no eigenvalue of P lies
    below −s_d (see :class:`~contextures.encoders.methods.Laplacian`).
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

        L = (1/d) Σ_{k=1}^{d} [ −2 Tr(A_k) + ‖C_k‖_F² ],
        A = Σ_{i,l} p_i p_l G_il φ̃_i φ̃_lᵀ,   C = Σ_i p_i φ̃_i φ̃_iᵀ,

    with A_k, C_k the leading k × k blocks (the first k centred outputs), p = P_X over the
    population and G the k_X⁺ Gram matrix. Each term is ‖K − Φ_kΦ_kᵀ‖² − ‖K‖² for the centred
    kernel operator K = T T* − 1⊗1, whose minimiser is the best rank-k approximation; summing over
    prefixes makes the solution ordered: φ̃_i = s_i μ_i (up to sign), so ‖φ̃_i‖² = s_i².
    Computed in O(d²): L = (1/d)[−2 Σ_i (d−i) A_ii + Σ_{i,j} (d − max(i,j)) (C∘C)_ij] (0-based
    i, j). On a batch, A is the Horvitz–Thompson form F̂ and C∘C its unbiased estimate
    (:func:`~contextures.encoders.kernels.unbiased_square`): both are sums over pairs of rows,
    whose diagonal would otherwise be over-weighted by N/m.
    """

    def forward(self, phi: torch.Tensor, kernel) -> torch.Tensor:
        w = kernel.weights.to(phi.dtype)
        d = phi.shape[1]
        zc = center(phi, w)
        A = kernel.form(zc)
        C2 = unbiased_square(zc, kernel.p.to(phi.dtype), kernel.pair_factor, kernel.diag_factor)
        idx = torch.arange(d, device=phi.device)
        prefix_count = (d - idx).to(phi.dtype)
        pair_count = (d - torch.maximum(idx[:, None], idx[None, :])).to(phi.dtype)
        loss = -2.0 * (prefix_count * torch.diagonal(A)).sum() + (pair_count * C2).sum()
        return loss / d
