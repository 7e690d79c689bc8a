"""Solver specs, the ``auto`` choice and :func:`solve`, the one entry point of the engine.

A solver is named by a spec in the project's grammar: ``auto``, ``dense``, ``svd_thin``,
``krylov``, ``krylov(tol=1e-8,block_size=8)``, ``matrix_free``, ``arpack``, ``nystrom(m=2000)``
or ``subsample(m=1000)`` (the last needs the data, see :class:`~contextures.spectral.Contexture`).

``auto`` decides from the operator's size, kind and the memory budget, and says why in the
result's ``notes``:

1. a matrix-free operator (a dense kernel that does not fit) → ``matrix_free``;
2. a thin operator (m ≤ min(n/2, 4000) context values: labels, teachers) → ``svd_thin``;
3. a small one (n ≤ 1500, or too few samples for a Krylov basis) → ``dense``;
4. everything else → ``krylov`` (block Krylov-Schur on Q, never forming M).

Inside :func:`contextures._timeguard.time_limit` (the ``spectrum`` command's ``--max-time``) the
solve that will run is first estimated from the operator's size and a short timed probe, and
refused with :class:`~contextures.exceptions.TimeBudgetError` when the estimate exceeds the limit.

A direct solver that would exceed the memory budget falls back to ``krylov``, and a Krylov basis
that does not fit falls back to ``nystrom`` with as many landmarks as fit; the fallback is
recorded in ``notes`` and announced with a :class:`UserWarning`. Nothing allocates over the
budget silently: a computation that cannot fit at all raises :class:`MemoryBudgetError`.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.linalg as sl
from scipy.sparse.linalg import ArpackError

from .. import _progress as progress
from .._memory import fits, format_bytes, resolve_budget
from .._timeguard import check_solve
from ..exceptions import MemoryBudgetError, ParameterError, SolverError, SpecError
from ..spec import Call, format_spec, parse_spec
from ..validation import check_int
from .approximate import default_landmarks, solve_nystrom
from .dense import solve_dense, solve_svd_thin
from .iterative import DEFAULT_TOL, krylov_parameters, solve_arpack, solve_krylov, solve_matrix_free
from .result import SpectralResult
from .threads import default_threads, solver_threads

_KRYLOV_OPTIONS = ("tol", "block_size", "keep", "max_basis", "max_restarts", "precision",
                   "check_share", "use_torch", "reorder", "power", "split")
SOLVER_OPTIONS: dict[str, tuple[str, ...]] = {
    "auto": ("tol",),
    "dense": (),
    "svd_thin": (),
    "krylov": _KRYLOV_OPTIONS,
    "matrix_free": _KRYLOV_OPTIONS,
    "arpack": ("tol",),
    "nystrom": ("m",),
    "subsample": ("m",),
}
_FUNCTIONS = {
    "dense": solve_dense,
    "svd_thin": solve_svd_thin,
    "krylov": solve_krylov,
    "matrix_free": solve_matrix_free,
    "arpack": solve_arpack,
    "nystrom": solve_nystrom,
}
# the type and range of every solver option: (kind, low, high) with kind int, float, bool or
# one of a tuple of strings; low/high inclusive (None: unbounded)
_OPTION_RULES: dict[str, tuple] = {
    "tol": (float, 1e-15, 0.5),
    "block_size": (int, 1, None),
    "keep": (int, 1, None),
    "max_basis": (int, 2, None),
    "max_restarts": (int, 0, None),
    "precision": (("auto", "float32", "float64"), None, None),
    "check_share": (float, 0.0, 1.0),
    "use_torch": (bool, None, None),
    "reorder": (bool, None, None),
    "power": (int, 1, 8),
    "split": (bool, None, None),
    "m": (int, 2, None),
}
DENSE_MAX_N = 1500
THIN_MAX_M = 4000


def parse_solver(spec: str | Call) -> Call:
    """Parse and check a solver spec; unknown names or options are a :class:`SpecError`."""
    call = parse_spec(spec) if isinstance(spec, str) else spec
    if not isinstance(call, Call) or call.name not in SOLVER_OPTIONS:
        name = getattr(call, "name", spec)
        raise SpecError(f"unknown solver {name!r}; known solvers: {', '.join(SOLVER_OPTIONS)}")
    if call.args or call.weight is not None:
        raise SpecError(f"solver {call.name}: takes keyword options only")
    unknown = sorted(set(call.params) - set(SOLVER_OPTIONS[call.name]))
    if unknown:
        allowed = ", ".join(SOLVER_OPTIONS[call.name]) or "no options"
        raise SpecError(f"solver {call.name}: unknown option(s) {', '.join(unknown)}; "
                        f"it takes {allowed}")
    for key, value in call.params.items():
        _check_option(call.name, key, value)
    return call


def _check_option(solver: str, key: str, value) -> None:
    """A solver option of the wrong type or out of range is a :class:`SpecError`."""
    kind, low, high = _OPTION_RULES[key]
    where = f"solver {solver}: option {key}"
    if isinstance(kind, tuple):
        if value not in kind:
            raise SpecError(f"{where} must be one of {', '.join(kind)}, got {value!r}")
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{where} must be true or false, got {value!r}")
        return
    number = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number):
        raise SpecError(f"{where} must be {'an integer' if kind is int else 'a number'}, "
                        f"got {value!r}")
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        bounds = (f"≥ {low}" if high is None else f"in [{low}, {high}]")
        raise SpecError(f"{where} must be {bounds}, got {value!r}")


def choose_solver(op, n_components: int, memory_budget: int | None = None) -> tuple[str, str]:
    """The ``auto`` choice for an operator: (solver name, the reason in words)."""
    n, m = op.shape
    d = n_components
    budget = resolve_budget(memory_budget if memory_budget is not None else op.memory_budget)
    if op.kind == "matrix_free":
        return "matrix_free", ("the transition matrix is matrix-free (its dense form does not "
                               "fit the memory budget): products computed block by block")
    if m <= min(n / 2, THIN_MAX_M) and fits(24.0 * n * m, budget):
        return "svd_thin", f"thin operator ({n} samples × {m} context values): thin SVD of Q"
    b, keep, max_basis = krylov_parameters(n, d, op.kind)
    krylov_ok = d <= keep and keep + b <= max_basis and max_basis + b <= n - 1
    if (n <= DENSE_MAX_N or not krylov_ok) and fits(16.0 * n * n, budget):
        why = f"n = {n} ≤ {DENSE_MAX_N}" if n <= DENSE_MAX_N else f"d = {d} is close to n = {n}"
        return "dense", f"{why}: dense eigh of M"
    return "krylov", (f"{op.kind} Q with n = {n}"
                      + (f", nnz = {op.nnz}" if op.kind == "sparse" else "")
                      + ": block Krylov-Schur on Q, M never formed")


def _fallback(op, name: str, d: int, budget: int) -> tuple[str, str] | None:
    """A solver that fits when ``name`` does not, with the reason; None when ``name`` fits."""
    n, m = op.shape
    need = {"dense": 16.0 * n * n, "svd_thin": 24.0 * n * m}.get(name)
    if need is not None and not fits(need, budget) and name in ("dense", "svd_thin"):
        return "krylov", (f"{name} needs {format_bytes(need)}, over the memory budget of "
                          f"{format_bytes(budget)}: using krylov instead")
    if name in ("krylov", "matrix_free", "arpack"):
        b, keep, max_basis = krylov_parameters(n, d, op.kind)
        need = (keep + 3 * b) * n * 8.0 + 4 * n * keep * 8.0
        if not fits(need, budget):
            landmarks = int(budget / (24.0 * n))
            if landmarks < d + 1:
                raise MemoryBudgetError(
                    f"no solver fits: even {d + 1} Nyström landmarks on {n} samples need "
                    f"{format_bytes(24.0 * n * (d + 1))}, over the budget of {format_bytes(budget)}")
            return (f"nystrom(m={min(landmarks, default_landmarks(n, d))})",
                    f"a Krylov basis for d = {d} needs {format_bytes(need)}, over the budget "
                    f"of {format_bytes(budget)}: approximate Nyström instead")
    return None


def solve(op, n_components: int, solver: str | Call = "auto", *, tol: float | None = None,
          random_state=None, memory_budget: int | str | None = None,
          threads: int | None = None) -> SpectralResult:
    """The top-d contexture (s_1..s_d, μ_1..μ_d) of a :class:`ContextOperator`.

    Parameters
    ----------
    op : ContextOperator
    n_components : d ≥ 1.
    solver : a solver spec (see the module docstring); ``subsample`` needs the data and is only
        available through :class:`~contextures.spectral.Contexture`.
    tol : residual tolerance of the iterative solvers (default 1e-5, ``iterative.DEFAULT_TOL``), unless the spec sets one.
    random_state : seed of the random start blocks / landmarks.
    memory_budget : bytes (or ``"8G"``); default: the operator's, else half the available memory.
    threads : BLAS threads (default: :func:`~contextures.spectral.threads.default_threads`).
    """
    d = _check_components(n_components, op.shape[0])
    call = parse_solver(solver)
    budget = resolve_budget(memory_budget if memory_budget is not None else op.memory_budget)
    notes: list[str] = []
    name = call.name
    options = dict(call.params)
    if name == "subsample":
        raise ParameterError("the subsample solver refits the context on a subsample of the "
                             "data: use Contexture(context, solver='subsample(m=...)')")
    if name == "auto":
        tol = options.pop("tol", tol)
        name, why = choose_solver(op, d, budget)
        notes.append(f"auto: {name} ({why})")
    fallback = _fallback(op, name, d, budget)
    if fallback is not None:
        new, why = fallback
        notes.append(f"fallback: {why}")
        if call.name != "auto":
            warnings.warn(f"solver {format_spec(call)}: {why}", UserWarning, stacklevel=2)
        new_call = parse_spec(new)
        name, options = new_call.name, dict(new_call.params)
    if name in ("krylov", "matrix_free", "arpack"):
        options.setdefault("tol", DEFAULT_TOL if tol is None else tol)
    function = _FUNCTIONS[name]
    n_threads = default_threads() if threads is None else int(threads)
    with solver_threads(n_threads):
        estimate = check_solve(op, name, d, options,
                               say=progress.say if progress.enabled() else None)
    if estimate is not None:
        notes.append(f"estimated before the solve: {estimate.text()}")
    start = time.perf_counter()
    try:
        result = function(op, d, random_state=random_state, memory_budget=budget, notes=notes,
                          threads=n_threads, **options)
        problem = result_problem(result, d, op.shape[0])
    except (ArpackError, np.linalg.LinAlgError, sl.LinAlgError, FloatingPointError) as exc:
        result = SpectralResult(np.zeros(0), np.zeros((op.shape[0], 0)), np.zeros((0, 0)),
                                np.zeros((0, 0)), np.zeros(0), name, notes=list(notes))
        problem = f"an error ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    if problem is not None and name != "dense" and fits(16.0 * op.shape[0] ** 2, budget):
        warnings.warn(f"solver {name} returned {problem}; solving again with dense",
                      UserWarning, stacklevel=2)
        again = list(result.notes) + [f"{name} returned {problem}; solved again with dense"]
        result = solve_dense(op, d, random_state=random_state, memory_budget=budget, notes=again,
                             threads=n_threads)
        problem = result_problem(result, d, op.shape[0])
    if problem is not None:
        raise SolverError(f"solver {result.solver} returned {problem} (asked for d = {d}); "
                          "nothing was reported. Try another solver (--solver dense, arpack) "
                          "or a smaller d")
    result.notes.append(f"{time.perf_counter() - start:.3f} s with {n_threads} BLAS thread(s)")
    _operator_notes(op, result)
    return result


def _operator_notes(op, result: SpectralResult) -> None:
    """What the operator says about itself: notes of its construction (a neighbour search that
    was not the one asked for) and, for approximate neighbour lists, ``exact=False`` and the
    recall and estimated effect on s_1..s_d (the operator's ``report_approximation``)."""
    result.notes.extend(getattr(op, "search_notes", ()))
    report = getattr(op, "report_approximation", None)
    if report is not None:
        result.exact = False
        result.notes.append(report(result))


def result_problem(result: SpectralResult, d: int, n: int) -> str | None:
    """What is wrong with a solver's result, or None: it must hold exactly d finite singular
    values in [0, 1] (to rounding), sorted, and n × d finite eigenfunctions."""
    s = np.asarray(result.singular_values)
    if s.shape != (d,):
        return f"{s.size} of {d} singular values"
    if not np.isfinite(s).all():
        return "non-finite singular values"
    if s.min() < 0 or s.max() > 1 + 1e-6:
        return f"singular values outside [0, 1] ({s.min():.3g} to {s.max():.3g})"
    if np.any(np.diff(s) > 1e-9):
        return "singular values out of order"
    mu = np.asarray(result.eigenfunctions)
    if mu.shape != (n, d) or not np.isfinite(mu).all():
        return f"eigenfunctions of shape {mu.shape} or with non-finite values"
    return None


def _check_components(n_components, n: int) -> int:
    d = check_int(n_components, "n_components", low=1)
    if n < d + 2:
        raise ParameterError(f"n = {n} samples are too few for d = {d} components "
                             f"(need n ≥ d + 2 = {d + 2})")
    return d
