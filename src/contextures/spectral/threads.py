"""How many BLAS threads the solvers use.

OpenBLAS threads busy-wait between calls. When the cores are already busy (other processes, or
another thread pool of this process) a multi-threaded BLAS call waits for descheduled partners and
runs several times slower than a single-threaded one (measured 3× on a loaded 2-core machine, and
10× when numpy's and scipy's OpenBLAS pools alternate). So the solvers pick their thread count:

- inside a :func:`solver_threads` block, its count (every grid cell runs in one, with the
  cell's fixed thread count: see :mod:`contextures.runner.grid`);
- ``$CONTEXTURES_SOLVER_THREADS`` when set;
- otherwise every core this process may use when the machine is mostly idle (fewer runnable
  tasks of other processes than half those cores), and one thread when it is not. The cores are
  the CPU affinity mask capped by the control group's CPU quota
  (:func:`contextures._resources.available_cores`), not ``os.cpu_count()``: under
  ``taskset -c 0`` or in a container limited to one CPU the solvers use one thread.

The runnable tasks are counted at the moment of the solve (Linux: the running count of
``/proc/loadavg`` minus this process's own running threads, the median of a few readings over a few
milliseconds). The 1-minute load average is the fallback elsewhere: it lags by a minute, and on
virtual machines it can sit at 1 while every core is idle (seen on this project's 2-core machine,
where it made every solve single-threaded).

The count is decided once per process, at the first solve, and kept: BLAS rounds differently
with a different thread count, so a count that followed the load from one solve to the next
would make two fits with the same seed differ in their last bits. For bit-identical results
across processes and machines, set ``$CONTEXTURES_SOLVER_THREADS``.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from contextlib import contextmanager
from contextvars import ContextVar

from threadpoolctl import threadpool_limits

from .._resources import available_cores
from ..exceptions import ParameterError

_decided: int | None = None   # the count chosen at this process's first solve
_current: ContextVar[int | None] = ContextVar("solver_threads", default=None)


MAX_ENV_THREADS = 256
"""Largest ``$CONTEXTURES_SOLVER_THREADS`` accepted: it may exceed this machine's cores (to
reproduce another machine's bits), but not by a count no machine has."""


def env_threads() -> int | None:
    """``$CONTEXTURES_SOLVER_THREADS`` as an integer in [1, :data:`MAX_ENV_THREADS`], or None
    when it is unset or empty; anything else is a :class:`ParameterError`."""
    env = os.environ.get("CONTEXTURES_SOLVER_THREADS", "").strip()
    if not env:
        return None
    try:
        value = int(env)
    except ValueError:
        raise ParameterError(f"CONTEXTURES_SOLVER_THREADS must be an integer, got {env!r}") from None
    if not 1 <= value <= MAX_ENV_THREADS:
        raise ParameterError(f"CONTEXTURES_SOLVER_THREADS must be an integer in [1, "
                             f"{MAX_ENV_THREADS}], got {value}")
    return value


def default_threads(refresh: bool = False) -> int:
    """The solvers' BLAS thread count (see the module docstring); ``refresh`` decides it again.

    Inside a :func:`solver_threads` block (a grid cell runs in one), the block's count wins.
    """
    global _decided
    inner = _current.get()
    if inner is not None:
        return inner
    value = env_threads()
    if value is not None:
        return value
    if _decided is None or refresh:
        _decided = _threads_for_load(available_cores())
    return _decided


def _threads_for_load(cores: int) -> int:
    busy = other_runnable_tasks()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (OSError, AttributeError):  # pragma: no cover - platforms without a load average
            return cores
    return cores if busy < 0.5 * cores else 1


def _own_running_threads() -> int:
    running = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as fh:
                stat = fh.read()
        except OSError:       # the thread ended meanwhile
            continue
        # the state follows the parenthesised command name, which may contain spaces
        if stat[stat.rfind(")") + 2:stat.rfind(")") + 3] == "R":
            running += 1
    return running


def other_runnable_tasks(readings: int = 5, interval: float = 0.001) -> float | None:
    """Runnable tasks of other processes now (median of ``readings``), or None without /proc."""
    counts = []
    try:
        for i in range(readings):
            if i:
                time.sleep(interval)
            with open("/proc/loadavg") as fh:
                running = int(fh.read().split()[3].split("/")[0])
            counts.append(max(0, running - _own_running_threads()))
    except (OSError, ValueError, IndexError):
        return None
    return float(statistics.median(counts))


@contextmanager
def solver_threads(threads: int | None = None):
    """Limit every BLAS pool to ``threads`` (default :func:`default_threads`) inside the block."""
    n = default_threads() if threads is None else int(threads)
    token = _current.set(n)
    try:
        with threadpool_limits(n, user_api="blas"):
            yield n
    finally:
        _current.reset(token)


def current_threads() -> int:
    """The thread count of the innermost :func:`solver_threads` block (else :func:`default_threads`)."""
    n = _current.get()
    return default_threads() if n is None else n


def with_solver_threads(function):
    """Decorator: run a solver under :func:`solver_threads` (its ``threads=`` keyword, if any)."""

    @functools.wraps(function)
    def wrapper(*args, threads: int | None = None, **kwargs):
        with solver_threads(threads):
            return function(*args, **kwargs)

    return wrapper
