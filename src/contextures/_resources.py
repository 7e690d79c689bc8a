"""The CPU and memory this process may use: its CPU affinity mask and its control group's limits.

``os.cpu_count()`` counts the machine's cores, not the ones a process may run on. Under
``taskset -c 0`` or in a container limited to two CPUs of a 64-core host it is wrong, and every
pool sized from it oversubscribes the cores it has. The same holds for memory: ``/proc/meminfo``
describes the host, while a container is killed at its control group's ``memory.max``.

- :func:`available_cores`: the CPUs of the affinity mask (``os.sched_getaffinity``), capped by the
  control group's CPU quota rounded up (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``); at least 1.
- :func:`cgroup_memory_limit`: the smallest ``memory.max`` (v2) or ``memory.limit_in_bytes`` (v1)
  on the path from this process's control group up to the root of its hierarchy, or None.
- :func:`cgroup_memory_available`: that limit minus what the group uses, page cache that the
  kernel reclaims first (``inactive_file``) counted as free, or None without a limit.
- :func:`check_threads`: a requested thread count, range-checked against those cores.

The control group is the one ``/proc/self/cgroup`` names, found under the mount points listed in
``/proc/self/mountinfo`` (both paths are module attributes, so tests can point them at a fake
tree). Every file that cannot be read counts as "no limit": on platforms without control groups
the functions fall back to the affinity mask and the host's memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PROC_CGROUP = "/proc/self/cgroup"
PROC_MOUNTINFO = "/proc/self/mountinfo"
_UNLIMITED = 1 << 60   # v1 writes "no limit" as a page-aligned 2^63 − 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(folder: Path, v2_name: str, v1_name: str) -> int | None:
    """The integer in ``folder/v2_name`` (cgroup v2), else in ``folder/v1_name`` (v1), else None
    (no such file, or a value such as "max")."""
    text = _read(folder / v2_name)
    if text is None:
        text = _read(folder / v1_name)
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _mounts() -> list[tuple[str, Path, str, set[str]]]:
    """(root, mount point, file system type, super options) of every cgroup mount."""
    text = _read(Path(PROC_MOUNTINFO))
    if not text:
        return []
    mounts = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3:
            continue
        fstype = rest[0]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append((fields[3], Path(fields[4]), fstype, set(rest[2].split(","))))
    return mounts


def _group_dirs(controller: str) -> list[Path]:
    """Directories of this process's control group for ``controller`` (``cpu`` or ``memory``),
    from its own group up to the root of the hierarchy: a v2 group first, then a v1 one."""
    text = _read(Path(PROC_CGROUP))
    if not text:
        return []
    mounts = _mounts()
    found: list[Path] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, group = parts
        if hierarchy == "0" and controllers == "":
            candidates = [m for m in mounts if m[2] == "cgroup2"]
        elif controller in controllers.split(","):
            candidates = [m for m in mounts if m[2] == "cgroup" and controller in m[3]]
        else:
            continue
        for root, point, _, _ in candidates:
            if root == "/":
                rel = group
            elif group == root or group.startswith(root.rstrip("/") + "/"):
                rel = group[len(root.rstrip("/")):]
            else:            # a container whose own group is mounted as the hierarchy's root
                rel = "/"
            here = point / rel.lstrip("/")
            if not here.is_dir():
                here = point
            chain = []
            while True:
                chain.append(here)
                if here == point or point not in here.parents:
                    break
                here = here.parent
            found.extend(chain)
            break
    return found


def cgroup_cpu_quota() -> float | None:
    """CPUs the control group may use (quota / period, the smallest on the path), or None."""
    best: float | None = None
    for folder in _group_dirs("cpu"):
        quota = period = None
        v2 = _read(folder / "cpu.max")
        if v2 is not None:
            words = v2.split()
            if len(words) == 2 and words[0] != "max":
                quota, period = words
        else:
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        try:
            q, p = int(quota), int(period)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if q > 0 and p > 0:
            best = q / p if best is None else min(best, q / p)
    return best


def available_cores() -> int:
    """CPUs this process may run on: the affinity mask capped by the CPU quota (rounded up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity masks
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, math.ceil(quota - 1e-9))
    return max(1, int(cores))


def _memory_limit_dir() -> tuple[int, Path] | None:
    best = None
    for folder in _group_dirs("memory"):
        limit = _read_int(folder, "memory.max", "memory.limit_in_bytes")
        if limit is None:
            continue                 # "max", or no file at this level
        if 0 < limit < _UNLIMITED and (best is None or limit < best[0]):
            best = (limit, folder)
    return best


def cgroup_memory_limit() -> int | None:
    """The control group's memory limit in bytes (the smallest on the path), or None."""
    found = _memory_limit_dir()
    return None if found is None else found[0]


def cgroup_memory_available() -> int | None:
    """Bytes the control group may still allocate (limit − usage + inactive page cache)."""
    found = _memory_limit_dir()
    if found is None:
        return None
    limit, folder = found
    usage = _read_int(folder, "memory.current", "memory.usage_in_bytes")
    if usage is None:
        return limit
    inactive = 0
    stat = _read(folder / "memory.stat") or ""
    for line in stat.splitlines():
        key, _, value = line.partition(" ")
        if key in ("inactive_file", "total_inactive_file"):
            try:
                inactive = int(value)
            except ValueError:
                continue
            if key == "total_inactive_file":
                break
    return max(0, limit - max(0, usage - inactive))


def check_threads(value, name: str = "threads", *, limit: int | None = None) -> int | None:
    """A thread count: None (the default) or -1 (every available core), or an integer in
    [1, ``limit``]; ``limit`` defaults to :func:`available_cores`. A larger count is refused
    before any pool is sized from it (a thread pool of 10⁹ threads aborts the process)."""
    from .exceptions import ParameterError

    if value is None or (value == -1 and not isinstance(value, bool)):
        return value
    cap = available_cores() if limit is None else int(limit)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
        if hasattr(value, "__index__") and not isinstance(value, bool):
            value = value.__index__()   # numpy integers
            if 1 <= value <= cap:
                return int(value)
        raise ParameterError(f"{name} must be an integer in [1, {cap}] (the cores this process "
                             f"may use) or -1 for all of them, got {value!r}")
    return int(value)
