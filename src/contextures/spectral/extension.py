"""The out-of-sample extension, and which of its components the sample resolves.

**The extension (Nyström form).** For a context whose transition rows p(x) = P⁺(· | x) can be
computed at a new point against the fitted context values (KNN, RBF, masked and Monte-Carlo
contexts), the singular function μ_i extends off the sample as

    μ_i(x) = s_i⁻¹ Σ_a P⁺(a | x) ν_i(a) = p(x) · W[:, i],     W = D_c^{-1/2} V S⁻¹,

with V the right singular vectors of Q = D_π^{1/2} P D_c^{-1/2}. Because p(x) is a probability
vector, μ_i(x) is a convex combination of the entries of W[:, i], and a continuous function of x
wherever p is (everywhere for RBF; for KNN, everywhere but on the ties of the neighbour order).

**Why it needs a check.** The finite-sample μ̂_i estimates the population μ_i only when its
singular value is separated from the rest: by perturbation bounds of the Davis–Kahan type the
error of an eigenfunction estimate grows like ‖M̂ − M‖ / gap_i with ‖M̂ − M‖ = O(n^{-1/2}), and
the factor s_i⁻¹ amplifies whatever the sample did not resolve. On the fitted rows the identity
μ̂_i = P Ŵ[:, i] holds exactly for every component, resolved or not (it is the eigen-equation),
so an unresolved component looks perfect in sample and blows up on new rows (variances of
10²–10⁵ on held-out rows were measured for weak RBF contexts).

**The check (cross-fitting).** Whether a component survives new rows is measured directly, on
rows the fit did not see: split the fitted rows into K folds; for each fold, refit the same
context on the other K − 1 folds, extend the refit's components to the held-out fold, and
predict the full fit's μ̂_i on those rows by the least-squares combination of the refit's
components that reproduces μ̂_i on the refit's own rows (a combination, not one matched column,
so that components inside a cluster of nearly equal singular values, which the refit may rotate,
are judged by their span). Over all held-out rows,

    R²_i = 1 − mean((μ̃_i − μ̂_i)²) / var(μ̂_i),      ρ_i = var(μ̃_i) / var(μ̂_i),

with μ̃_i the held-out prediction. Rows with identical features are kept in one fold, so that a
held-out row is never predicted from its own duplicate. A component is *resolved* when R²_i ≥ ``min_r2`` (0.5) and
ρ_i ∈ ``variance_range`` ([1/2, 2]): the extension fitted without a row predicts the fitted value
at that row, with the right scale. The refits use (K − 1)/K of the rows, fewer than the full fit,
so the check errs on the side of dropping. Above ``max_rows`` rows it runs on a seeded subsample
of that many rows (cheaper; more conservative still). The thresholds were chosen on three tables
(abalone, diabetes, cmc) and are reported on the others by ``contextures bench extension``.

**Numerically.** The extension of a fitted row differs from the fitted value by the solver's
residual divided by s_i²: p(x_j) · W[:, i] = μ̂_i(x_j) + (D_π^{-1/2} r_i)_j / s_i² with
r_i = M u_i − s_i² u_i. A component whose ‖r_i‖ / s_i² exceeds ``MAX_REPRODUCTION_ERROR`` (1e-2)
is not counted as resolved whatever the held-out check says (a smaller ``tol`` resolves more).

**Support.** A component whose variance sits on a handful of rows (an outlier, a small cluster)
is a fact about those rows, not an estimate of anything: a new sample sees its support rarely,
and its variance there is close to 0 or far above 1. The effective support of μ̂_i (unit
variance on n rows) is n / mean_j μ̂_i(x_j)⁴, the number of rows that carry its variance (n for a
function of constant magnitude, 1 for a spike on one row). Components with an effective support
below ``MIN_SUPPORT`` (20 rows) are not counted as resolved.

**Range.** Far from every fitted row, p(x) concentrates on the nearest context values and the
extension takes the values of W there, which no fitted row vouches for. The stable extension
clips each component to the range it takes on the fitted rows, [min_j μ̂_i(x_j), max_j μ̂_i(x_j)]:
a continuous map that leaves every point inside the sample's range unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..exceptions import ContexturesError, ParameterError

DEFAULT_FOLDS = 5
DEFAULT_MAX_ROWS = 4000
DEFAULT_MIN_R2 = 0.5
DEFAULT_VARIANCE_RANGE = (0.5, 2.0)
MIN_FOLD_ROWS = 4
MAX_REPRODUCTION_ERROR = 1e-2
MIN_SUPPORT = 20.0

# refit(rows) -> (in-sample eigenfunctions on X[rows] (m × d'), extend(X_new) -> (n_new × d'))
Refit = Callable[[np.ndarray], tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]]


@dataclass
class ResolutionCheck:
    """Which components the sample resolves (see the module docstring).

    resolved : (d,) bool; heldout_r2 : (d,) R²_i; variance_ratio : (d,) ρ_i;
    folds, rows : the folds and the number of rows the check used; note : one line for reports.
    """

    resolved: np.ndarray
    heldout_r2: np.ndarray
    variance_ratio: np.ndarray
    folds: int
    rows: int
    note: str

    @property
    def n_resolved(self) -> int:
        return int(np.count_nonzero(self.resolved))


def has_extension(context, X: np.ndarray) -> bool:
    """Whether the fitted context has transition rows for new points (labels and graphs do not)."""
    try:
        context.transition(X[:1])
    except ParameterError:
        return False
    return True


def extend(context, X_new: np.ndarray, W: np.ndarray) -> np.ndarray:
    """μ(x) = p(x) · W for every row of ``X_new`` (the Nyström form)."""
    return np.asarray(context.transition(X_new) @ W)


def reproduces_fit(residuals: np.ndarray, singular_values: np.ndarray,
                   limit: float = MAX_REPRODUCTION_ERROR) -> np.ndarray:
    """(d,) bool: ‖r_i‖ / s_i² ≤ limit, i.e. the extension reproduces μ̂_i on the fitted rows."""
    s2 = np.asarray(singular_values, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(s2 > 0, np.asarray(residuals, dtype=float) / s2, np.inf)
    return np.isfinite(error) & (error <= limit)


def _least_squares(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """argmin_B ‖A B − Y‖ by the normal equations (A's columns are an intercept and orthonormal
    eigenfunctions, so AᵀA is well conditioned); a relative ridge of 1e-10 guards a rank-deficient
    A. Far cheaper than an SVD-based solver for the n × (d + 1) systems of the check."""
    G = A.T @ A
    G[np.diag_indices_from(G)] += 1e-10 * max(float(np.trace(G)) / G.shape[0], 1e-300)
    return scipy.linalg.solve(G, A.T @ Y, assume_a="pos")


def effective_support(mu: np.ndarray) -> np.ndarray:
    """(d,) n / mean(μ_i⁴) for unit-variance columns: how many rows carry each column's variance."""
    mu = np.asarray(mu, dtype=float)
    centred = mu - mu.mean(axis=0)
    var = np.maximum((centred ** 2).mean(axis=0), np.finfo(float).tiny)
    kurtosis = (centred ** 4).mean(axis=0) / var ** 2
    return mu.shape[0] / np.maximum(kurtosis, 1.0)


