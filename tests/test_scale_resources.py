"""Cores and memory from the affinity mask and the control group, on fake cgroup trees."""

import os
import subprocess
import sys

import pytest

from contextures import _memory, _resources
from contextures.spectral import threads


def fake_tree(tmp_path, monkeypatch, *, v2: dict | None = None, v1: dict | None = None,
              group: str = "/job/task", parent: dict | None = None):
    """A /proc/self/cgroup, /proc/self/mountinfo and cgroup folders under tmp_path.

    ``v2``/``v1`` map file names to contents in the process's own group; ``parent`` the files of
    the group above it.
    """
    lines, mounts = [], []
    if v2 is not None:
        point = tmp_path / "unified"
        lines.append(f"0::{group}")
        mounts.append(f"40 31 0:38 / {point} rw,relatime - cgroup2 cgroup2 rw")
        files = {"": v2}
    if v1 is not None:
        point = tmp_path / "v1"
        lines.append(f"4:memory:{group}")
        lines.append(f"1:cpu,cpuacct:{group}")
        mounts.append(f"35 31 0:32 / {point} rw,relatime - cgroup cgroup rw,memory")
        mounts.append(f"32 31 0:29 / {point} rw,relatime - cgroup cgroup rw,cpu,cpuacct")
        files = {"": v1}
    own = point / group.lstrip("/")
    own.mkdir(parents=True)
    for name, text in files[""].items():
        (own / name).write_text(text)
    for name, text in (parent or {}).items():
        (own.parent / name).write_text(text)
    (tmp_path / "cgroup").write_text("\n".join(lines) + "\n")
    (tmp_path / "mountinfo").write_text("\n".join(mounts) + "\n")
    monkeypatch.setattr(_resources, "PROC_CGROUP", str(tmp_path / "cgroup"))
    monkeypatch.setattr(_resources, "PROC_MOUNTINFO", str(tmp_path / "mountinfo"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    return own


def test_v2_cpu_quota_caps_the_affinity_mask(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v2={"cpu.max": "150000 100000"})
    assert _resources.cgroup_cpu_quota() == 1.5
    assert _resources.available_cores() == 2        # 1.5 CPUs rounded up, below the 8 allowed


def test_v2_no_quota_leaves_the_affinity_mask(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v2={"cpu.max": "max 100000"})
    assert _resources.cgroup_cpu_quota() is None
    assert _resources.available_cores() == 8


def test_the_smallest_quota_on_the_path_wins(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v2={"cpu.max": "400000 100000"},
              parent={"cpu.max": "100000 100000"})
    assert _resources.available_cores() == 1


def test_v1_quota_and_memory_limit(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v1={"cpu.cfs_quota_us": "300000",
                                         "cpu.cfs_period_us": "100000",
                                         "memory.limit_in_bytes": str(2 * 1024**3),
                                         "memory.usage_in_bytes": str(1024**3),
                                         "memory.stat": "cache 5\ntotal_inactive_file 268435456\n"})
    assert _resources.available_cores() == 3
    assert _resources.cgroup_memory_limit() == 2 * 1024**3
    assert _resources.cgroup_memory_available() == 2 * 1024**3 - (1024**3 - 256 * 1024**2)


def test_v1_unlimited_values_are_no_limit(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v1={"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000",
                                         "memory.limit_in_bytes": "9223372036854771712"})
    assert _resources.cgroup_cpu_quota() is None and _resources.available_cores() == 8
    assert _resources.cgroup_memory_limit() is None
    assert _resources.cgroup_memory_available() is None


def test_memory_budget_reads_memory_max(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v2={"memory.max": str(4 * 1024**3),
                                         "memory.current": str(3 * 1024**3),
                                         "memory.stat": "anon 1\ninactive_file 1073741824\n"})
    monkeypatch.setattr(_memory, "host_available_memory", lambda: 64 * 1024**3)
    monkeypatch.delenv("CONTEXTURES_MEMORY_BUDGET", raising=False)
    assert _resources.cgroup_memory_limit() == 4 * 1024**3
    assert _memory.available_memory() == 2 * 1024**3          # 4 G − (3 G − 1 G inactive cache)
    assert _memory.default_budget() == 1024**3
    # a host with less free memory than the group allows: the host's figure
    monkeypatch.setattr(_memory, "host_available_memory", lambda: 1024**3)
    assert _memory.available_memory() == 1024**3


def test_a_parent_limit_applies_and_max_means_none(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v2={"memory.max": "max", "memory.current": "0"},
              parent={"memory.max": str(512 * 1024**2), "memory.current": str(128 * 1024**2)})
    assert _resources.cgroup_memory_limit() == 512 * 1024**2
    assert _resources.cgroup_memory_available() == 384 * 1024**2


def test_a_container_whose_group_is_the_mount_root(tmp_path, monkeypatch):
    """In a container, /proc/self/cgroup names the host's path while the mount's root is it."""
    point = tmp_path / "unified"
    point.mkdir()
    (point / "cpu.max").write_text("100000 100000")
    (tmp_path / "cgroup").write_text("0::/docker/abc\n")
    (tmp_path / "mountinfo").write_text(
        f"40 31 0:38 /docker/abc {point} rw - cgroup2 cgroup2 rw\n")
    monkeypatch.setattr(_resources, "PROC_CGROUP", str(tmp_path / "cgroup"))
    monkeypatch.setattr(_resources, "PROC_MOUNTINFO", str(tmp_path / "mountinfo"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert _resources.available_cores() == 1


def test_no_cgroup_files_fall_back_to_the_mask(tmp_path, monkeypatch):
    monkeypatch.setattr(_resources, "PROC_CGROUP", str(tmp_path / "missing"))
    monkeypatch.setattr(_resources, "PROC_MOUNTINFO", str(tmp_path / "missing"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert _resources.available_cores() == 3
    assert _resources.cgroup_memory_limit() is None


def test_solver_threads_follow_the_quota(tmp_path, monkeypatch):
    fake_tree(tmp_path, monkeypatch, v2={"cpu.max": "100000 100000"})
    monkeypatch.delenv("CONTEXTURES_SOLVER_THREADS", raising=False)
    monkeypatch.setattr(threads, "_decided", None)
    monkeypatch.setattr(threads, "other_runnable_tasks", lambda: 0.0)
    assert threads.default_threads(refresh=True) == 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs affinity masks")
def test_one_cpu_affinity_gives_one_thread():
    """The process pinned to one CPU (as under ``taskset -c 0``) decides on one thread."""
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from contextures.spectral.threads import default_threads; "
            "from contextures.contexts.neighbors import default_search_threads; "
            "print(default_threads(), default_search_threads())")
    env = {k: v for k, v in os.environ.items() if k != "CONTEXTURES_SOLVER_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["1", "1"]
