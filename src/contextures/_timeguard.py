"""The time guard: estimate how long a solve will take, and refuse one above a limit.

This is the time counterpart of the memory guard (:mod:`contextures._memory`). A command line (or
a user) sets a limit for a block::

    with time_limit(3600, components=64, solver="auto"):
        Contexture("rbf", n_components=64).fit(X)     # TimeBudgetError if estimated over 1 h

and every solve inside it is estimated before it starts (:func:`contextures.spectral.select.solve`
calls :func:`check_solve`). The estimate comes from the operator's size and a short timed probe:

- iterative solvers (``krylov``, ``matrix_free``, ``arpack``): about ``30 d + 100`` products with M
  (measured 22 d–36 d for KNN contexts with d = 32 and 64 on 2·10⁵ and 10⁶ rows), in blocks of b
  columns (the solver's block size); one block product is timed on a random float64 block with
  scipy's sparse product. The solver's own products run in float32 on a reordered copy, measured
  9–16× faster per product than this probe on KNN operators of 2·10⁵ and 10⁶ rows, and the rest
  of the iteration (orthogonalisation, restarts) costs about 0.5–0.8× the products: so a sparse
  operator's estimate is products × the probe / ``SPARSE_PROBE_SPEEDUP`` (4), a dense one's / 2
  (float32 BLAS). Measured against the actual solves: 0.9–1.1× (KNN, d = 32 on 2·10⁵ rows and
  d = 64 on 10⁶ rows, a loaded 2-core machine). ARPACK multiplies one column at a time, in
  float64.
- a matrix-free operator (a dense kernel computed block by block) is probed on a few row blocks,
  the time of a whole pass extrapolated from them; a block product is two passes.
- ``dense``: an n × n symmetric eigendecomposition, timed at n = 400 and scaled by n³; ``svd_thin``
  a thin SVD, scaled by n m²; ``nystrom(m)``: m/b block products.

Building a matrix-free operator already takes a pass over the kernel (the column mass), which can
itself take minutes on 10⁵ rows: inside a limit, that pass checks the estimate too once it has run
for half a second (:meth:`TimeGuard.on_pass`), with the components and solver the block announced,
so a hopeless request is refused within seconds instead of after the pass.

The limit is off by default in the library (``max_seconds=None``); the ``spectrum`` command sets
it to one hour (``--max-time``; ``--max-time 0`` removes it). The estimate is an order of
magnitude, not a promise: it is printed (inside :func:`contextures._progress.reporting`) before
the solve starts.
"""

from __future__ import annotations

import math
import re
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from ._blocks import krylov_block_size
from .exceptions import ParameterError, TimeBudgetError

PRODUCTS_PER_COMPONENT = 30
PRODUCTS_EXTRA = 100
SPARSE_PROBE_SPEEDUP = 4.0
DENSE_PROBE_SPEEDUP = 2.0
PROBE_SECONDS = 1.0
DEFAULT_MAX_TIME = 3600.0
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int | None) -> float | None:
    """``"90s"``, ``"30m"``, ``"2h"``, ``"1.5h"``, ``3600`` → seconds; ``0``, ``none``, ``off`` →
    None (no limit)."""
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip().lower()
        if raw in ("none", "off", "inf", "no"):
            return None
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(s|m|min|h|d)?", raw)
        if not m:
            raise ParameterError(f"cannot read the duration {text!r} (use e.g. 90s, 30m, 2h, or 0 "
                                 "for no limit)")
        value = float(m.group(1)) * _UNITS[m.group(2) or ""]
    if value < 0 or value != value:
        raise ParameterError(f"a time limit must be ≥ 0, got {text!r}")
    return None if value == 0 else value


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclass
class Estimate:
    """An estimated solve time and how it was obtained."""

    seconds: float
    how: str

    def text(self) -> str:
        return f"about {format_seconds(self.seconds)} ({self.how})"


