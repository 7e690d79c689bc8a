"""Conjugate gradients for A X = B with a symmetric positive definite A given only by products,
one system per column.

The columns of B (one per target: a regression target, or the classes of a one-hot target) are
independent systems with the same matrix; every iteration applies A once to all of them at once
(one sparse product of an n × C block costs less than C products of vectors). An optional Jacobi
preconditioner diag(d)⁻¹ is applied to the residual.

Work arrays are column-major (each column contiguous): scaling an n × C block by C column
factors is an order of magnitude faster than in row-major order when C is small; the updates run
in place, with no n × C temporaries.

The iteration stops when every column has ‖b − A x‖ ≤ tol · ‖b‖ (or after ``maxiter`` products);
the true relative residuals are then computed once more directly and returned, so that callers
can report and warn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_TINY = np.finfo(float).tiny


@dataclass
class KrylovResult:
    """Solution X, iterations (products with A), relative residuals ‖B − AX‖/‖B‖ per column."""

    X: np.ndarray
    iterations: int
    residuals: np.ndarray
    converged: bool


def _norms(V: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->j", V, V))


def _finish(apply, B, X, iterations, tol) -> KrylovResult:
    bnorm = _norms(B)
    res = _norms(B - apply(X)) / np.where(bnorm > 0, bnorm, 1.0)
    # the recurrences estimate the residual; a few ulps of slack for the direct check
    return KrylovResult(X, iterations, res, bool(np.all(res <= max(10 * tol, 1e-12))))


def block_cg(apply: Callable[[np.ndarray], np.ndarray], B: np.ndarray, *,
             X0: np.ndarray | None = None, tol: float = 1e-6, maxiter: int = 1000,
             precondition: np.ndarray | None = None) -> KrylovResult:
    """Conjugate gradients on each column of B (A symmetric positive definite).

    ``precondition`` is an optional positive vector d: the preconditioner is diag(d)⁻¹ (Jacobi).
    """
    B = np.asfortranarray(B, dtype=float)
    X = np.zeros_like(B) if X0 is None else np.array(X0, dtype=float, order="F", copy=True)
    R = np.asfortranarray(B - apply(X)) if X0 is not None else B.copy()
    bnorm = _norms(B)
    target = tol * np.where(bnorm > 0, bnorm, 1.0)
    inv = None if precondition is None else (1.0 / np.asarray(precondition, dtype=float))[:, None]
    Z = R if inv is None else np.asfortranarray(inv * R)
    P = Z.copy(order="F")
    tmp = np.empty_like(B)
    rz = np.einsum("ij,ij->j", R, Z)
    iterations = 0
    if np.all(_norms(R) <= target):
        return _finish(apply, B, X, 0, tol)
    # the updates run in place on preallocated column-major arrays (no n × C temporaries)
    while iterations < maxiter:
        iterations += 1
        AP = np.asfortranarray(apply(P))
        pap = np.einsum("ij,ij->j", P, AP)
        step = np.where(pap > _TINY, rz / np.where(pap > _TINY, pap, 1.0), 0.0)
        np.multiply(P, step, out=tmp)
        X += tmp
        np.multiply(AP, step, out=tmp)
        R -= tmp
        if np.all(_norms(R) <= target):
            break
        if inv is not None:
            np.multiply(inv, R, out=Z)
        rz_new = np.einsum("ij,ij->j", R, Z)
        P *= np.where(rz > _TINY, rz_new / np.where(rz > _TINY, rz, 1.0), 0.0)
        P += Z
        rz = rz_new
    return _finish(apply, B, X, iterations, tol)
