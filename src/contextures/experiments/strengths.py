"""Strength grids of the correlation study: N strengths per family, from very weak to very strong.

The correlation study of [ICML §5.3] (docs/theory.md §12) scores 4 families × N strengths (N = 35 in the
paper): KNN, RBF and their masked variants (20% of the features hidden, 50 masks). Every grid is
returned as context spec strings (contexts are data), **ordered from the weakest association to
the strongest**.

KNN, ``knn(k=…)``
    k takes N distinct integers, log-spaced from ``k_weak`` (default n_fit / 4: each point spreads
    over a quarter of the sample, a weak context) down to 1 (the single nearest neighbour, the
    strongest). Rounding makes duplicates at the low end; they are bumped to consecutive integers
    (1, 2, 3, …), so the grid is strictly monotone. ``k_weak`` is raised to N when it is smaller
    (N distinct values must exist) and may not exceed n_fit − 1.

RBF, ``rbf(gamma=…)``
    γ = γ_med · f with γ_med = 1 / median_{i<j} ‖x_i − x_j‖² (the median heuristic) and N factors
    f log-spaced from ``f_weak`` = 0.1 to

        f_strong = ``strong_scale`` · median_{i<j} ‖x_i − x_j‖² / median_i min_{j: x_j ≠ x_i} ‖x_i − x_j‖²

    (``strong_scale`` = 3), i.e. the strongest γ is 3 / (the typical squared distance to the
    nearest distinct point): a point's nearest neighbour then weighs e^{-3} ≈ 5% of itself and
    P⁺ is close to the identity. How this range was chosen, on real spectra (n = 1000 pretrain
    rows, d₀ = 512): at f = 0.1 every dataset tried (abalone, spambase, splice, diabetes) has
    s₁² ≤ 0.02 (P nearly uniform); the factor at which τ first reaches 2 (the abstention level of
    a nearly-identity P) is 100 for abalone, 10–30 for spambase and diabetes, 1–10 for splice —
    it scales with median / nearest-neighbour distance (0.012, 0.11, 0.71, 0.08 on those sets),
    which a fixed factor range cannot follow, hence the data-adaptive upper end. (Exactly
    duplicated rows are skipped when finding the nearest distinct point.)

Masked, ``knn_mask(k=…,p=0.2,masks=50)`` and ``rbf_mask(gamma=…,p=0.2,masks=50)``
    The same k values; for RBF the same factors applied to the masked median heuristic
    γ_med · F / (F − h) (h hidden features per mask; see :mod:`contextures.contexts.masked`), so
    that a factor means the same bandwidth relative to the typical distance on the visible
    features.

γ values are written with 6 significant digits, and that written value is the γ used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contexts.distances import median_squared_distance, squared_distances
from ..contexts.masked import n_hidden
from ..exceptions import ParameterError

FAMILIES = ("knn", "rbf", "knn_mask", "rbf_mask")
"""The four context families of the correlation study, in this order."""

DEFAULT_STRENGTHS = 35
MASK_P = 0.2
MASK_COUNT = 50
RBF_WEAK_FACTOR = 0.1
RBF_STRONG_SCALE = 3.0
KNN_WEAK_FRACTION = 0.25
_NN_SAMPLE = 1000


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ParameterError(f"the number of strengths per family must be a positive integer, "
                             f"got {count!r}")
    return int(count)


def knn_ks(n_fit: int, count: int = DEFAULT_STRENGTHS, k_weak: int | None = None) -> list[int]:
    """N distinct k, log-spaced from ``k_weak`` (default n_fit / 4) down to 1: weakest first.

    Duplicates from rounding at the low end are bumped to consecutive integers. Raises
    :class:`ParameterError` when n_fit − 1 < N (not enough distinct k exist).
    """
    count = _check_count(count)
    if isinstance(n_fit, bool) or not isinstance(n_fit, int | np.integer) or n_fit < 2:
        raise ParameterError(f"n_fit must be an integer ≥ 2, got {n_fit!r}")
    n_fit = int(n_fit)
    if n_fit - 1 < count:
        raise ParameterError(f"{count} distinct k need at least {count + 1} samples "
                             f"(k ≤ n − 1), got n = {n_fit}; use fewer strengths")
    top = int(round(KNN_WEAK_FRACTION * n_fit)) if k_weak is None else int(k_weak)
    top = min(max(top, count), n_fit - 1)
    if count == 1:
        return [top]
    raw = np.rint(np.geomspace(1.0, float(top), count)).astype(int)
    ks = [int(raw[0])]
    for value in raw[1:]:
        ks.append(max(int(value), ks[-1] + 1))
    # bumping may push the weak end past `top`: pull the tail back, keeping values distinct
    excess = ks[-1] - top
    if excess > 0:
        for i in range(count - 1, -1, -1):
            limit = top - (count - 1 - i)
            ks[i] = min(ks[i], limit)
    return ks[::-1]


def nearest_distinct_sq_distance(X: np.ndarray, *, max_points: int = _NN_SAMPLE,
                                 seed: int = 0) -> float:
    """median_i min_{j: x_j ≠ x_i} ‖x_i − x_j‖² over at most ``max_points`` rows i (seeded).

    Distances to exact duplicates (at most 1e-12 of the median squared distance) are skipped, so
    categorical data with repeated rows still gets a positive value.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    if n < 2:
        raise ParameterError("the nearest-neighbour distance needs at least 2 samples")
    rows = np.arange(n)
    if n > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    scale = median_squared_distance(X)
    floor = 1e-12 * scale if scale > 0 else 0.0
    best = np.full(rows.size, np.inf)
    for r0 in range(0, rows.size, 256):
        block = squared_distances(X[rows[r0:r0 + 256]], X)
        block[block <= floor] = np.inf
        best[r0:r0 + 256] = block.min(axis=1)
    finite = best[np.isfinite(best)]
    if finite.size == 0:
        raise ParameterError("every sample is a duplicate of every other: no RBF bandwidth can be "
                             "chosen")
    return float(np.median(finite))


