"""The singular values alone: s_1..s_d of a context without its singular functions.

τ, d̂ and the decay rate read the spectrum only. When the operator is small enough for the dense
solver, the values come from the eigenvalues of the same deflated Gram matrix the dense solver
diagonalises, M̃ − ppᵀ with p = √π (so s_i² = θ_i, the i-th largest eigenvalue, and the known top
direction sits at −1), computed without eigenvectors: LAPACK's divide-and-conquer driver then
stops after the tridiagonal reduction and its eigenvalues, about a third of the work of the
pairs. Eigenvalues below the dense solver's rounding floor 16 n ε are 0, as there.

Larger operators, and contexts whose weights are chosen by the solve (mixtures with minimax
weights), go through :func:`~contextures.spectral.solve` (``solver="auto"``), so the values are
always the ones :class:`~contextures.spectral.Contexture` would report.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl

from .._memory import fits, resolve_budget
from ..contexts import make_context
from ..contexts.base import Context
from ..contexts.mixtures import MixtureContext
from .dense import _deflated_gram, deflation_vector
from .select import solve
from .threads import solver_threads

DENSE_VALUES_MAX = 4000
"""Largest n for the eigenvalues-only dense path (above it the Krylov solvers are faster)."""


def spectrum_values(context, X, n_components: int, *, cache=None, memory_budget=None,
                    threads: int | None = None) -> tuple[np.ndarray, str]:
    """(s_1..s_d, the solver used) of ``context`` fitted on the rows X.

    ``context``: a spec string or a :class:`~contextures.contexts.base.Context` (cloned, never
    modified). ``cache``: a :class:`~contextures.contexts.ContextCache` of X.
    """
    from sklearn.base import clone

    from .estimator import Contexture

    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    budget = resolve_budget(memory_budget)
    base = context if isinstance(context, Context) else make_context(context)
    if isinstance(base, MixtureContext) or n > DENSE_VALUES_MAX:
        model = Contexture(base, n_components=n_components, extension="raw", random_state=0,
                           memory_budget=budget, n_jobs=threads).fit(X, cache=cache)
        return np.asarray(model.singular_values_), model.solver_
    fitted = clone(base)
    fitted.fit(X, None, cache=cache)
    op = fitted.operator(budget)
    if not fits(8.0 * n * n * 2, budget):
        return solve(op, n_components, "auto", random_state=0, memory_budget=budget,
                     threads=threads).singular_values, "auto"
    d = min(int(n_components), n - 1)
    with solver_threads(threads):
        theta = sl.eigh(_deflated_gram(op, deflation_vector(op)), eigvals_only=True,
                        driver="evd", overwrite_a=True, check_finite=False)
    theta = theta[::-1][:d]
    theta = np.where(theta > 16 * n * np.finfo(float).eps, theta, 0.0)
    s = np.sqrt(theta)
    if s.size < n_components:
        s = np.concatenate([s, np.zeros(n_components - s.size)])
    return s, "dense (values only)"
