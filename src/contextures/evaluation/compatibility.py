"""Compatibility ρ(f) of a downstream task with a context (docs/theory.md §2).

With the fitted eigenfunctions μ_1..μ_d on the sample (n × d, zero mean, orthonormal under the
sample measure π: Σ_k π_k μ_i(x_k) μ_j(x_k) = δ_ij) and their singular values s_1..s_d,

    u_i = ⟨f − E f, μ_i⟩_π,      ρ(f) = sqrt( Σ_{i≤d} s_i² u_i² / Σ_{i≤d} u_i² ).

The theory's sums run over every i ≥ 1; with d fitted components both sums run over the **captured
part** of f only (its projection on span{μ_1..μ_d}). How much of f that is, is reported as
``captured_fraction`` = Σ_{i≤d} u_i² / Var_π(f): when it is well below 1 the components left out
(all with s_i ≤ s_d) would lower ρ. For a multi-output f (n × t, e.g. one-hot classes) the sums also
run over the outputs: ρ² = Σ_i s_i² ‖u_i‖² / Σ_i ‖u_i‖².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ParameterError
from ..validation import check_array, check_same_rows, check_spectrum


@dataclass(frozen=True)
class CompatibilityResult:
    """ρ(f), the share of Var f that the d components capture, and the coefficients u (d × t)."""

    rho: float
    captured_fraction: float
    coefficients: np.ndarray


def compatibility(f, eigenfunctions, singular_values, sample_weight=None) -> CompatibilityResult:
    """ρ(f) of a target ``f`` (n,) or (n, t) against fitted eigenfunctions; see the module docstring.

    ``eigenfunctions`` (n × d) are assumed orthonormal under π (uniform unless ``sample_weight``
    is given), as :class:`~contextures.spectral.Contexture` returns them; ``singular_values`` are
    s_1..s_d (any order, each in [0, 1]).
    """
    F = check_array(f, what="f", allow_1d=True)
    mu = check_array(eigenfunctions, what="eigenfunctions", allow_1d=True)
    s = check_spectrum(singular_values, sorted_=False)
    n = check_same_rows(f=F, eigenfunctions=mu)
    if s.size != mu.shape[1]:
        raise ParameterError(
            f"{s.size} singular values for {mu.shape[1]} eigenfunctions: they must match"
        )
    if sample_weight is None:
        pi = np.full(n, 1.0 / n)
    else:
        pi = np.asarray(sample_weight, dtype=np.float64)
        if pi.shape != (n,) or not np.isfinite(pi).all() or (pi < 0).any() or pi.sum() <= 0:
            raise ParameterError("sample_weight must be n non-negative finite numbers")
        pi = pi / pi.sum()
    Fc = F - pi @ F
    variance = float(pi @ (Fc * Fc).sum(axis=1))
    if variance <= 0:
        raise ParameterError("f is constant on the sample: ρ(f) is undefined")
    U = mu.T @ (pi[:, None] * Fc)  # d × t
    energy = (U * U).sum(axis=1)
    captured = float(energy.sum())
    if captured <= 1e-14 * variance:
        raise ParameterError(
            "f is orthogonal to the fitted eigenfunctions: ρ(f) is undefined on them "
            "(fit more components)"
        )
    rho = float(np.sqrt((s**2) @ energy / captured))
    return CompatibilityResult(rho=rho, captured_fraction=min(1.0, captured / variance),
                               coefficients=U)
