"""The τ metric of [ICML §5]: score a context from its singular values alone.

For singular values s_1 ≥ s_2 ≥ … (s_0 = 1 excluded), β > 0 and a cut-off d₀,

    τ_d = 1 / (1 − s²_{d+1}) + β · (Σ_{i=1}^{d} s_i²) / (Σ_{i=1}^{d₀} s_i²),   d = 1, …, d₀ − 1,
    τ   = min_d τ_d,      d̂ = argmin_d τ_d (the predicted dimension).

The first term is the price of what the top-d space leaves out (it is large when s_{d+1} is close
to 1: strong association), the second the share of the spectrum kept (a proxy for the estimation
cost of d dimensions). The denominator runs to d₀ only, so τ needs exactly s_1..s_{d₀}; values
beyond d₀ are ignored. When s_{d+1} = 1, τ_d = +∞.

Abstention. τ_d ≥ 1 + β·s_1²/Σ_{i≤d₀} s_i², and when s_{d₀} ≈ 0 also τ ≤ τ_{d₀−1} < 1 + β: τ close
to β + 1 means either a spectrum dominated by s_1 (very weak association) or one that stays near 1
(very strong association; then τ can exceed β + 1). In both cases the metric does not rank
reliably, so :func:`tau` sets ``abstain`` when

    τ ≥ (1 − tol) · (β + 1)          (tol = 0.05 by default: τ ≥ 1.9 for β = 1),

i.e. when τ is within ``tol`` (relative) of β + 1 or above it, and also when every τ_d is infinite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ParameterError
from ..validation import check_int, check_positive, check_spectrum

ABSTAIN_TOL = 0.05
"""Default relative tolerance of the abstention rule τ ≥ (1 − tol)(β + 1)."""


@dataclass(frozen=True)
class TauResult:
    """What :func:`tau` computes.

    Attributes
    ----------
    tau : min_d τ_d (``inf`` when every τ_d is infinite).
    d : the minimising d (1-based), the predicted dimension; the smallest one on ties.
    curve : τ_d for d = 1, …, d₀ − 1 (``curve[d - 1]`` is τ_d).
    abstain : True when τ ≥ (1 − tol)(β + 1) or τ is infinite: extreme association.
    beta, d0, tol : the parameters used.
    """

    tau: float
    d: int
    curve: np.ndarray
    abstain: bool
    beta: float
    d0: int
    tol: float = ABSTAIN_TOL

    @property
    def dims(self) -> np.ndarray:
        """The d of each curve entry: 1, …, d₀ − 1."""
        return np.arange(1, self.d0)


def tau_curve(singular_values, beta: float = 1.0, d0: int = 512) -> np.ndarray:
    """τ_d for d = 1, …, d₀ − 1 (see the module docstring); validates like :func:`tau`."""
    beta = check_positive(beta, "beta")
    s = check_spectrum(singular_values)
    d0 = check_int(d0, "d0", low=2)
    if s.size < d0:
        raise ParameterError(
            f"tau needs d0 = {d0} singular values (s_1..s_{d0}, s_0 = 1 excluded), got {s.size}; "
            f"compute more components or lower d0"
        )
    sq = s[:d0] ** 2
    total = sq.sum()
    if total <= 0:
        raise ParameterError("tau is undefined for an all-zero spectrum (Σ s_i² = 0 up to d0)")
    kept = np.cumsum(sq)[: d0 - 1] / total
    gap = 1.0 - sq[1:d0]  # 1 − s²_{d+1} for d = 1..d0−1
    with np.errstate(divide="ignore"):
        first = np.where(gap > 0, 1.0 / np.where(gap > 0, gap, 1.0), np.inf)
    return first + beta * kept


def tau(singular_values, beta: float = 1.0, d0: int = 512, tol: float = ABSTAIN_TOL) -> TauResult:
    """The τ metric of a spectrum; see the module docstring for the formula and abstention.

    Parameters
    ----------
    singular_values : array (K,)
        s_1, …, s_K, non-increasing, in [0, 1] (tolerance 1e-9; tiny excess is clipped), s_0 = 1
        excluded. Needs K ≥ d₀; only the first d₀ are used.
    beta : float > 0
        Weight of the kept-spectrum term (the paper uses 1).
    d0 : int ≥ 2
        Cut-off of the denominator; d ranges over 1..d₀ − 1 (the paper uses 512).
    tol : float in [0, 1)
        Relative tolerance of the abstention rule τ ≥ (1 − tol)(β + 1).
    """
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.integer | np.floating) \
            or not (0 <= float(tol) < 1):
        raise ParameterError(f"tol must be a number in [0, 1), got {tol!r}")
    curve = tau_curve(singular_values, beta=beta, d0=d0)
    beta = float(beta)
    idx = int(np.argmin(curve))
    value = float(curve[idx])
    abstain = (not np.isfinite(value)) or value >= (1.0 - float(tol)) * (beta + 1.0)
    return TauResult(tau=value, d=idx + 1, curve=curve, abstain=bool(abstain), beta=beta,
                     d0=int(d0), tol=float(tol))
