"""Robust linear probes: ERM beside group reweighting, CVaR-DRO, χ²-DRO and DORO.

A probe is a linear model f(x) = Wᵀ x̃ + b on standardised features x̃ (each column centred and
scaled by its training mean and standard deviation), fitted by minimising

    J(W, b) = R(ℓ_1, …, ℓ_n) + λ ‖W‖²_F

where ℓ_i is the loss of row i and R a *risk* of the n losses:

- regression: ℓ_i = (y_i − f(x_i))² (the caller standardises y; errors then read as a fraction
  of the target's variance);
- classification: ℓ_i = log Σ_c exp f_c(x_i) − f_{y_i}(x_i) (softmax cross-entropy; binary
  problems use two logits).

The risks (P_n the empirical distribution of the n training rows, ℓ_(1) ≥ … ≥ ℓ_(n) the losses
sorted in decreasing order):

- ``erm``: R = (1/n) Σ_i ℓ_i.
- ``reweight`` (static group reweighting, the importance weights of a uniform mixture of the G
  groups): R = Σ_i q_i ℓ_i with q_i = 1 / (G n_{g(i)}), so every group carries weight 1/G. This
  is the simplest generalised reweighting (GRW) of Zhai et al. (ICLR 2023).
- ``cvar`` (CVaR-DRO at level α): R = sup_{Q : α Q ≤ P_n} E_Q ℓ = inf_η {η + α⁻¹ E_{P_n}(ℓ − η)_+},
  the mean of the worst α share of the losses. In ranks: row (r) (0-based) occupies the mass
  interval [r/n, (r+1)/n] of the sorted losses, and R = Σ_r ℓ_(r) |[r/n, (r+1)/n] ∩ [0, α]| / α
  (a fractional weight on the row that straddles α).
- ``chi2`` (χ²-DRO with radius ρ): R = sup_{Q : D_χ²(Q‖P_n) ≤ ρ} E_Q ℓ with
  D_χ²(Q‖P) = ½ E_P (dQ/dP − 1)², whose dual is R = inf_η {C (E_{P_n}(ℓ − η)_+²)^{1/2} + η},
  C = (1 + 2ρ)^{1/2}. The DORO paper writes C = (1 + (1/α − 1)²)^{1/2} (a group of mass α is
  covered), i.e. 2ρ = (1/α − 1)²; the default ρ = 8 is its α = 0.2. The inner η is solved in
  closed form: with the k largest losses active, S_j = Σ_{top k} p_i ℓ_i^j (p_i the row masses),
  h'(η) = 0 gives u = S_1 − η S_0 = (D / (C² S_0 − 1))^{1/2}, D = S_0 S_2 − S_1², and the k whose
  η = (S_1 − u)/S_0 lies in [ℓ_(k+1), ℓ_(k)] is the minimiser (h is convex).
- ``doro`` (DORO with outlier fraction ε ∈ [0, 0.5)): R = inf {R_D(P') : P_n = (1 − ε) P' + ε P̃}
  for the base risk R_D (CVaR by default, or χ²). CVaR and χ²-DRO are monotone under first-order
  stochastic dominance, so the infimum drops the largest ε share of the losses:
  P' puts mass |[r/n, (r+1)/n] ∩ [ε, 1]| / (1 − ε) on row (r). For CVaR this gives
  R = Σ_r ℓ_(r) |[r/n, (r+1)/n] ∩ [ε, ε + α(1 − ε)]| / (α (1 − ε)).

Gradients: each risk is R = Σ_i w_i ℓ_i locally (the sorted weights above; for χ², by the
envelope theorem, w_i = C p_i (ℓ_i − η*)_+ / (E_p(ℓ − η*)_+²)^{1/2}), so ∇J = Σ_i w_i ∇ℓ_i + 2λW.
The fit runs scipy's L-BFGS-B, for ``erm`` from W = 0, b = 0 and for the other risks from ERM's
solution (at W = 0 every classification loss ties, a kink of the sorted risks where the line
search stalls): deterministic, no random draw (``erm`` and
``reweight`` on a regression target have fixed weights and a squared loss, a weighted ridge
problem solved exactly by least squares instead; with λ = 0 it gives the minimum-norm solution).
CVaR is convex
but not smooth and DORO is neither; L-BFGS then stops at a point its line search cannot improve,
which ``converged_`` and ``message_`` report.

References: R. Zhai, C. Dan, J. Z. Kolter, P. Ravikumar, "DORO: Distributional and Outlier Robust
Optimization", ICML 2021; R. Zhai, C. Dan, J. Z. Kolter, P. Ravikumar, "Understanding Why
Generalized Reweighting Does Not Improve Over ERM", ICLR 2023; J. Duchi, H. Namkoong, "Learning
Models with Uniform Performance via Distributionally Robust Optimization", Ann. Statist. 2021.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lstsq
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ParameterError

OBJECTIVES = ("erm", "reweight", "cvar", "chi2", "doro")
TASKS = ("regression", "classification")
DORO_BASES = ("cvar", "chi2")
DEFAULT_ALPHA = 0.2
DEFAULT_RHO = 8.0
DEFAULT_EPS = 0.1
DEFAULT_L2 = 1e-3


# --- the risks ----------------------------------------------------------------------------------
def _check_number(value, name: str, low: float, high: float, *, low_open: bool,
                  high_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    v = float(value)
    below = v <= low if low_open else v < low
    above = v >= high if high_open else v > high
    if not math.isfinite(v) or below or above:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ParameterError(f"{name} must be in {interval}, got {value!r}")
    return v


def check_eps(eps) -> float:
    """DORO's outlier fraction ε, in [0, 0.5)."""
    return _check_number(eps, "eps (the outlier fraction DORO discards)", 0.0, 0.5,
                         low_open=False, high_open=True)


