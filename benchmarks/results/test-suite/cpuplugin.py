"""A pytest plugin that appends, per test, its node id, CPU seconds (this process and its
waited-for children) and wall seconds to cpu-per-test.jsonl: ``python -m pytest -p cpuplugin``
with this folder on PYTHONPATH."""

import json
import resource
import time

import pytest

OUT = "cpu-per-test.jsonl"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _cpu(), time.perf_counter()
    yield
    with open(OUT, "a") as f:
        f.write(json.dumps([item.nodeid, _cpu() - cpu, time.perf_counter() - wall]) + "\n")
