"""Correlation statistics of the experiments: Pearson, Spearman and distance correlation.

Distance correlation (Székely, Rizzo & Bakirov 2007), the V-statistic: for paired samples
x_1..x_n and y_1..y_n let a_ij = |x_i − x_j|, b_ij = |y_i − y_j| and double-centre them,

    A_ij = a_ij − ā_i· − ā_·j + ā_··,     B_ij likewise,

then dCov²(x, y) = (1/n²) Σ_ij A_ij B_ij, dVar²(x) = dCov²(x, x), and

    dCor(x, y) = sqrt( dCov²(x, y) / sqrt(dVar²(x) · dVar²(y)) )     (0 when either dVar² = 0).

It lies in [0, 1], is 1 for y = a + b x (b ≠ 0), and is 0 in the population only under
independence (unlike Pearson, it sees non-linear and non-monotone dependence). Values near but
above 0 are normal for finite independent samples (the V-statistic is biased upwards).

Every function takes two equal-length 1-D arrays and returns ``nan`` when the statistic is
undefined (fewer than 2 points, or a constant input for Pearson and Spearman).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from ..exceptions import ParameterError


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ParameterError(f"paired samples must have the same length, got {x.size} and "
                             f"{y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ParameterError("paired samples must be finite (drop NaN and infinite values first)")
    return x, y


def pearson(x, y) -> float:
    """Pearson's r = cov(x, y) / (sd(x) sd(y)); nan for a constant input or n < 2."""
    x, y = _pair(x, y)
    if x.size < 2:
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    if not denom > 0:
        return float("nan")
    return float(np.clip((xc @ yc) / denom, -1.0, 1.0))


def spearman(x, y) -> float:
    """Spearman's ρ: Pearson's r of the ranks (ties get their average rank)."""
    x, y = _pair(x, y)
    return pearson(rankdata(x), rankdata(y))


def _centred_distances(v: np.ndarray) -> np.ndarray:
    a = np.abs(v[:, None] - v[None, :])
    return a - a.mean(axis=0)[None, :] - a.mean(axis=1)[:, None] + a.mean()


def distance_covariance_sq(x, y) -> float:
    """dCov²(x, y) = (1/n²) Σ_ij A_ij B_ij, the V-statistic (see the module docstring)."""
    x, y = _pair(x, y)
    if x.size < 2:
        return float("nan")
    return float((_centred_distances(x) * _centred_distances(y)).mean())


def distance_correlation(x, y) -> float:
    """Székely's distance correlation (V-statistic) of two 1-D samples; see the module docstring."""
    x, y = _pair(x, y)
    if x.size < 2:
        return float("nan")
    A, B = _centred_distances(x), _centred_distances(y)
    dcov = float((A * B).mean())
    dvar = float((A * A).mean()) * float((B * B).mean())
    if not dvar > 0:
        return 0.0
    return float(np.sqrt(max(dcov, 0.0) / np.sqrt(dvar)))


def mean_sd(values) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof = 1) of the finite values; sd 0 for one value,
    (None, None) for none. Reports show the sd only with two values or more."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None, None
    sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), sd
