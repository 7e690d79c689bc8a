"""Progress of long computations, as lines on stderr: what runs, how far it is, how long is left.

The library is silent by default. A command line (or a user) turns reporting on for a block::

    with reporting():                      # stderr; reporting(False) keeps a block quiet
        Contexture("knn(k=30)", n_components=64).fit(X)

Inside such a block the long steps report themselves:

- the neighbour search (rows done of n),
- Krylov restarts (Ritz pairs converged of d, restarts done),
- matrix-free passes over the rows of a dense kernel (passes done),
- and :func:`say` prints one-off lines such as a solve's time estimate.

A step prints nothing during its first ``delay`` seconds (2 s), so short work stays quiet, and
then at most one line every ``interval`` seconds (5 s), plus a last line when it ends. Lines read
``contextures: <step>: <done>/<total> <unit> (<percent>), <elapsed> s[, about <left> s left]``,
the remaining time extrapolated from the fraction done. Updates may come from several threads.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

DELAY = 2.0
INTERVAL = 5.0

_stream: ContextVar[TextIO | None] = ContextVar("progress_stream", default=None)
# a flag shared with worker threads (a ContextVar set in one thread is not seen in a new one)
_global: list[TextIO | None] = [None]


@contextmanager
def reporting(enabled: bool = True, stream: TextIO | None = None):
    """Report progress (on ``stream``, default stderr) inside the block; ``enabled=False`` keeps
    the block quiet even inside an enclosing reporting block."""
    target = (stream or sys.stderr) if enabled else None
    token = _stream.set(target)
    previous = _global[0]
    _global[0] = target
    try:
        yield
    finally:
        _stream.reset(token)
        _global[0] = previous


def active_stream() -> TextIO | None:
    """Where progress goes now (None: nowhere)."""
    stream = _stream.get()
    return stream if stream is not None else _global[0]


def enabled() -> bool:
    return active_stream() is not None


def say(message: str) -> None:
    """Print ``contextures: message`` when reporting is on."""
    stream = active_stream()
    if stream is not None:
        print(f"contextures: {message}", file=stream, flush=True)


def _seconds(value: float) -> str:
    if value < 100:
        return f"{value:.0f} s"
    if value < 6000:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


class Progress:
    """One long step: call :meth:`update` with the amount done (thread-safe), then :meth:`close`.

    Made by :func:`task`; a no-op when reporting is off.
    """

    def __init__(self, what: str, total: float, unit: str = "", *, stream: TextIO | None,
                 delay: float = DELAY, interval: float = INTERVAL):
        self.what, self.total, self.unit = what, float(total), unit
        self.stream = stream
        self.delay, self.interval = delay, interval
        self.start = time.perf_counter()
        self.done = 0.0
        self.detail = ""
        self.printed = False
        self._last = self.start
        self._lock = threading.Lock()

    def _line(self, now: float) -> str:
        elapsed = now - self.start
        total = f"/{self.total:.0f}" if self.total > 0 else ""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total > 0 else ""
        left = ""
        if 0 < self.done < self.total:
            left = f", about {_seconds(elapsed * (self.total - self.done) / self.done)} left"
        unit = f" {self.unit}" if self.unit else ""
        detail = f"; {self.detail}" if self.detail else ""
        return (f"contextures: {self.what}: {self.done:.0f}{total}{unit}{share}, "
                f"{_seconds(elapsed)}{left}{detail}")

    def update(self, done: float | None = None, *, advance: float = 0.0, detail: str | None = None,
               total: float | None = None) -> None:
        """Set the amount done (or ``advance`` it), optionally a detail text or a new total."""
        if self.stream is None:
            return
        with self._lock:
            if total is not None:
                self.total = float(total)
            self.done = float(done) if done is not None else self.done + advance
            if detail is not None:
                self.detail = detail
            now = time.perf_counter()
            if now - self.start >= self.delay and now - self._last >= self.interval * (
                    1 if self.printed else 0):
                print(self._line(now), file=self.stream, flush=True)
                self.printed = True
                self._last = now

    def close(self) -> None:
        """A last line (only when the step printed before, so short steps stay silent)."""
        if self.stream is None:
            return
        with self._lock:
            if self.printed:
                now = time.perf_counter()
                print(self._line(now) + ", done", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def task(what: str, total: float, unit: str = "", **kwargs) -> Progress:
    """A :class:`Progress` for a step of ``total`` units (silent when reporting is off)."""
    return Progress(what, total, unit, stream=active_stream(), **kwargs)
