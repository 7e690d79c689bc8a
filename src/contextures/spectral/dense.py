"""Direct solvers for small operators: ``dense`` (eigh of M) and ``svd_thin`` (SVD of a thin Q).

``dense`` forms M = Q Qᵀ (n × n), removes the known top direction p = √π by
M̃ = (I − ppᵀ) M (I − ppᵀ) and shifts p to eigenvalue −1 (M̃ − ppᵀ) so that it can never be
returned among the top d, then calls ``scipy.linalg.eigh(..., subset_by_index=[n−d, n−1],
driver="evr")``. Cost O(n³), memory 8 n² bytes (checked against the budget).

``svd_thin`` takes the SVD of the centred Q̃ = (I − ppᵀ) Q (n × m, m ≪ n: label or teacher
contexts); cost O(n m²), memory 8 n m bytes. A context with fewer than d + 1 values has rank
below d + 1: the missing singular values are exactly 0, with left vectors completing an
orthonormal basis orthogonal to √π (any such basis is a valid answer).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl

from .._memory import check_allocation
from ..validation import checked_keywords
from .result import SpectralResult, complete_basis, finish
from .threads import with_solver_threads


def deflation_vector(op) -> np.ndarray:
    """p = √π, the top eigenvector of M (unit norm)."""
    return np.sqrt(op.pi)


def _deflated_gram(op, p: np.ndarray) -> np.ndarray:
    """M̃ − ppᵀ (n × n): M with the known top direction p = √π moved to eigenvalue −1."""
    n = op.shape[0]
    if op.kind == "dense":
        M = op._Q @ op._Q.T
    elif op.kind == "sparse":
        M = (op._Q @ op._Q.T).toarray()
    else:
        M = op.dense_gram()
    g = M @ p
    gamma = float(p @ g)
    # M̃ − ppᵀ = M − p gᵀ − g pᵀ + (γ − 1) p pᵀ, updated in row blocks (no second n × n array)
    for i0 in range(0, n, 2048):
        i1 = min(n, i0 + 2048)
        M[i0:i1] -= (np.outer(p[i0:i1], g) + np.outer(g[i0:i1], p)
                     - (gamma - 1.0) * np.outer(p[i0:i1], p))
    M = 0.5 * (M + M.T)
    return M


@with_solver_threads
@checked_keywords("solver dense")
def solve_dense(op, n_components: int, *, random_state=None, memory_budget: int | None = None,
                notes: list[str] | None = None) -> SpectralResult:
    """Top-d eigenpairs of M̃ by dense ``eigh`` (see the module docstring)."""
    n, m = op.shape
    d = n_components
    budget = memory_budget if memory_budget is not None else op.memory_budget
    check_allocation(8.0 * n * n * 2, budget, f"the dense {n}×{n} matrix M (and its eigh workspace)")
    p = deflation_vector(op)
    dd = min(d, n - 1)
    theta, U = sl.eigh(_deflated_gram(op, p), subset_by_index=[n - dd, n - 1], driver="evr",
                       overwrite_a=True, check_finite=False)
    notes = list(notes or [])
    if U.shape[1] != dd or not np.isfinite(theta).all():
        # LAPACK's evr may return fewer pairs than asked on clustered spectra: solve again with
        # the full divide-and-conquer decomposition, which always returns all n
        notes.append(f"eigh (evr) returned {U.shape[1]} of {dd} pairs; solved again with the "
                     "full decomposition (evd)")
        theta, U = sl.eigh(_deflated_gram(op, p), driver="evd", overwrite_a=True,
                           check_finite=False)
        theta, U = theta[n - dd:], U[:, n - dd:]
    theta, U = theta[::-1], U[:, ::-1]
    if dd < d:
        rng = np.random.default_rng(random_state)
        U = complete_basis(U, p, d, rng)
        theta = np.concatenate([theta, np.zeros(d - dd)])
        notes.append(f"only n − 1 = {n - 1} components exist; the rest are reported as 0")
    # eigh's absolute error is about n·eps: eigenvalues below that are zero (s = √θ would turn
    # rounding noise of 1e-16 into singular values of 1e-8)
    theta = np.where(theta > 16 * n * np.finfo(float).eps, theta, 0.0)
    return finish(op, theta, np.ascontiguousarray(U), solver="dense", notes=notes)


@with_solver_threads
@checked_keywords("solver svd_thin")
def solve_svd_thin(op, n_components: int, *, random_state=None,
                   memory_budget: int | None = None, notes: list[str] | None = None) -> SpectralResult:
    """Top-d singular triplets of the centred Q̃ by a thin SVD (see the module docstring)."""
    n, m = op.shape
    d = n_components
    budget = memory_budget if memory_budget is not None else op.memory_budget
    check_allocation(8.0 * n * m * 3, budget, f"a dense {n}×{m} Q and its thin SVD")
    p = deflation_vector(op)
    Q = op.dense_q()
    Qc = Q - np.outer(p, p @ Q)
    U, s, _ = np.linalg.svd(Qc, full_matrices=False)
    notes = list(notes or [])
    # singular values at rounding level are zero: their left vectors are arbitrary and may be p
    rank = int(np.sum(s > 1e-10 * max(1.0, s[0] if s.size else 1.0)))
    keep = min(rank, d)
    U = U[:, :keep]
    theta = s[:keep] ** 2
    if keep < d:
        rng = np.random.default_rng(random_state)
        U = complete_basis(U, p, d, rng)
        theta = np.concatenate([theta, np.zeros(d - keep)])
        notes.append(f"the centred operator has rank {rank} < d = {d}: "
                     f"s_{rank + 1}..s_{d} are exactly 0")
    return finish(op, theta, np.ascontiguousarray(U), solver="svd_thin", notes=notes)
