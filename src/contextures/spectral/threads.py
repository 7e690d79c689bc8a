"""How many BLAS threads the solvers use.

OpenBLAS threads busy-wait between calls. When the cores are already busy (other processes, or
another thread pool of this process) a multi-threaded BLAS call waits for descheduled partners and
runs several times slower than a single-threaded one (measured 3× on a loaded 2-core machine, and
10× when numpy's and scipy's OpenBLAS pools alternate). So the solvers pick their thread count:

- ``$CONTEXTURES_SOLVER_THREADS`` when set;
- otherwise every core when the machine is mostly idle (1-minute load average below half the
  cores), and one thread when it is not.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from ..exceptions import ParameterError


def default_threads() -> int:
    """The solvers' BLAS thread count (see the module docstring)."""
    env = os.environ.get("CONTEXTURES_SOLVER_THREADS")
    cores = os.cpu_count() or 1
    if env:
        try:
            value = int(env)
        except ValueError as exc:
            raise ParameterError(f"CONTEXTURES_SOLVER_THREADS must be an integer, got {env!r}") from exc
        if value < 1:
            raise ParameterError(f"CONTEXTURES_SOLVER_THREADS must be ≥ 1, got {value}")
        return value
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover - platforms without a load average
        return cores
    return cores if load < 0.5 * cores else 1


@contextmanager
def solver_threads(threads: int | None = None):
    """Limit every BLAS pool to ``threads`` (default :func:`default_threads`) inside the block."""
    n = default_threads() if threads is None else int(threads)
    with threadpool_limits(n, user_api="blas"):
        yield n


def with_solver_threads(function):
    """Decorator: run a solver under :func:`solver_threads` (its ``threads=`` keyword, if any)."""

    @functools.wraps(function)
    def wrapper(*args, threads: int | None = None, **kwargs):
        with solver_threads(threads):
            return function(*args, **kwargs)

    return wrapper
