"""Kernel access for the objectives: the quadratic form of the dual kernel k_X⁺ on a batch.

KISE, the nested low-rank loss and the extraction step need, for batch outputs Z (m × d) with
sample weights w (Σ w = 1),

    form(Z) = Zᵀ W G W Z,   G_ik = k_X⁺(x_i, x_k),  W = diag(w),

the d × d matrix whose (j, j') entry estimates ⟨φ_j, T T* φ_j'⟩ in L²(P_X). Two implementations:

- :class:`DenseKernelBlock` holds the Gram block G of the batch (from ``ContextOperator.kernel``).
  With uniform P_X on a population of n points and a batch of m < n of them, the plain form is a
  biased estimate: its diagonal terms G_ii (large for strong contexts, ≈ n/k for KNN) enter with
  weight 1/m² instead of 1/n². The block then uses the unbiased combination

      form(Z) = (n−1)/(n m(m−1)) Σ_{i≠k} G_ik z_i z_kᵀ + 1/(n m) Σ_i G_ii z_i z_iᵀ,

  whose expectation over uniformly drawn batches is the exact form (1/n²) Σ_{i,k} G_ik z_i z_kᵀ
  over the whole sample [derived]; for m = n it is that exact form.
- :class:`OperatorKernel` is the whole training sample: with G = D_π^{-1/2} M D_π^{-1/2} and
  M = Q Qᵀ, form(Z) = Rᵀ R with R = Qᵀ D_π^{1/2} Z, computed with the operator's sparse or
  matrix-free products (never the n × n Gram matrix); gradients flow through a custom autograd
  function whose backward applies D_π^{1/2} Q.
"""

from __future__ import annotations

import numpy as np
import torch

from ._runtime import to_numpy


class DenseKernelBlock:
    """The Gram block G of k_X⁺ on a batch, with the batch weights and population size."""

    def __init__(self, G: torch.Tensor, weights: torch.Tensor | None = None,
                 population: int | None = None):
        m = G.shape[0]
        self.G = G
        self.m = m
        if weights is not None:
            # Weighted V-statistic (non-uniform P_X): Σ w_i w_k G_ik z_i z_k.
            self.weights = weights / weights.sum()
            self._eff = G * torch.outer(self.weights, self.weights)
        else:
            self.weights = torch.full((m,), 1.0 / m, dtype=G.dtype, device=G.device)
            n = population if population is not None else m
            if n <= m or m < 2:
                self._eff = G / float(m * m)
            else:
                off = (n - 1) / (n * m * (m - 1))
                eff = G * off
                eff.diagonal().copy_(G.diagonal() / (n * m))
                self._eff = eff

    def form(self, Z: torch.Tensor) -> torch.Tensor:
        """Zᵀ G_eff Z (d × d)."""
        return Z.T @ (self._eff @ Z)


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
    """k_X⁺ on the training sample (or on the subset ``rows`` of it) through a ContextOperator.

    Whole sample: form(Z) = Rᵀ R, R = Qᵀ D_π^{1/2} Z — the exact Σ_{i,k} π_i π_k G_ik z_i z_kᵀ.
    Subset of m rows, uniform P_X: the debiased combination of the module docstring, from
    S = Σ_{i,k∈rows} G_ik z_i z_kᵀ (one operator product) and the diagonal G_ii (computed once).
    Subset, non-uniform P_X: the weighted V-statistic with w = π_rows / Σ π_rows.
    """

    def __init__(self, op, rows: np.ndarray | None = None, device: torch.device | str = "cpu"):
        self.op = op
        n = op.n_samples
        pi = np.asarray(op.pi, dtype=np.float64)
        uniform = np.allclose(pi, 1.0 / n, rtol=1e-9, atol=0)
        self.rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        m = self.m = len(self.rows)
        w = pi[self.rows] / pi[self.rows].sum()
        self.weights = torch.as_tensor(w, dtype=torch.float32, device=device)
        self._debias = uniform and m < n
        if not self._debias:
            # V-statistic Σ w_i w_k G_ik z_i z_k with G = D_π^{-1/2} M D_π^{-1/2}.
            self._scale = w / np.sqrt(pi[self.rows])
        else:
            self._scale = np.full(m, np.sqrt(n))  # Σ G_ik z_i z_k over the subset
            self._diag = _kernel_diagonal(op, self.rows)
            self._a = (n - 1) / (n * m * (m - 1)) if m > 1 else 0.0
            self._b = 1.0 / (n * m)

    def form(self, Z: torch.Tensor) -> torch.Tensor:
        """Zᵀ G_eff Z (d × d), differentiable in Z (rows of Z follow ``rows``)."""
        R = _ApplyQT.apply(Z, self.op, self.rows, self._scale)
        S = R.T @ R
        if not self._debias:
            return S
        g = torch.as_tensor(self._diag, dtype=Z.dtype, device=Z.device)
        D = Z.T @ (g[:, None] * Z)
        return self._a * (S - D) + self._b * D

    def form_numpy(self, Z: np.ndarray) -> np.ndarray:
        """The same in float64 numpy (for extraction)."""
        full = np.zeros((self.op.n_samples, Z.shape[1]))
        full[self.rows] = self._scale[:, None] * Z
        R = np.asarray(self.op.rmatmat(full))
        S = R.T @ R
        if not self._debias:
            return S
        D = Z.T @ (self._diag[:, None] * Z)
        return self._a * (S - D) + self._b * D


def _kernel_diagonal(op, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
    """k_X⁺(x_i, x_i) for i in rows, from small diagonal blocks of ``op.kernel``."""
    out = np.empty(len(rows))
    for s in range(0, len(rows), chunk):
        r = rows[s:s + chunk]
        out[s:s + chunk] = np.diagonal(np.asarray(op.kernel(r, r)))
    return out