def check_alpha(alpha) -> float:
    """CVaR's level α, in (0, 1]."""
    return _check_number(alpha, "alpha (the CVaR level)", 0.0, 1.0, low_open=True,
                         high_open=False)


def check_rho(rho) -> float:
    """χ²-DRO's radius ρ > 0."""
    return _check_number(rho, "rho (the chi-square radius)", 0.0, math.inf, low_open=True,
                         high_open=True)


def _descending(losses: np.ndarray) -> np.ndarray:
    return np.argsort(-losses, kind="stable")


def rank_mass_weights(losses: np.ndarray, start: float, length: float) -> np.ndarray:
    """w_i = |[r_i/n, (r_i+1)/n] ∩ [start, start + length]| / length, r_i the rank of ℓ_i in
    decreasing order: the weights of the sorted-mass window. Tied losses share their weights
    equally (the risk is the same for any order among them)."""
    n = losses.size
    order = _descending(losses)
    lo = np.arange(n) / n
    hi = (np.arange(n) + 1) / n
    overlap = np.clip(np.minimum(hi, start + length) - np.maximum(lo, start), 0.0, None)
    w = np.empty(n)
    w[order] = overlap / length
    # tied losses share their window weight equally (the same risk, a symmetric subgradient)
    _, tie, size = np.unique(losses, return_inverse=True, return_counts=True)
    if size.size < n:
        w = (np.bincount(tie, weights=w) / size)[tie]
    return w