@dataclass
class TimeGuard:
    """A limit in seconds (None: none) and what the block will solve (for the pass check)."""

    max_seconds: float | None
    components: int | None = None
    solver: str = "auto"
    option: str = "--max-time"
    pass_checked: bool = False
    _first: tuple[int, float] | None = None

    def refuse(self, estimate: Estimate, what: str = "the solve") -> None:
        if self.max_seconds is not None and estimate.seconds > self.max_seconds:
            raise TimeBudgetError(
                f"{what} is estimated to take {estimate.text()}, over the time limit of "
                f"{format_seconds(self.max_seconds)}; {self.option} 0 runs it anyway (or give a "
                f"larger limit, e.g. {self.option} {_suggest(estimate.seconds)}); cheaper: fewer "
                f"rows, a smaller d, or the nystrom(m=...) / subsample(m=...) solvers")

    def on_pass(self, n: int, rows_done: int, elapsed: float) -> None:
        """Called during a pass over the rows of a matrix-free operator: once half a second has
        gone by, extrapolate the pass and refuse the whole solve if it cannot fit the limit."""
        if self.pass_checked or self.max_seconds is None or self.components is None:
            return
        if self._first is None:          # the first block carries the start-up costs: skip it
            self._first = (rows_done, elapsed)
            if rows_done < n:
                return
        rows0, t0 = self._first
        if elapsed - t0 < 0.5 and rows_done < n:
            return
        self.pass_checked = True
        per_pass = (elapsed - t0) * n / max(1, rows_done - rows0) if rows_done > rows0 else elapsed
        passes, how = matrix_free_passes(n, self.components, self.solver)
        estimate = Estimate(per_pass * (passes + 1),
                            f"{how}; one pass over the {n} rows of the matrix-free kernel "
                            f"measured at {format_seconds(per_pass)}")
        self.refuse(estimate, f"the {self.solver} solve with d = {self.components}")


def _suggest(seconds: float) -> str:
    hours = seconds / 3600
    return f"{math.ceil(hours)}h" if hours >= 1 else f"{math.ceil(seconds / 60)}m"


_guard: ContextVar[TimeGuard | None] = ContextVar("time_guard", default=None)
_global: list[TimeGuard | None] = [None]   # seen by worker threads too


@contextmanager
def time_limit(max_seconds: float | str | None, *, components: int | None = None,
               solver: str = "auto", option: str = "--max-time"):
    """Refuse solves estimated above ``max_seconds`` inside the block (None: estimate only).

    ``components`` and ``solver`` (what the block will ask for) let a matrix-free operator's
    first pass be checked before the solve; ``option`` is named in the refusal.
    """
    seconds = parse_duration(max_seconds) if isinstance(max_seconds, str) else max_seconds
    guard = TimeGuard(None if seconds is None else float(seconds), components,
                      str(solver), option)
    token = _guard.set(guard)
    previous = _global[0]
    _global[0] = guard
    try:
        yield guard
    finally:
        _guard.reset(token)
        _global[0] = previous


def current() -> TimeGuard | None:
    """The innermost active guard, or None."""
    guard = _guard.get()
    return guard if guard is not None else _global[0]


SECONDS_PER_ENTRY = 5e-9
"""Rough cost of one elementary step of a context's construction (one neighbour slot filled, one
(row, draw, feature) term of a Monte-Carlo log-density): a few nanoseconds in numpy on the 2-core
machine the guard was calibrated on. :func:`check_work` multiplies it by the counted steps."""


def check_work(steps: float, what: str, *, overhead: float = 0.0) -> Estimate | None:
    """Refuse, inside an active limit, work of ``steps`` elementary steps (plus ``overhead``
    seconds) estimated over it; return the estimate (None outside any guard)."""
    guard = current()
    if guard is None:
        return None
    estimate = Estimate(steps * SECONDS_PER_ENTRY + overhead,
                        f"{steps:.3g} elementary steps at ~{SECONDS_PER_ENTRY:g} s each")
    guard.refuse(estimate, what)
    return estimate


def iterative_products(d: int) -> int:
    """Products with M an iterative solve of d components takes, about (see the module docstring)."""
    return PRODUCTS_PER_COMPONENT * int(d) + PRODUCTS_EXTRA


def matrix_free_passes(n: int, d: int, solver: str) -> tuple[float, str]:
    """Passes over the rows a solve of a matrix-free operator takes, and the reasoning."""
    from .spec import parse_spec

    try:
        call = parse_spec(solver)
        name, params = call.name, dict(call.params)
    except Exception:  # an unparsable spec is reported by the solver itself
        name, params = "auto", {}
    if name == "nystrom":
        m = int(params.get("m") or max(2 * d, 200))
        b = 32
        return 2.0 * math.ceil(m / b), f"nystrom: {m} landmark columns in blocks of {b}"
    if name == "arpack":
        products = iterative_products(d)
        return 2.0 * products, f"arpack: about {products} one-column products, two passes each"
    b = int(params.get("block_size") or krylov_block_size(d, "matrix_free"))
    products = iterative_products(d)
    passes = 2.0 * math.ceil(products / b)
    return passes, (f"{'krylov' if name in ('dense', 'svd_thin', 'auto') else name} on the "
                    f"matrix-free operator: about {products} products of M in blocks of {b}, "
                    f"two passes each")


