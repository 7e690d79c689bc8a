"""Evaluating contexts and representations: τ, association diagnostics, compatibility, probes,
alignment (docs/theory.md §2, §3, §9, §10)."""

from .alignment import (
    canonical_correlations,
    cca_r2,
    linear_cka,
    mutual_knn,
    orthonormal_basis,
    ratio_trace,
)
from .compatibility import CompatibilityResult, compatibility
from .diagnostics import decay_rate, kernel_deviation, lipschitz_estimate
from .features import FeatureComparison, compare_features, read_features
from .probes import DEFAULT_ALPHAS, KnnProbeResult, ProbeCurve, knn_probe, ridge_probe_curve
from .tau import ABSTAIN_TOL, TauResult, tau, tau_curve

__all__ = [
    "ABSTAIN_TOL",
    "DEFAULT_ALPHAS",
    "CompatibilityResult",
    "FeatureComparison",
    "KnnProbeResult",
    "ProbeCurve",
    "TauResult",
    "canonical_correlations",
    "cca_r2",
    "compare_features",
    "compatibility",
    "decay_rate",
    "kernel_deviation",
    "knn_probe",
    "linear_cka",
    "lipschitz_estimate",
    "mutual_knn",
    "orthonormal_basis",
    "ratio_trace",
    "read_features",
    "ridge_probe_curve",
    "tau",
    "tau_curve",
]
