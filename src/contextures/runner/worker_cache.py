"""A process-local memo for expensive precomputation shared by the cells a worker runs.

Many cells of a grid need the same expensive object (a dataset's split, its neighbour lists):
``worker_cache(("neighbours", "abalone", 30, seed), lambda: compute(...))`` computes it once per
worker process and hands the same object to the next cell that asks with an equal key.

The cache never changes results, provided the caller keeps its contract:

- the key names everything the value depends on, and the factory is a pure function of it (seed
  the factory from the key, never from global state), so a hit returns exactly what a miss would
  compute;
- values are treated as read-only. NumPy arrays (also inside tuples, lists and dicts) are made
  non-writeable when stored, so an accidental in-place change raises instead of leaking into the
  next cell.

It is explicitly per process: nothing is shared between workers or written to disk, and it holds
at most :data:`MAX_ENTRIES` values (least recently used first out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

MAX_ENTRIES = 8

_CACHE: OrderedDict[Hashable, Any] = OrderedDict()
_LOCK = threading.RLock()


def _freeze(value: Any) -> None:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple | list):
        for item in value:
            _freeze(item)
    elif isinstance(value, dict):
        for item in value.values():
            _freeze(item)


def worker_cache(key: Hashable, factory: Callable[[], T]) -> T:
    """Return the value cached under ``key`` in this process, computing ``factory()`` on a miss."""
    hash(key)  # an unhashable key is the caller's error: raise TypeError now
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = factory()
    _freeze(value)
    with _LOCK:
        if key in _CACHE:  # another thread computed it meanwhile; keep the first
            _CACHE.move_to_end(key)
            return _CACHE[key]
        _CACHE[key] = value
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return value


def clear_worker_cache() -> None:
    """Empty this process's cache."""
    with _LOCK:
        _CACHE.clear()


def worker_cache_size() -> int:
    """Number of values cached in this process."""
    with _LOCK:
        return len(_CACHE)