def _timed(function, *, budget: float = PROBE_SECONDS, at_most: int = 3) -> float:
    """The best time of up to ``at_most`` calls, stopping once ``budget`` seconds are spent."""
    best = math.inf
    spent = 0.0
    for _ in range(at_most):
        start = time.perf_counter()
        function()
        took = time.perf_counter() - start
        best = min(best, took)
        spent += took
        if spent >= budget:
            break
    return best


def _pass_seconds(op) -> float:
    """A whole pass over a matrix-free operator's rows, extrapolated from its first row blocks."""
    P = op.P
    n = P.shape[0]
    rows = 0
    start = time.perf_counter()
    while rows < n and time.perf_counter() - start < 0.5:
        i1 = min(n, rows + P.block_rows)
        P.row_block(rows, i1)
        rows = i1
    return (time.perf_counter() - start) * n / max(1, rows)


DENSE_PROBE_SIZE = 400


def _dense_unit() -> float:
    """Seconds of one symmetric eigendecomposition (with vectors) of 400 × 400, timed here."""
    A = np.random.default_rng(12345).standard_normal((DENSE_PROBE_SIZE, DENSE_PROBE_SIZE))
    A = A @ A.T
    return _timed(lambda: np.linalg.eigh(A))


def dense_seconds(n: int) -> float:
    """Estimated seconds of one n × n symmetric eigendecomposition with vectors: the 400 × 400
    probe scaled by n³."""
    return _dense_unit() * (max(int(n), 1) / DENSE_PROBE_SIZE) ** 3


def estimate_solve(op, name: str, d: int, options: dict) -> Estimate:
    """How long solver ``name`` will take on ``op`` for d components (module docstring)."""
    n, m = op.shape
    rng = np.random.default_rng(12345)   # the probe's own stream: the solve's is untouched
    if name in ("krylov", "matrix_free", "arpack", "nystrom"):
        b = (1 if name == "arpack" else
             int(options.get("block_size") or krylov_block_size(d, op.kind)))
        if name == "nystrom":
            products = int(options.get("m") or max(2 * d, 200))
            b = 32
        else:
            products = iterative_products(d)
        blocks = math.ceil(products / b)
        if op.kind == "matrix_free":
            per_block = 2.0 * _pass_seconds(op)
            how = f"one pass over the rows measured at {format_seconds(per_block / 2)}"
        else:
            X = rng.standard_normal((n, b))
            probe = _timed(lambda: op.gram_matmat(X))
            how = f"a float64 product with a block of {b} measured at {probe * 1e3:.0f} ms"
            speedup = 1.0
            if name != "arpack":
                speedup = SPARSE_PROBE_SPEEDUP if op.kind == "sparse" else DENSE_PROBE_SPEEDUP
                how += f", the solver's own {speedup:.0f}× faster"
            per_block = probe / speedup
        seconds = blocks * per_block
        return Estimate(seconds, f"{name}: about {products} products of M on n = {n} rows, "
                                 f"{how}")
    size = DENSE_PROBE_SIZE
    if name == "dense":
        unit = _dense_unit()
        seconds = unit * (n / size) ** 3
        return Estimate(seconds, f"dense: an eigendecomposition of {n} × {n}, timed at {size} × "
                                 f"{size} ({unit * 1e3:.0f} ms) and scaled by n³")
    if name == "svd_thin":
        B = rng.standard_normal((4 * size, size // 2))
        unit = _timed(lambda: np.linalg.svd(B, full_matrices=False))
        seconds = unit * (n / (4 * size)) * (m / (size // 2)) ** 2
        return Estimate(seconds, f"svd_thin: a thin SVD of {n} × {m}, timed at {4 * size} × "
                                 f"{size // 2} and scaled by n m²")
    return Estimate(0.0, f"{name}: not estimated")


def check_solve(op, name: str, d: int, options: dict, *, say=None) -> Estimate | None:
    """Estimate a solve inside a :func:`time_limit` block (or when ``say`` is given), print the
    estimate with ``say`` and refuse it when it is over the limit. Small problems (under 20 000
    rows and not matrix-free) are not probed: they take seconds."""
    guard = current()
    if guard is None and say is None:
        return None
    n = op.shape[0]
    if n < 20_000 and op.kind != "matrix_free":
        return None
    estimate = estimate_solve(op, name, d, options)
    if say is not None and estimate.seconds >= 10:
        say(f"estimated solve time: {estimate.text()}")
    if guard is not None:
        guard.refuse(estimate, f"the {name} solve")
    return estimate
