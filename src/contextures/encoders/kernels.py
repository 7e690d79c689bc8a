"""Kernel access for the objectives: the quadratic form of the dual kernel k_X⁺ on a batch.

KISE, the nested low-rank loss and the extraction step need, for outputs z_i (rows of Z, d wide),

    F(Z) = Σ_{i,k} p_i p_k G_ik z_i z_kᵀ,   G_ik = k_X⁺(x_i, x_k),

the d × d matrix whose (j, j') entry is ⟨φ_j, T T* φ_j'⟩ in L²(P_X), with p = P_X on the
*population*: the N rows that batches are drawn from (the training rows), renormalised to sum 1 over
them. A batch S holds m of those rows drawn uniformly without replacement. A pair i ≠ k lies in S
with probability m(m−1)/(N(N−1)), a single row with probability m/N, so the Horvitz–Thompson
estimate

    F̂(Z) = N(N−1)/(m(m−1)) · Σ_{i≠k∈S} p_i p_k G_ik z_i z_kᵀ  +  N/m · Σ_{i∈S} p_i² G_ii z_i z_iᵀ

has E_S[F̂] = F exactly, for any P_X (uniform or not) [derived]; for m = N both factors are 1 and
F̂ = F. The plain batch V-statistic Σ_{i,k∈S} w_i w_k G_ik z_i z_kᵀ with w = p_S / Σ p_S is biased:
its diagonal enters with weight ≈ N/m times too large, and the diagonal G_ii of a strong context is
large (≈ N/k for KNN), so the bias dominates at small m.

The same inclusion probabilities give unbiased estimates of the other batch sums the objectives
use: a linear sum Σ_i p_i g(z_i) by (N/m) Σ_{i∈S} p_i g(z_i) (:attr:`linear_weights`), and a
quadratic sum Σ_{i,k} p_i p_k h(z_i, z_k) by the split above (:func:`unbiased_square` for the
entrywise square of the covariance, used by the nested loss).

Two implementations of F̂:

- :class:`DenseKernelBlock` holds the m × m Gram block G of the batch (``ContextOperator.kernel``).
- :class:`OperatorKernel` works through the operator: with G = D_π^{-1/2} M D_π^{-1/2} and
  M = Q Qᵀ (π = P_X on the whole sample), Σ_{i,k∈S} p_i p_k G_ik z_i z_kᵀ = Rᵀ R with
  R = Qᵀ D_{√π}/mass Z scattered into the sample (mass = Σ π over the population, p = π/mass),
  computed with the operator's sparse or matrix-free products (never the n × n Gram matrix);
  gradients flow through a custom autograd function whose backward applies Q. The diagonal G_ii
  comes from small diagonal blocks of ``op.kernel``.

Both expose ``weights`` (w = p_S / Σ p_S, for batch centring and covariances), ``p`` (p_S),
``linear_weights`` (N/m · p_S) and the factors ``pair_factor`` = N(N−1)/(m(m−1)) and
``diag_factor`` = N/m.
"""

from __future__ import annotations

import numpy as np
import torch

from ._runtime import to_numpy


def inclusion_factors(population: int, m: int) -> tuple[float, float]:
    """(N(N−1)/(m(m−1)), N/m): inverse inclusion probabilities of a pair and of a row."""
    N = int(population)
    if m >= N or m < 2:
        return 1.0, 1.0
    return N * (N - 1) / (m * (m - 1)), N / m


def unbiased_square(Z: torch.Tensor, p: torch.Tensor, pair_factor: float,
                    diag_factor: float) -> torch.Tensor:
    """Unbiased batch estimate of C∘C (entrywise square), C = Σ_i p_i z_i z_iᵀ over the population.

        (C∘C)_jl = Σ_{i,k} p_i p_k z_ij z_il z_kj z_kl
        estimate = a (Ĉ∘Ĉ − D) + b D,  Ĉ = Σ_{i∈S} p_i z_i z_iᵀ,  D = (Z∘Z)ᵀ diag(p²) (Z∘Z),

    a = ``pair_factor``, b = ``diag_factor`` (the inclusion factors of the module docstring).
    """
    Cb = Z.T @ (p[:, None] * Z)
    if pair_factor == 1.0 and diag_factor == 1.0:
        return Cb * Cb
    Z2 = Z * Z
    D = Z2.T @ ((p * p)[:, None] * Z2)
    return pair_factor * (Cb * Cb - D) + diag_factor * D


class DenseKernelBlock:
    """The Gram block G of k_X⁺ on a batch, with the population probabilities of its rows.

    ``pi``: P_X of the batch rows, normalised over the population (default uniform 1/N);
    ``population``: N, the number of rows batches are drawn from (default m: the batch is the
    population and F̂ is the exact V-statistic).
    """

    def __init__(self, G: torch.Tensor, pi: torch.Tensor | None = None,
                 population: int | None = None):
        m = G.shape[0]
        N = m if population is None else int(population)
        if N < m:
            raise ValueError(f"population N = {N} is smaller than the batch m = {m}")
        self.G = G
        self.m = m
        self.population = N
        if pi is None:
            pi = torch.full((m,), 1.0 / N, dtype=G.dtype, device=G.device)
        self.p = pi.to(G.dtype)
        self.weights = self.p / self.p.sum()
        self.pair_factor, self.diag_factor = inclusion_factors(N, m)
        self.linear_weights = self.p * self.diag_factor
        eff = G * (self.pair_factor * torch.outer(self.p, self.p))
        eff.diagonal().copy_(G.diagonal() * self.p ** 2 * self.diag_factor)
        self._eff = eff

    def form(self, Z: torch.Tensor) -> torch.Tensor:
        """F̂(Z) = Zᵀ G_eff Z (d × d), G_eff the Horvitz–Thompson weighted block."""
        return Z.T @ (self._eff.to(Z.dtype) @ Z)


