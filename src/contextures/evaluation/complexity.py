"""Context complexity κ, and the two terms of the error of a linear probe on the top-d contexture.

**Context complexity.** Zhai, Liu, Risteski, Kolter and Ravikumar ("Understanding
Augmentation-based Self-Supervised Representation Learning via RKHS Approximation and
Regression", ICLR 2024, arXiv 2306.00788) measure a context (there: an augmentation) by how large
the diagonal of its dual kernel can get: κ is the smallest number with

    k_X⁺(x, x) = ∫ P⁺(a | x)² / P_A(a) da ≤ κ²      for P_X-almost every x.

Since k_X⁺(x, x) = Σ_{i≥0} s_i² μ_i(x)² and E_x k_X⁺(x, x) = Σ_i s_i², κ² ≥ 1 + Σ_{i≥1} s_i²; κ is
large when A nearly determines X (strong association: KNN with small k, RBF with large γ), where
P⁺(a|x) is concentrated on context values of small marginal mass. On a fitted sample the
supremum is read over the N rows: k(x_j, x_j) = Σ_a P⁺(a|x_j)² / P_A(a) (for KNN about N / k).
:func:`context_complexity` returns κ, the mean of the diagonal (its trace, 1 + Σ_{i≥1} s_i²) and
its quantiles.

**The two terms.** The same paper splits the error of a linear probe fitted on n labelled rows on
top of an encoder into an *estimation* term (fitting the probe with finitely many labels) and an
*approximation* term (what the encoder's span misses of the target), neither depending on the
encoder's model complexity. For the encoder that learns the contexture (span μ_1..μ_d) and a
target f = E f + Σ_{i≥1} u_i μ_i, :func:`bound_terms` computes the terms in their standard
closed forms, stated here exactly as implemented:

- approximation, exact: A_d = Σ_{i>d} u_i² (the squared L²(P_X) distance from f − E f to the
  span), and its bound A_d ≤ s_{d+1}² ‖f‖²_H when f lies in the RKHS H of k_X⁺, with
  ‖f − E f‖²_H = Σ_{i≥1} u_i² / s_i²;
- estimation: σ² (d + 1) / n for least squares on the d features and an intercept with noise
  variance σ² (the variance term of the linear probe), valid once the leverage of the features is
  controlled: sup_x Σ_{i≤d} μ_i(x)² ≤ κ² / s_d² (because Σ_i s_i² μ_i(x)² ≤ κ²), so n of order
  (κ² / s_d²) log d labelled rows suffice (``sample_requirement``). This is where κ enters: a
  context of large complexity needs more labels before the probe's error reaches its variance term.

The paper proves bounds of this two-term form with its own constants and assumptions (the isometry
property of the target); the formulas above are the standard forms of the two terms, not a
transcription of the paper's theorems, and the constants are 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import ParameterError


@dataclass(frozen=True)
class ContextComplexity:
    """κ of a fitted context on its sample (module docstring).

    kappa : √max_j k(x_j, x_j); mean_diagonal : mean_j k(x_j, x_j) = 1 + Σ_{i≥1} s_i²;
    quantiles : {0.5, 0.9, 0.99} → that quantile of k(x_j, x_j); n_samples : N.
    """

    kappa: float
    mean_diagonal: float
    quantiles: dict
    n_samples: int

    def as_json(self) -> dict:
        return {"kappa": self.kappa, "kappa_squared": self.kappa ** 2,
                "mean_diagonal": self.mean_diagonal,
                "quantiles": {str(q): v for q, v in self.quantiles.items()},
                "n_samples": self.n_samples}


def context_complexity(context, memory_budget=None) -> ContextComplexity:
    """κ² = max_j k(x_j, x_j) of a fitted context (or of its ``ContextOperator``) on its rows."""
    from ..semisupervised._propagation import kernel_diagonal

    op = context if hasattr(context, "extension_weights") else context.operator(memory_budget)
    diag = kernel_diagonal(op)
    return ContextComplexity(kappa=float(math.sqrt(diag.max())),
                             mean_diagonal=float(diag.mean()),
                             quantiles={q: float(np.quantile(diag, q)) for q in (0.5, 0.9, 0.99)},
                             n_samples=int(diag.size))


@dataclass(frozen=True)
class BoundTerms:
    """The two terms for a probe on μ_1..μ_d (module docstring); None where an input is missing.

    estimation : σ² (d + 1) / n; approximation : Σ_{i>d} u_i² (exact, from the coefficients);
    approximation_bound : s_{d+1}² ‖f‖²_H; target_norm_squared : ‖f − E f‖²_H;
    leverage_bound : κ² / s_d²; sample_requirement : (κ² / s_d²) log max(d, 2);
    enough_labels : n ≥ sample_requirement.
    """

    d: int
    n: int
    estimation: float | None
    approximation: float | None
    approximation_bound: float | None
    target_norm_squared: float | None
    leverage_bound: float
    sample_requirement: float
    enough_labels: bool

    @property
    def total(self) -> float | None:
        """estimation + approximation (the exact approximation term when known, else its bound)."""
        approx = self.approximation if self.approximation is not None else \
            self.approximation_bound
        if self.estimation is None or approx is None:
            return None
        return self.estimation + approx


def target_coefficients(eigenfunctions: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """(u, Var f): u_i = mean_j μ_i(x_j) (y_j − ȳ) on the sample, and the variance of y."""
    y = np.asarray(y, dtype=float)
    mu = np.asarray(eigenfunctions, dtype=float)
    if mu.ndim != 2 or y.shape != (mu.shape[0],):
        raise ParameterError("target_coefficients: eigenfunctions must be (n, D) and y (n,)")
    yc = y - y.mean()
    return mu.T @ yc / y.size, float(yc @ yc / y.size)


def bound_terms(singular_values, n: int, d: int, *, kappa: float, coefficients=None,
                target_variance: float | None = None, target_norm_squared: float | None = None,
                noise: float | None = None) -> BoundTerms:
    """The estimation and approximation terms of a probe on the top-d contexture.

    ``singular_values`` s_1 ≥ … ≥ s_D (D > d, s_0 = 1 excluded); ``coefficients`` u_1..u_D of the
    target (:func:`target_coefficients`) give the exact approximation term, and with
    ``target_variance`` (Var f) the part beyond D too: A_d = Var f − Σ_{i≤d} u_i². ``noise`` is
    σ². ‖f‖²_H is ``target_norm_squared`` or Σ_{i≤D} u_i² / s_i² (a lower estimate when the
    target has mass beyond D).
    """
    s = np.asarray(singular_values, dtype=float)
    if s.ndim != 1 or s.size < 2:
        raise ParameterError("bound_terms: give at least two singular values s_1 ≥ s_2 ≥ …")
    if isinstance(d, bool) or int(d) != d or not 1 <= d < s.size:
        raise ParameterError(f"bound_terms: d must be an integer in [1, {s.size - 1}] (s_(d+1) is "
                             f"needed), got {d!r}")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ParameterError(f"bound_terms: n must be a positive integer, got {n!r}")
    if not (kappa > 0 and math.isfinite(kappa)):
        raise ParameterError(f"bound_terms: kappa must be a positive number, got {kappa!r}")
    d, n = int(d), int(n)
    approx = None
    norm2 = target_norm_squared
    if coefficients is not None:
        u = np.asarray(coefficients, dtype=float)
        if u.shape != s.shape:
            raise ParameterError("bound_terms: one coefficient per singular value")
        approx = float(np.sum(u[d:] ** 2))
        if target_variance is not None:
            approx = float(max(0.0, target_variance - np.sum(u[:d] ** 2)))
        if norm2 is None:
            positive = s > 0
            norm2 = float(np.inf if np.any(u[~positive] != 0) else
                          np.sum(u[positive] ** 2 / s[positive] ** 2))
    bound = None if norm2 is None else float(s[d] ** 2 * norm2)
    leverage = float(kappa ** 2 / s[d - 1] ** 2) if s[d - 1] > 0 else math.inf
    requirement = leverage * math.log(max(d, 2))
    return BoundTerms(d=d, n=n, estimation=None if noise is None else float(noise) * (d + 1) / n,
                      approximation=approx, approximation_bound=bound, target_norm_squared=norm2,
                      leverage_bound=leverage, sample_requirement=requirement,
                      enough_labels=bool(n >= requirement))
