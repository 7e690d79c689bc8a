"""Krylov solvers for A X = B with a symmetric A given only by products, one system per column.

The columns of B (one per target: a regression target, or the classes of a one-hot target) are
independent systems with the same matrix; every iteration applies A once to all of them at once
(one sparse product of an n × C block costs less than C products of vectors).

- :func:`block_minres`: MINRES (Paige and Saunders, 1975) for symmetric, possibly indefinite A.
  Each column runs its own Lanczos recurrence; the residual norm ‖b − A x_j‖ of every column is
  tracked without extra products (|η_j| below) and checked once more directly at the end.
- :func:`block_cg`: conjugate gradients for symmetric positive definite A.

Work arrays are column-major (each column contiguous): scaling an n × C block by C column
factors is an order of magnitude faster than in row-major order when C is small.

Both stop when every column has ‖b − A x‖ ≤ tol · ‖b‖ (or after ``maxiter`` products) and return
the true relative residuals, so that callers can report and warn.
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


def block_minres(apply: Callable[[np.ndarray], np.ndarray], B: np.ndarray, *,
                 X0: np.ndarray | None = None, tol: float = 1e-6,
                 maxiter: int = 1000) -> KrylovResult:
    """MINRES on each column of B: x_j minimises ‖b − A x‖ over x_0 + K_j(A, r_0).

    With Lanczos vectors v_j (v_1 = r_0/β_1), α_j = v_jᵀ A v_j and β_{j+1} v_{j+1} =
    A v_j − α_j v_j − β_j v_{j−1}, the QR factorisation of the tridiagonal matrix by Givens
    rotations (c_j, s_j) gives the update x_j = x_{j−1} + c_{j+1} η_{j−1} w_j with search
    directions w_j = (v_j − ρ₃ w_{j−2} − ρ₂ w_{j−1}) / ρ₁ and the residual norm |η_j|,
    η_j = −s_{j+1} η_{j−1}, η_0 = β_1.
    """
    B = np.asfortranarray(B, dtype=float)
    X = np.zeros_like(B) if X0 is None else np.array(X0, dtype=float, order="F", copy=True)
    R = np.asfortranarray(B - apply(X)) if X0 is not None else B.copy()
    bnorm = _norms(B)
    target = tol * np.where(bnorm > 0, bnorm, 1.0)
    beta = _norms(R)
    if np.all(beta <= target):
        return _finish(apply, B, X, 0, tol)
    C = B.shape[1]
    V_old = np.zeros_like(B)
    V = np.asfortranarray(R / np.where(beta > 0, beta, 1.0))
    W_old = np.zeros_like(B)
    W_older = np.zeros_like(B)
    tmp = np.empty_like(B)
    eta = beta.copy()
    c_old = np.ones(C)
    c = np.ones(C)
    s_old = np.zeros(C)
    s = np.zeros(C)
    iterations = 0
    while iterations < maxiter:
        iterations += 1
        V_new = np.asfortranarray(apply(V))                # A v_j, then the Lanczos step
        alpha = np.einsum("ij,ij->j", V, V_new)
        np.multiply(V, alpha, out=tmp)
        V_new -= tmp
        np.multiply(V_old, beta, out=tmp)
        V_new -= tmp
        beta_new = _norms(V_new)
        delta = c * alpha - c_old * s * beta
        rho1 = np.sqrt(delta * delta + beta_new * beta_new)
        rho2 = s * alpha + c_old * c * beta
        rho3 = s_old * beta
        safe = np.where(rho1 > _TINY, rho1, 1.0)
        c_new = np.where(rho1 > _TINY, delta / safe, 1.0)
        s_new = np.where(rho1 > _TINY, beta_new / safe, 0.0)
        # w_j = (v_j − ρ₃ w_{j−2} − ρ₂ w_{j−1}) / ρ₁, written over w_{j−2}
        W_older *= -rho3
        W_older += V
        np.multiply(W_old, rho2, out=tmp)
        W_older -= tmp
        W_older /= safe
        W_older, W_old = W_old, W_older
        np.multiply(W_old, c_new * eta, out=tmp)
        X += tmp
        eta = -s_new * eta
        V_old, V = V, V_new
        V /= np.where(beta_new > _TINY, beta_new, 1.0)
        beta = beta_new
        c_old, c = c, c_new
        s_old, s = s, s_new
        if np.all(np.abs(eta) <= target) or np.all(beta_new <= _TINY):
            break
    return _finish(apply, B, X, iterations, tol)


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
    Z = R if inv is None else inv * R
    P = Z.copy()
    rz = np.einsum("ij,ij->j", R, Z)
    iterations = 0
    if np.all(_norms(R) <= target):
        return _finish(apply, B, X, 0, tol)
    while iterations < maxiter:
        iterations += 1
        AP = np.asfortranarray(apply(P))
        pap = np.einsum("ij,ij->j", P, AP)
        step = np.where(pap > _TINY, rz / np.where(pap > _TINY, pap, 1.0), 0.0)
        X += step * P
        R -= step * AP
        if np.all(_norms(R) <= target):
            break
        Z = R if inv is None else inv * R
        rz_new = np.einsum("ij,ij->j", R, Z)
        P = Z + np.where(rz > _TINY, rz_new / np.where(rz > _TINY, rz, 1.0), 0.0) * P
        rz = rz_new
    return _finish(apply, B, X, iterations, tol)
