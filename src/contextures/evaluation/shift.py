"""How far a fitted contexture's features move when the inputs come from another distribution.

A :class:`~contextures.spectral.Contexture` fitted on rows from the pretraining distribution P
returns the resolved singular functions μ = (μ_{i_1}, …, μ_{i_d}) (``transform``; d =
``n_components_resolved_``). On the fitted rows they are orthonormal with mean zero:
E_P[μ] = 0 and E_P[μ μᵀ] = I_d. Given rows x'_1..x'_m from a target distribution Q (no labels),
:func:`shift_diagnostic` reports, with Q and P the empirical distributions of the rows given:

1. **Covariance under Q.** m_Q = E_Q[μ] and Σ_Q = E_Q[(μ − m_Q)(μ − m_Q)ᵀ] (divisor m, as for
   the unit variance under P), its eigenvalues λ_1 ≥ … ≥ λ_d and condition number
   κ = λ_1 / λ_d (∞ when λ_d ≤ 0). Σ_Q = I_d and κ = 1 when Q = P. If Q reweights P's rows,
   dQ/dP = w (E_P w = 1), then m_Q = E_P[w μ] and Σ_Q = E_P[w μ μᵀ] − m_Q m_Qᵀ.
2. **Variation captured.** The share of the target rows' input variation that a linear read-out
   of the features recovers: with X_c, F_c the centred inputs and features on Q's rows,

       captured_Q = 1 − min_B ‖X_c − F_c B‖²_F / ‖X_c‖²_F,

   the R² of regressing every input column on the d features (least squares). The same number on
   P's rows, captured_P, is the reference: captured_Q < captured_P means the features describe the
   target population less well than the one they were fitted on.
3. **Spectrum refitted on Q.** A copy of the estimator (same context, d₀, solver, seed) is fitted
   on Q's rows, giving s^Q_1..s^Q_{d₀} beside P's s^P, and its resolved functions μ^Q. The top-k
   spaces, k = min(d_P, d_Q) (the first k resolved columns of each), are compared on the union of
   the rows, U = (rows of P) ∪ (rows of Q), each row with mass 1/|U|: both fits are evaluated on U
   by their extensions (a fitted row gets its fitted value), A = μ^P_{1..k}(U), B = μ^Q_{1..k}(U),
   each column centred on U (a probe's intercept absorbs constants), and the principal angles
   0 ≤ θ_1 ≤ … ≤ θ_k ≤ π/2 between span(A_c) and span(B_c) in L²(U) are

       cos θ_j = σ_j(Q_Aᵀ Q_B),     Q_A, Q_B orthonormal bases of span(A_c), span(B_c)

   (:func:`scipy.linalg.subspace_angles`, in radians). θ = 0 means the same k-dimensional space
   of functions on U; θ_j = π/2 a direction of one space orthogonal to the other. When Q's rows
   are P's rows, the refit is the same computation, A = B and every θ_j = 0.

The union is where both families of functions are defined by the data they were fitted on (P's
rows for μ^P, Q's rows for μ^Q) plus the other family's rows, where each is an extension; angles
measured on P's rows only (or Q's only) would compare one fit with the extension of the other
alone.

**Sampling baseline.** A refit moves for two reasons: Q differs from P, and Q's rows are another
finite sample (of another size: a KNN context with the same k on fewer rows is a weaker
association). ``baseline=True`` also refits on a seeded subsample of P's own rows of Q's size,
min(m, n_P), and reports its angles with P's fit (``baseline_angles``) and its spectrum
(``singular_values_baseline``): the angles a shift-free sample of that size already shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lstsq, subspace_angles
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ParameterError


@dataclass(frozen=True)
class ShiftDiagnostic:
    """The result of :func:`shift_diagnostic` (module docstring for every formula).

    mean, covariance : m_Q (d,) and Σ_Q (d, d) of the resolved features under Q.
    covariance_eigenvalues : λ_1 ≥ … ≥ λ_d of Σ_Q. condition_number : λ_1 / λ_d.
    captured_target, captured_source : the input variation the features capture on Q's and on
        P's rows.
    singular_values_source, singular_values_target : s^P and s^Q (all d₀ exact values each).
    principal_angles : θ_1 ≤ … ≤ θ_k (radians) between the top-k resolved spaces on the union.
    baseline_angles, singular_values_baseline : the same for a refit on a subsample of P of
        Q's size (``baseline=True``).
    n_source, n_target : rows of P and Q; n_resolved_source, n_resolved_target : d_P, d_Q.
    """

    mean: np.ndarray
    covariance: np.ndarray
    covariance_eigenvalues: np.ndarray
    condition_number: float
    captured_target: float
    captured_source: float
    singular_values_source: np.ndarray
    singular_values_target: np.ndarray | None
    principal_angles: np.ndarray | None
    n_source: int
    n_target: int
    n_resolved_source: int
    n_resolved_target: int | None
    baseline_angles: np.ndarray | None = None
    singular_values_baseline: np.ndarray | None = None

    def record(self) -> dict:
        """The JSON fields of ``contextures shift`` (eigenvalues, κ, angles) and the others."""
        def floats(a):
            return None if a is None else [float(v) for v in np.asarray(a)]

        kappa = self.condition_number
        return {"covariance_eigenvalues": floats(self.covariance_eigenvalues),
                "condition_number": kappa if math.isfinite(kappa) else None,
                "principal_angles": floats(self.principal_angles),
                "captured_target": self.captured_target,
                "captured_source": self.captured_source,
                "singular_values_source": floats(self.singular_values_source),
                "singular_values_target": floats(self.singular_values_target),
                "mean_norm": float(np.linalg.norm(self.mean)),
                "n_source": self.n_source, "n_target": self.n_target,
                "n_resolved_source": self.n_resolved_source,
                "n_resolved_target": self.n_resolved_target,
                "baseline_angles": floats(self.baseline_angles),
                "singular_values_baseline": floats(self.singular_values_baseline)}


def feature_covariance(F) -> tuple[np.ndarray, np.ndarray]:
    """(m, Σ): the mean and the covariance (divisor n) of the rows of F."""
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2 or F.shape[0] == 0:
        raise ParameterError(f"features must be a non-empty 2-D array, got shape {F.shape}")
    mean = F.mean(axis=0)
    Fc = F - mean
    return mean, (Fc.T @ Fc) / F.shape[0]


def condition_number(eigenvalues) -> float:
    """λ_max / λ_min of a covariance's eigenvalues (∞ when λ_min ≤ 0, NaN when there are none)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.size == 0:
        return math.nan
    low, high = float(lam.min()), float(lam.max())
    return high / low if low > 0 else math.inf


