"""Memory budget: how many bytes a computation may allocate, and the check made before it does.

The budget defaults to half of the memory available when asked: ``MemAvailable`` on Linux, or
what the process's control group still allows when that is less (its ``memory.max`` minus its
usage, see :mod:`contextures._resources`: in a container the host's free memory is not the
process's). It can be set with the ``CONTEXTURES_MEMORY_BUDGET`` environment variable (bytes, or a number with a ``K``,
``M``, ``G`` suffix) and is overridden per call where an API takes ``memory_budget``.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from contextvars import ContextVar

from ._resources import cgroup_memory_available
from .exceptions import MemoryBudgetError, ParameterError

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_bytes(value: str | int | float) -> int:
    """Parse ``"12G"``, ``"512M"``, ``"1.5e9"`` or a number into a byte count."""
    if isinstance(value, int | float):
        if value <= 0:
            raise ParameterError(f"memory budget must be positive, got {value}")
        return int(value)
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([KMGT]?)I?B?\s*", str(value).upper())
    if not m:
        raise ParameterError(f"cannot read memory size {value!r} (use e.g. 8G, 512M or bytes)")
    try:
        number = float(m.group(1))
    except ValueError as exc:
        raise ParameterError(f"cannot read memory size {value!r}") from exc
    if number <= 0:
        raise ParameterError(f"memory budget must be positive, got {value!r}")
    return int(number * _UNITS[m.group(2)])


def host_available_memory() -> int:
    """Bytes of the machine's memory available now (Linux ``MemAvailable``, else total)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 * 1024**3


def available_memory() -> int:
    """Bytes of memory available to this process now: the machine's, or its control group's
    remaining allowance when that is smaller."""
    host = host_available_memory()
    group = cgroup_memory_available()
    return host if group is None else min(host, group)


_scoped: ContextVar[int | None] = ContextVar("memory_budget", default=None)


@contextmanager
def budget_scope(budget: str | int | float | None):
    """Inside the block, the default budget is ``budget`` (parsed; None leaves it unchanged).

    Code that allocates without being handed a budget (a context's ``fit``, which draws its
    Monte-Carlo samples or neighbour lists) checks against it: ``spectrum --memory-budget 256M``
    and ``Contexture(memory_budget=...)`` cover those allocations too.
    """
    token = _scoped.set(None if budget is None else resolve_budget(budget))
    try:
        yield
    finally:
        _scoped.reset(token)


def default_budget() -> int:
    """The memory budget in bytes: the innermost :func:`budget_scope`, else
    ``$CONTEXTURES_MEMORY_BUDGET``, else half the available memory."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    env = os.environ.get("CONTEXTURES_MEMORY_BUDGET")
    if env:
        return parse_bytes(env)
    return available_memory() // 2


def resolve_budget(budget: str | int | float | None) -> int:
    """``None`` means the default budget; anything else is parsed."""
    return default_budget() if budget is None else parse_bytes(budget)


def format_bytes(n: float) -> str:
    """Human-readable size, e.g. ``3.2 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_allocation(nbytes: float, budget: int | str | None, what: str) -> None:
    """Raise :class:`MemoryBudgetError` before allocating ``nbytes`` over ``budget``.

    Call this before every dense allocation of n x n or larger. ``budget`` may be anything
    :func:`resolve_budget` reads (bytes, ``"8G"``, None for the default).
    """
    limit = resolve_budget(budget)
    if nbytes > limit:
        raise MemoryBudgetError(
            f"{what} needs {format_bytes(nbytes)}, over the memory budget of "
            f"{format_bytes(limit)} (set CONTEXTURES_MEMORY_BUDGET or memory_budget to change it)"
        )


def fits(nbytes: float, budget: int | str | None) -> bool:
    """Whether ``nbytes`` fits in the budget (read as in :func:`check_allocation`)."""
    limit = resolve_budget(budget)
    return nbytes <= limit


def traced_peak(fn) -> int:
    """Peak bytes Python's allocators (numpy's included) hold while ``fn()`` runs, measured by
    :mod:`tracemalloc` after a garbage collection (memory outside Python's allocators, such as
    Arrow's pool, is not seen)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