@dataclass(frozen=True)
class RBFScale:
    """The two distances that set the RBF grid of a sample (see the module docstring)."""

    median_sq: float
    nearest_sq: float
    n_features: int

    @classmethod
    def of(cls, X: np.ndarray) -> RBFScale:
        X = np.asarray(X, dtype=np.float64)
        med = median_squared_distance(X)
        if not med > 0:
            raise ParameterError("the median squared distance between samples is 0 (most rows "
                                 "are duplicates): the RBF grid needs a positive bandwidth")
        return cls(med, nearest_distinct_sq_distance(X), int(X.shape[1]))

    @property
    def gamma_median(self) -> float:
        return 1.0 / self.median_sq

    @property
    def strong_factor(self) -> float:
        """f_strong = strong_scale · median / nearest (never below 10 × the weak factor)."""
        return max(RBF_STRONG_SCALE * self.median_sq / self.nearest_sq, 10 * RBF_WEAK_FACTOR)


def rbf_factors(scale: RBFScale, count: int = DEFAULT_STRENGTHS) -> list[float]:
    """N factors f log-spaced from 0.1 to f_strong: weakest first."""
    count = _check_count(count)
    if count == 1:
        return [1.0]
    return [float(f) for f in np.geomspace(RBF_WEAK_FACTOR, scale.strong_factor, count)]


def _g(value: float) -> str:
    return format(float(value), ".6g")


def family_specs(family: str, *, n_fit: int, scale: RBFScale | None = None,
                 count: int = DEFAULT_STRENGTHS, k_weak: int | None = None,
                 p: float = MASK_P, masks: int = MASK_COUNT) -> list[str]:
    """The N spec strings of one family, weakest association first.

    ``scale`` (an :class:`RBFScale` of the fitted sample) is required for the RBF families.
    """
    if family not in FAMILIES:
        raise ParameterError(f"unknown context family {family!r}; choose one of "
                             f"{', '.join(FAMILIES)}")
    if family in ("knn", "knn_mask"):
        ks = knn_ks(n_fit, count, k_weak)
        if family == "knn":
            return [f"knn(k={k})" for k in ks]
        return [f"knn_mask(k={k},p={p:g},masks={masks})" for k in ks]
    if scale is None:
        raise ParameterError(f"the {family} grid needs the sample's RBFScale")
    factors = rbf_factors(scale, count)
    if family == "rbf":
        return [f"rbf(gamma={_g(f * scale.gamma_median)})" for f in factors]
    F = scale.n_features
    h = n_hidden(F, p)
    base = scale.gamma_median * F / (F - h)
    return [f"rbf_mask(gamma={_g(f * base)},p={p:g},masks={masks})" for f in factors]


def strength_grid(X_fit: np.ndarray, count: int = DEFAULT_STRENGTHS,
                  families: tuple[str, ...] = FAMILIES, *, k_weak: int | None = None,
                  p: float = MASK_P, masks: int = MASK_COUNT) -> dict[str, list[str]]:
    """Family → its N spec strings (weakest first), for the sample the contexts will be fitted on."""
    X_fit = np.asarray(X_fit, dtype=np.float64)
    n_fit = int(X_fit.shape[0])
    scale = RBFScale.of(X_fit) if any(f.startswith("rbf") for f in families) else None
    return {family: family_specs(family, n_fit=n_fit, scale=scale, count=count, k_weak=k_weak,
                                 p=p, masks=masks)
            for family in families}


def family_of(spec: str) -> str:
    """The family name of a spec string (the name before the parenthesis)."""
    return spec.split("(", 1)[0].strip()
