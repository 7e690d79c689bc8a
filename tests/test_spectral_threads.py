"""The solvers' thread count: the environment override, and the count of busy other processes."""

import os
import subprocess
import sys
import time

import pytest

from contextures._resources import available_cores
from contextures.exceptions import ParameterError
from contextures.spectral import threads

linux_proc = pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs /proc")


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("CONTEXTURES_SOLVER_THREADS", "3")
    assert threads.default_threads() == 3
    for bad in ("two", "0"):
        monkeypatch.setenv("CONTEXTURES_SOLVER_THREADS", bad)
        with pytest.raises(ParameterError, match="CONTEXTURES_SOLVER_THREADS"):
            threads.default_threads()


@linux_proc
def test_a_busy_process_is_counted():
    before = threads.other_runnable_tasks(readings=9)
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        during = threads.other_runnable_tasks(readings=9)
    finally:
        spin.kill()
        spin.wait()
    assert during >= 1
    assert during >= before


@linux_proc
def test_own_threads_are_not_counted(monkeypatch):
    # this thread is running while it reads: it is one of the process's own running threads
    assert threads._own_running_threads() >= 1
    monkeypatch.setattr(threads, "_own_running_threads", lambda: 10**6)
    assert threads.other_runnable_tasks() == 0.0


def test_fallback_without_proc(monkeypatch):
    monkeypatch.delenv("CONTEXTURES_SOLVER_THREADS", raising=False)
    monkeypatch.setattr(threads, "_decided", None)
    monkeypatch.setattr(threads, "other_runnable_tasks", lambda: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (100.0, 100.0, 100.0))
    assert threads.default_threads(refresh=True) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.default_threads(refresh=True) == available_cores()


def test_the_count_is_kept_for_the_process(monkeypatch):
    """A load that changes between two solves does not change their thread count (it would
    change the BLAS rounding, hence the last bits of two fits with the same seed)."""
    monkeypatch.delenv("CONTEXTURES_SOLVER_THREADS", raising=False)
    monkeypatch.setattr(threads, "_decided", None)
    cores = available_cores()
    monkeypatch.setattr(threads, "other_runnable_tasks", lambda: 0.0)
    first = threads.default_threads()
    assert first == cores
    monkeypatch.setattr(threads, "other_runnable_tasks", lambda: float(10 * cores))
    assert threads.default_threads() == first
    assert threads.default_threads(refresh=True) == 1
