"""The exact spectral engine: s_1..s_d and μ_1..μ_d of a context's finite-sample operator.

- :class:`Contexture` — the scikit-learn transformer (``fit``, ``transform``, ``singular_values_``);
- :func:`solve` — a :class:`~contextures.contexts.operator.ContextOperator` to a
  :class:`SpectralResult`, with ``solver="auto"`` choosing by size, sparsity and memory budget;
- the solvers themselves: :func:`solve_dense`, :func:`solve_svd_thin`, :func:`solve_krylov`
  (block Krylov-Schur on Q, the workhorse), :func:`solve_matrix_free`, :func:`solve_nystrom`,
  :func:`solve_subsample` (approximations, explicitly marked) and :func:`solve_arpack` (the
  scipy reference).
"""

from .approximate import default_subsample_size, solve_nystrom, solve_subsample
from .dense import solve_dense, solve_svd_thin
from .estimator import Contexture
from .iterative import DEFAULT_TOL, solve_arpack, solve_krylov, solve_matrix_free
from .result import SpectralResult
from .select import SOLVER_OPTIONS, choose_solver, parse_solver, solve

__all__ = [
    "DEFAULT_TOL",
    "SOLVER_OPTIONS",
    "Contexture",
    "SpectralResult",
    "choose_solver",
    "default_subsample_size",
    "parse_solver",
    "solve",
    "solve_arpack",
    "solve_dense",
    "solve_krylov",
    "solve_matrix_free",
    "solve_nystrom",
    "solve_subsample",
    "solve_svd_thin",
]