def check_resolution(refit: Refit, X: np.ndarray, mu: np.ndarray, *, folds: int = DEFAULT_FOLDS,
                     max_rows: int = DEFAULT_MAX_ROWS, min_r2: float = DEFAULT_MIN_R2,
                     variance_range: tuple[float, float] = DEFAULT_VARIANCE_RANGE,
                     random_state: int = 0) -> ResolutionCheck:
    """Cross-fitted held-out R²_i and variance ratio ρ_i of every column of ``mu`` (n × d).

    ``refit(rows)`` fits the same context on ``X[rows]`` and returns its in-sample eigenfunctions
    and a function extending them to new rows. Rows are weighted equally (π is uniform for every
    context that has an extension).
    """
    n, d = mu.shape
    rng = np.random.default_rng(random_state)
    rows = np.arange(n) if n <= max_rows else np.sort(rng.choice(n, size=max_rows, replace=False))
    m = rows.size
    k = min(int(folds), m // MIN_FOLD_ROWS)
    if k < 2:
        return ResolutionCheck(np.zeros(d, bool), np.full(d, np.nan), np.full(d, np.nan), 0, m,
                               f"too few rows ({n}) to check the extension on held-out rows; "
                               "no component is counted as resolved")
    # rows with identical features fall in the same fold: a held-out row must not have its
    # duplicate among the refit's rows (it would be predicted from itself)
    _, group = np.unique(X[rows], axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    fold_of = (rng.permutation(int(group.max()) + 1) % k)[group]
    if np.unique(fold_of).size < k:
        return ResolutionCheck(np.zeros(d, bool), np.full(d, np.nan), np.full(d, np.nan), k, m,
                               f"the {m} rows have too few distinct values to hold any out; "
                               "no component is counted as resolved")
    target = mu[rows]
    pred = np.empty_like(target)
    for f in range(k):
        inside, outside = rows[fold_of != f], rows[fold_of == f]
        try:
            Z_in, extend_fn = refit(inside)
        except ContexturesError as exc:
            return ResolutionCheck(np.zeros(d, bool), np.full(d, np.nan), np.full(d, np.nan), k,
                                   m, f"the context cannot be refitted on {inside.size} of the "
                                   f"{m} rows to check its extension ({exc}); no component is "
                                   "counted as resolved")
        Z_out = extend_fn(X[outside])
        A_in = np.hstack([np.ones((inside.size, 1)), Z_in])
        beta = _least_squares(A_in, mu[inside])
        pred[fold_of == f] = np.hstack([np.ones((outside.size, 1)), Z_out]) @ beta
    var = np.maximum(target.var(axis=0), np.finfo(float).tiny)
    r2 = 1.0 - ((pred - target) ** 2).mean(axis=0) / var
    ratio = pred.var(axis=0) / var
    lo, hi = variance_range
    resolved = np.isfinite(r2) & (r2 >= min_r2) & (ratio >= lo) & (ratio <= hi)
    where = f"{m} of {n} rows" if m < n else f"{n} rows"
    note = (f"extension checked on held-out rows ({k}-fold cross-fit on {where}): "
            f"{int(resolved.sum())} of {d} components resolved (held-out R² ≥ {min_r2:g}, "
            f"variance ratio in [{lo:g}, {hi:g}])")
    return ResolutionCheck(resolved, r2, ratio, k, m, note)