def chi2_risk(losses: np.ndarray, mass: np.ndarray, rho: float) -> tuple[float, np.ndarray]:
    """(inf_η C (Σ_i p_i (ℓ_i − η)_+²)^{1/2} + η, its gradient in ℓ), C = (1 + 2ρ)^{1/2}, by the
    closed form of the module docstring; rows with p_i = 0 do not count."""
    C2 = 1.0 + 2.0 * rho
    keep = mass > 0
    idx = np.flatnonzero(keep)
    ell, p = losses[idx], mass[idx]
    order = _descending(ell)
    ls, ps = ell[order], p[order]
    S0, S1, S2 = np.cumsum(ps), np.cumsum(ps * ls), np.cumsum(ps * ls * ls)
    D = np.clip(S0 * S2 - S1 * S1, 0.0, None)
    den = C2 * S0 - 1.0
    ok = den > 0
    u = np.zeros_like(S0)
    u[ok] = np.sqrt(D[ok] / den[ok])
    eta = (S1 - u) / S0
    nxt = np.append(ls[1:], -np.inf)
    scale = max(1.0, float(np.max(np.abs(ls))))
    tol = 1e-12 * scale
    valid = ok & (eta <= ls + tol) & (eta >= nxt - tol)
    candidates = list(eta[valid]) + [float(ls[0])]

    def h(e: float) -> float:
        return math.sqrt(C2) * math.sqrt(float(np.sum(ps * np.clip(ls - e, 0.0, None) ** 2))) + e

    values = [h(e) for e in candidates]
    best = int(np.argmin(values))
    eta_star = float(candidates[best])
    excess = np.clip(ell - eta_star, 0.0, None)
    m = float(np.sum(p * excess * excess))
    grad = np.zeros_like(losses)
    if m > 0:
        grad[idx] = math.sqrt(C2) * p * excess / math.sqrt(m)
    else:  # η* at the largest loss: a subgradient spreads the weight over the rows that tie it
        top = ell == ls[0]
        grad[idx[top]] = p[top] / p[top].sum()
    return float(values[best]), grad


def risk(losses, objective: str, *, groups=None, alpha: float = DEFAULT_ALPHA,
         rho: float = DEFAULT_RHO, eps: float = DEFAULT_EPS,
         doro_base: str = "cvar") -> tuple[float, np.ndarray]:
    """R(ℓ) and w = ∂R/∂ℓ for one of :data:`OBJECTIVES` (the module docstring's formulas).

    ``groups`` (one label per row) is needed by ``reweight`` only.
    """
    ell = np.asarray(losses, dtype=np.float64).ravel()
    n = ell.size
    if n == 0:
        raise ParameterError("a risk needs at least one loss")
    if objective == "erm":
        w = np.full(n, 1.0 / n)
    elif objective == "reweight":
        if groups is None:
            raise ParameterError("reweight needs a group label for every row")
        g = np.asarray(groups)
        if g.shape[0] != n:
            raise ParameterError(f"groups has {g.shape[0]} labels for {n} rows")
        _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
        w = 1.0 / (counts.size * counts[inverse])
    elif objective == "cvar":
        w = rank_mass_weights(ell, 0.0, check_alpha(alpha))
    elif objective == "chi2":
        return chi2_risk(ell, np.full(n, 1.0 / n), check_rho(rho))
    elif objective == "doro":
        e = check_eps(eps)
        if doro_base == "cvar":
            a = check_alpha(alpha)
            w = rank_mass_weights(ell, e, a * (1.0 - e))
        elif doro_base == "chi2":
            return chi2_risk(ell, rank_mass_weights(ell, e, 1.0 - e), check_rho(rho))
        else:
            raise ParameterError(f"doro_base must be one of {', '.join(DORO_BASES)}, "
                                 f"got {doro_base!r}")
    else:
        raise ParameterError(f"objective must be one of {', '.join(OBJECTIVES)}, "
                             f"got {objective!r}")
    return float(w @ ell), w