def captured_variation(F, X) -> float:
    """1 − min_B ‖X_c − F_c B‖²_F / ‖X_c‖²_F: the R² of the inputs X on the features F."""
    F = np.asarray(F, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    total = float(np.sum(Xc * Xc))
    if total == 0:
        return math.nan
    if F.shape[1] == 0:
        return 0.0
    Fc = F - F.mean(axis=0)
    B, *_ = lstsq(Fc, Xc)
    resid = Xc - Fc @ B
    return 1.0 - float(np.sum(resid * resid)) / total


def principal_angles(A, B) -> np.ndarray:
    """θ_1 ≤ … ≤ θ_k (radians) between the column spaces of A and B centred on their rows
    (k = the smaller number of columns; both evaluated on the same rows, uniform mass)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise ParameterError(f"principal angles need two matrices on the same rows, got shapes "
                             f"{A.shape} and {B.shape}")
    if A.shape[1] == 0 or B.shape[1] == 0:
        return np.zeros(0)
    theta = subspace_angles(A - A.mean(axis=0), B - B.mean(axis=0))
    return np.sort(np.clip(theta, 0.0, math.pi / 2))


def _refit_angles(model, X_source, X_rows, y_rows):
    """(spectrum, resolved count, angles on the union) of a copy of ``model`` fitted on X_rows."""
    other = clone(model).fit(X_rows, y_rows)
    n_res = int(other.n_components_resolved_)
    k = min(int(model.n_components_resolved_), n_res)
    union = np.vstack([X_source, X_rows])
    angles = principal_angles(model.transform(union)[:, :k], other.transform(union)[:, :k])
    return np.asarray(other.singular_values_, dtype=np.float64), n_res, angles


def shift_diagnostic(model, X_source, X_target, *, refit: bool = True, y_target=None,
                     baseline: bool = False, random_state: int = 0) -> ShiftDiagnostic:
    """The shift diagnostic of a fitted contexture from P (``X_source``, the rows it was fitted
    on) to Q (``X_target``), module docstring.

    ``refit=False`` skips the refit on Q (no spectrum of Q, no angles). ``y_target`` is passed
    to the refit for contexts that need labels (the baseline refit then has no labels, so it is
    only for unsupervised contexts). ``baseline=True`` adds the sampling baseline (a subsample of
    P's rows of Q's size, drawn with ``random_state``).
    """
    check_is_fitted(model, "components_resolved_")
    X_source = np.asarray(X_source, dtype=np.float64)
    X_target = np.asarray(X_target, dtype=np.float64)
    if X_target.ndim != 2 or X_target.shape[0] < 2:
        raise ParameterError(f"the target needs at least 2 rows, got shape {X_target.shape}")
    F_target = model.transform(X_target)
    F_source = model.transform(X_source)
    mean, cov = feature_covariance(F_target)
    lam = np.sort(np.linalg.eigvalsh(cov))[::-1] if cov.size else np.zeros(0)
    s_target = angles = n_res_target = s_base = base_angles = None
    if refit:
        s_target, n_res_target, angles = _refit_angles(model, X_source, X_target, y_target)
    if baseline:
        n = X_source.shape[0]
        m = min(X_target.shape[0], n)
        rows = np.sort(np.random.default_rng(random_state).choice(n, size=m, replace=False))
        s_base, _, base_angles = _refit_angles(model, X_source, X_source[rows], None)
    return ShiftDiagnostic(
        mean=mean, covariance=cov, covariance_eigenvalues=lam,
        condition_number=condition_number(lam),
        captured_target=captured_variation(F_target, X_target),
        captured_source=captured_variation(F_source, X_source),
        singular_values_source=np.asarray(model.singular_values_, dtype=np.float64),
        singular_values_target=s_target, principal_angles=angles,
        n_source=int(X_source.shape[0]), n_target=int(X_target.shape[0]),
        n_resolved_source=int(model.n_components_resolved_),
        n_resolved_target=n_res_target, baseline_angles=base_angles,
        singular_values_baseline=s_base)