class _ApplyQT(torch.autograd.Function):
    """R = Qᵀ S Z through the operator's numpy products, S scattering the batch rows into the
    sample with per-row scales; backward: ∂Z = scale · (Q ∂R)[rows]."""

    @staticmethod
    def forward(ctx, Z, op, rows, scale):
        ctx.op, ctx.rows, ctx.scale = op, rows, scale
        ctx.device, ctx.dtype = Z.device, Z.dtype
        full = np.zeros((op.n_samples, Z.shape[1]))
        full[rows] = scale[:, None] * to_numpy(Z)
        R = np.asarray(op.rmatmat(full))
        return torch.as_tensor(R, dtype=Z.dtype, device=Z.device)

    @staticmethod
    def backward(ctx, grad_R):
        g = np.asarray(ctx.op.matmat(to_numpy(grad_R)))[ctx.rows] * ctx.scale[:, None]
        return torch.as_tensor(g, dtype=ctx.dtype, device=ctx.device), None, None, None


class OperatorKernel:
    """k_X⁺ on the rows ``rows`` of the training sample (all rows when None), through a
    ContextOperator; F̂ as in the module docstring.

    ``population``: N, the number of rows batches are drawn from (default: the whole sample);
    ``mass``: Σ π over those rows (default 1), so that p = π / mass sums to 1 over them.
    """

    def __init__(self, op, rows: np.ndarray | None = None, device: torch.device | str = "cpu",
                 population: int | None = None, mass: float = 1.0):
        self.op = op
        n = op.n_samples
        pi = np.asarray(op.pi, dtype=np.float64)
        self.rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        m = self.m = len(self.rows)
        N = self.population = n if population is None else int(population)
        if N < m:
            raise ValueError(f"population N = {N} is smaller than the row set m = {m}")
        p = pi[self.rows] / float(mass)
        self.p_numpy = p
        self.weights = torch.as_tensor(p / p.sum(), dtype=torch.float32, device=device)
        self.p = torch.as_tensor(p, dtype=torch.float32, device=device)
        self.pair_factor, self.diag_factor = inclusion_factors(N, m)
        self.linear_weights = self.p * self.diag_factor
        # R = Qᵀ D_{√π} (p/π) Z: Σ_{i,k∈S} p_i p_k G_ik z_i z_kᵀ = Rᵀ R.
        self._scale = np.sqrt(pi[self.rows]) / float(mass)
        self._exact = self.pair_factor == 1.0 and self.diag_factor == 1.0
        if not self._exact:
            self._diag = _kernel_diagonal(op, self.rows) * p * p    # p_i² G_ii

    def _combine(self, S, Z, diag):
        if self._exact:
            return S
        D = Z.T @ (diag[:, None] * Z)
        return self.pair_factor * (S - D) + self.diag_factor * D

    def form(self, Z: torch.Tensor) -> torch.Tensor:
        """F̂(Z) (d × d), differentiable in Z (rows of Z follow ``rows``)."""
        R = _ApplyQT.apply(Z, self.op, self.rows, self._scale)
        S = R.T @ R
        diag = None if self._exact else torch.as_tensor(self._diag, dtype=Z.dtype,
                                                        device=Z.device)
        return self._combine(S, Z, diag)

    def form_numpy(self, Z: np.ndarray) -> np.ndarray:
        """The same in float64 numpy (for extraction)."""
        full = np.zeros((self.op.n_samples, Z.shape[1]))
        full[self.rows] = self._scale[:, None] * Z
        R = np.asarray(self.op.rmatmat(full))
        return self._combine(R.T @ R, Z, None if self._exact else self._diag)


def kernel_diagonal(op, rows: np.ndarray | None = None, block: int = 1024) -> np.ndarray:
    """k_X⁺(x_i, x_i) = Σ_a P⁺(a|x_i)² / P_A(a) = ‖Q_i‖² / π_i for i in ``rows`` (all rows when
    None): from the rows of Q (sparse or dense operators) or one pass over row blocks of a
    matrix-free P."""
    n = op.n_samples
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    pi = np.asarray(op.pi, dtype=np.float64)[rows]
    Q = getattr(op, "_Q", None)
    if Q is not None:
        sub = Q[rows]
        sq = (np.asarray(sub.multiply(sub).sum(axis=1)).ravel() if hasattr(sub, "multiply")
              and not isinstance(sub, np.ndarray) else np.einsum("ij,ij->i", sub, sub))
        return sq / pi
    inv_c = op._inv_sqrt_c_full ** 2
    out = np.empty(rows.size)
    order = np.argsort(rows)
    sorted_rows = rows[order]
    for s in range(0, rows.size, block):
        r = sorted_rows[s:s + block]
        vals = np.empty(r.size)
        for i0 in range(int(r[0]), int(r[-1]) + 1, block):
            sel = (r >= i0) & (r < i0 + block)
            if sel.any():
                B = op.P.row_block(i0, min(n, i0 + block))[r[sel] - i0]
                vals[sel] = (B * B) @ inv_c
        out[order[s:s + block]] = vals
    return out


def _kernel_diagonal(op, rows: np.ndarray) -> np.ndarray:
    return kernel_diagonal(op, rows)