# --- the probe ----------------------------------------------------------------------------------
class RobustProbe(BaseEstimator):
    """A linear probe fitted with one of the risks of the module docstring.

    Parameters
    ----------
    objective : ``erm``, ``reweight``, ``cvar``, ``chi2`` or ``doro``.
    task : ``regression`` (squared loss) or ``classification`` (softmax cross-entropy).
    alpha : CVaR level α ∈ (0, 1] (``cvar``, and ``doro`` on CVaR).
    rho : χ² radius ρ > 0 (``chi2``, and ``doro`` on χ²).
    eps : DORO's outlier fraction ε ∈ [0, 0.5).
    doro_base : ``cvar`` (default) or ``chi2``, the risk DORO makes outlier-robust.
    l2 : λ ≥ 0, the penalty λ‖W‖² on the weights of the standardised features.
    max_iter, tol : L-BFGS-B's iteration cap and gradient tolerance.
    warm_start : start the iterative risks from ERM's solution (default) or from zero.

    Attributes
    ----------
    coef_ : (D, K) weights on the standardised features (K = 1 for regression, C classes).
    intercept_ : (K,). classes_ : the training classes (classification). mean_, scale_ : the
    feature standardisation. objective_value_ : J at the solution. n_iter_, converged_,
    message_ : the optimiser's report.
    """

    def __init__(self, objective: str = "erm", task: str = "regression",
                 alpha: float = DEFAULT_ALPHA, rho: float = DEFAULT_RHO,
                 eps: float = DEFAULT_EPS, doro_base: str = "cvar", l2: float = DEFAULT_L2,
                 max_iter: int = 1000, tol: float = 1e-8, warm_start: bool = True):
        self.objective = objective
        self.task = task
        self.alpha = alpha
        self.rho = rho
        self.eps = eps
        self.doro_base = doro_base
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def _check_params(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ParameterError(f"objective must be one of {', '.join(OBJECTIVES)}, "
                                 f"got {self.objective!r}")
        if self.task not in TASKS:
            raise ParameterError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.doro_base not in DORO_BASES:
            raise ParameterError(f"doro_base must be one of {', '.join(DORO_BASES)}, "
                                 f"got {self.doro_base!r}")
        check_alpha(self.alpha)
        check_rho(self.rho)
        check_eps(self.eps)
        _check_number(self.l2, "l2", 0.0, math.inf, low_open=False, high_open=True)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) \
                or self.max_iter < 1:
            raise ParameterError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        _check_number(self.tol, "tol", 0.0, math.inf, low_open=True, high_open=True)

    # the pieces of J, shared by fit and objective_at
    def _targets(self, y) -> np.ndarray:
        y = np.asarray(y)
        if self.task == "regression":
            y = np.asarray(y, dtype=np.float64).ravel()
            if not np.all(np.isfinite(y)):
                raise ParameterError("the regression target has NaN or infinite values")
            return y
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, self.classes_.size - 1)
        if not np.all(self.classes_[idx] == y):
            raise ParameterError("labels outside the training classes")
        return idx

    def _losses(self, Z: np.ndarray, t: np.ndarray):
        """(ℓ, ∂ℓ_i/∂f_i) for the outputs Z (n × K)."""
        if self.task == "regression":
            r = Z[:, 0] - t
            return r * r, (2.0 * r)[:, None]
        lse = logsumexp(Z, axis=1)
        ell = lse - Z[np.arange(Z.shape[0]), t]
        G = softmax(Z, axis=1)
        G[np.arange(Z.shape[0]), t] -= 1.0
        return ell, G

    def _risk(self, ell: np.ndarray, groups):
        return risk(ell, self.objective, groups=groups, alpha=self.alpha, rho=self.rho,
                    eps=self.eps, doro_base=self.doro_base)

    def _standardise(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.mean_.size:
            raise ParameterError(f"X must have {self.mean_.size} columns, got shape {X.shape}")
        return (X - self.mean_) / self.scale_

    def fit(self, X, y, groups=None) -> RobustProbe:
        """Fit W, b by L-BFGS-B from zero (``groups``: one label per row, for ``reweight``)."""
        self._check_params()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ParameterError(f"X must be a 2-D array with at least 2 rows, got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ParameterError("X has NaN or infinite values")
        n, D = X.shape
        if np.asarray(y).shape[0] != n:
            raise ParameterError(f"y has {np.asarray(y).shape[0]} rows, X has {n}")
        if self.objective == "reweight" and groups is None:
            raise ParameterError("the reweight probe needs a group label for every row")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        if self.task == "classification":
            self.classes_ = np.unique(np.asarray(y))
            if self.classes_.size < 2:
                raise ParameterError("classification needs at least two classes")
            K = int(self.classes_.size)
        else:
            self.classes_ = None
            K = 1
        t = self._targets(y)
        Xs = (X - self.mean_) / self.scale_
        lam = float(self.l2)

        def fun(theta: np.ndarray):
            W = theta[:D * K].reshape(D, K)
            b = theta[D * K:]
            Z = Xs @ W + b
            ell, G = self._losses(Z, t)
            value, w = self._risk(ell, groups)
            Gw = G * w[:, None]
            gW = Xs.T @ Gw + 2.0 * lam * W
            return value + lam * float(np.sum(W * W)), np.concatenate([gW.ravel(),
                                                                        Gw.sum(axis=0)])

        if self.task == "regression" and self.objective in ("erm", "reweight"):
            # fixed weights q and a squared loss: the weighted ridge problem, solved exactly
            _, q = self._risk(np.zeros(n), groups)
            xq, yq = q @ Xs, float(q @ t)
            root = np.sqrt(q)[:, None]
            A = np.vstack([root * (Xs - xq), math.sqrt(lam) * np.eye(D)])
            rhs = np.concatenate([root[:, 0] * (t - yq), np.zeros(D)])
            W = lstsq(A, rhs)[0].reshape(D, 1)
            theta = np.concatenate([W.ravel(), [yq - float(xq @ W[:, 0])]])
            value = fun(theta)[0]
            self.n_iter_, self.converged_, self.message_ = 0, True, "weighted least squares"
        else:
            start = np.zeros(D * K + K)
            if self.objective != "erm" and self.warm_start:
                erm = clone(self).set_params(objective="erm").fit(X, y)
                start = np.concatenate([erm.coef_.ravel(), erm.intercept_])
            res = minimize(fun, start, jac=True, method="L-BFGS-B",
                           options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-12,
                                    "maxcor": 20})
            theta, value = res.x, float(res.fun)
            self.n_iter_ = int(res.nit)
            self.converged_ = bool(res.success)
            self.message_ = str(res.message)
        self.coef_ = theta[:D * K].reshape(D, K)
        self.intercept_ = theta[D * K:]
        self.objective_value_ = float(value)
        self.n_features_in_ = D
        return self

    def decision_function(self, X) -> np.ndarray:
        """f(x): (n,) for regression, (n, C) logits for classification."""
        check_is_fitted(self, "coef_")
        Z = self._standardise(X) @ self.coef_ + self.intercept_
        return Z[:, 0] if self.task == "regression" else Z

    def predict(self, X) -> np.ndarray:
        """The fitted value (regression) or the class of the largest logit."""
        Z = self.decision_function(X)
        return Z if self.task == "regression" else self.classes_[np.argmax(Z, axis=1)]

    def objective_at(self, X, y, groups=None) -> float:
        """J(W, b) of the fitted parameters on (X, y): R(ℓ) + λ‖W‖²."""
        Z = self.decision_function(X)
        Z = Z[:, None] if Z.ndim == 1 else Z
        ell, _ = self._losses(Z, self._targets(y))
        value, _ = self._risk(ell, groups)
        return value + float(self.l2) * float(np.sum(self.coef_ ** 2))


# --- group errors -------------------------------------------------------------------------------
def group_errors(y_true, y_pred, groups, task: str) -> dict:
    """Per-group test error, their average over rows and the worst group's.

    Error: mean squared error (regression, of the standardised target when y is standardised)
    or misclassification rate (classification). Returns ``{"average_error", "worst_group_error",
    "per_group": {group: error}}`` with groups in sorted order.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    g = np.asarray(groups).astype(str)
    if task == "regression":
        err = (np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)) ** 2
    else:
        err = (y_true != y_pred).astype(float)
    per = {str(name): float(err[g == name].mean()) for name in np.unique(g)}
    return {"average_error": float(err.mean()), "worst_group_error": max(per.values()),
            "per_group": per}
