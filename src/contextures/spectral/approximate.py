"""Explicitly approximate solvers: ``nystrom(m)`` and ``subsample(m)``.

Nyström (m landmarks L drawn uniformly without replacement): with the deflated M̃ = (I − ppᵀ) M
(I − ppᵀ), C = M̃[:, L] = (I − ppᵀ) M S (S selects the landmark columns; M p = p) and
W = C[L], the approximation is M̃ ≈ C W⁺ Cᵀ = G Gᵀ with G = C V_W Λ_W^{-1/2}; its top-d
eigenpairs come from the SVD of G (n × m). Cost: one product of M with m columns and O(n m²).
The error is reported: the residuals ‖M u − s² u‖ of the returned vectors on the *full* operator.

Subsample (the correlation study's estimate for large n): refit the context on m random rows,
solve that small problem exactly, and extend the eigenfunctions to every row through the
context's transition rows (docs/theory.md §6). The singular values are those of the subsample's
context, an estimate of the full ones; m = Θ(d log d) rows suffice for the top of the spectrum
(the paper uses m ≈ 600-1000 for d₀ = 256). See :func:`default_subsample_size`.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import clone

from .._memory import check_allocation
from ..exceptions import ParameterError
from ..validation import checked_keywords
from .result import SpectralResult, complete_basis, finish
from .threads import with_solver_threads


def default_landmarks(n: int, d: int) -> int:
    """Default Nyström size: max(4d, 500), at most n − 1."""
    return int(min(n - 1, max(4 * d, 500)))


@with_solver_threads
@checked_keywords("solver nystrom")
def solve_nystrom(op, n_components: int, *, m: int | None = None, random_state=None,
                  memory_budget: int | None = None, notes: list[str] | None = None) -> SpectralResult:
    """Top-d eigenpairs of the Nyström approximation with m landmarks (see the module docstring)."""
    n, _ = op.shape
    d = n_components
    m = default_landmarks(n, d) if m is None else int(m)
    if not 1 <= m <= n:
        raise ParameterError(f"nystrom: the number of landmarks m must be in [1, n = {n}], got {m}")
    budget = memory_budget if memory_budget is not None else op.memory_budget
    check_allocation(8.0 * n * m * 3, budget, f"Nyström with {m} landmarks on {n} samples")
    rng = np.random.default_rng(random_state)
    landmarks = np.sort(rng.choice(n, size=m, replace=False))
    p = np.sqrt(op.pi)
    S = np.zeros((n, m))
    S[landmarks, np.arange(m)] = 1.0
    C = op.gram_matmat(S)
    del S
    C -= np.outer(p, p @ C)
    W = C[landmarks]
    lam, Vw = np.linalg.eigh(0.5 * (W + W.T))
    keep = lam > 1e-12 * max(float(lam.max(initial=0.0)), 1e-300)
    G = C @ (Vw[:, keep] / np.sqrt(lam[keep]))
    del C
    U, sig, _ = np.linalg.svd(G, full_matrices=False)
    rank = int(np.sum(sig > 1e-10))
    take = min(rank, d)
    U = U[:, :take]
    theta = sig[:take] ** 2
    notes = list(notes or [])
    if take < d:
        U = complete_basis(U - np.outer(p, p @ U), p, d, rng)
        theta = np.concatenate([theta, np.zeros(d - take)])
        notes.append(f"the Nyström approximation has rank {rank} < d = {d}; the rest is 0")
    result = finish(op, theta, np.ascontiguousarray(U), solver=f"nystrom(m={m})", notes=notes,
                    exact=False, products=m + d)
    result.notes.append(
        f"approximate: Nyström with {m} uniform landmarks; residuals on the full operator "
        f"max {result.max_residual:.2e}, median {float(np.median(result.residuals)):.2e}")
    return result


def default_subsample_size(n: int, d: int) -> int:
    """m = ⌈2 d ln(d + 1)⌉ + d + 2 rows (Θ(d log d)), at least 300, at most n."""
    m = math.ceil(2 * d * math.log(d + 1)) + d + 2
    return int(min(n, max(m, 300)))


def solve_subsample(context, X: np.ndarray, y, n_components: int, *, m: int | None = None,
                    random_state=None, memory_budget: int | None = None, solve=None,
                    **solver_kwargs):
    """Spectrum of the context refitted on m random rows; see the module docstring.

    Returns ``(result, fitted_subcontext, rows, operator)``: ``result`` is the exact spectrum of the
    subsample's operator (``solve`` is the solver used on it, default ``auto``), marked
    approximate, with eigenfunctions on the m subsample rows.
    """
    from .select import solve as solve_auto

    n = X.shape[0]
    d = n_components
    m = default_subsample_size(n, d) if m is None else int(m)
    if not d + 2 <= m <= n:
        raise ParameterError(
            f"subsample: m must be between d + 2 = {d + 2} and n = {n}, got {m}")
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n, size=m, replace=False))
    sub = clone(context)
    sub.fit(X[rows], None if y is None else np.asarray(y)[rows])
    op = sub.operator(memory_budget)
    solver = solve or solve_auto
    result = solver(op, d, random_state=rng.integers(2**31), memory_budget=memory_budget,
                    **solver_kwargs)
    result.exact = False
    result.notes.append(f"approximate: spectrum of the context refitted on {m} of {n} random "
                        f"rows (solver {result.solver}); residuals are on that subsample")
    result.solver = f"subsample(m={m})"
    return result, sub, rows, op
