"""Squared Euclidean distances and the median heuristic for the RBF bandwidth."""

from __future__ import annotations

import numpy as np

from .._memory import check_allocation
from ..exceptions import ParameterError

MEDIAN_MAX_POINTS = 2000
MEDIAN_SEED = 0


def squared_distances(A: np.ndarray, B: np.ndarray | None = None, *,
                      memory_budget: int | None = None) -> np.ndarray:
    """D[i, j] = ‖a_i − b_j‖² (BLAS expansion, clipped at 0; exact zeros on the diagonal when B is A).

    ``B=None`` means B = A.
    """
    same = B is None
    B = A if same else B
    check_allocation(8.0 * A.shape[0] * B.shape[0], memory_budget,
                     f"a {A.shape[0]}×{B.shape[0]} squared-distance matrix")
    D = A @ B.T
    D *= -2.0
    D += np.einsum("ij,ij->i", A, A)[:, None]
    D += np.einsum("ij,ij->i", B, B)[None, :]
    np.maximum(D, 0.0, out=D)
    if same:
        np.fill_diagonal(D, 0.0)
    return D


def median_squared_distance(X: np.ndarray, *, max_points: int = MEDIAN_MAX_POINTS,
                            seed: int = MEDIAN_SEED) -> float:
    """The median of ‖x_i − x_j‖² over pairs i < j of at most ``max_points`` points.

    When n > ``max_points`` the points are a uniform random subset drawn with
    ``numpy.random.default_rng(seed)`` (seed 0), so the value is reproducible.
    """
    n = X.shape[0]
    if n > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        X = X[rows]
        n = max_points
    D = squared_distances(X)
    iu = np.triu_indices(n, k=1)
    return float(np.median(D[iu]))


def median_gamma(X: np.ndarray, *, scale: float = 1.0) -> float:
    """γ = scale / median_{i<j} ‖x_i − x_j‖² (the median heuristic); an error when the median is 0."""
    med = median_squared_distance(X)
    if not med > 0:
        raise ParameterError("gamma='median': the median squared distance between samples is 0 "
                             "(more than half of the pairs are duplicates); give gamma explicitly")
    return scale / med
