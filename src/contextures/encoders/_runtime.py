"""Where and how torch runs: device choice, thread control, seeding and deterministic mode.

Everything here is scoped: :func:`torch_runtime` sets the number of threads (torch and the BLAS
libraries seen by threadpoolctl) and the deterministic-algorithms flag for the duration of a
``with`` block and restores the previous values afterwards, so fitting an encoder never changes
the global state of the caller's process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .. import _resources
from .._resources import check_threads
from ..exceptions import ParameterError

DTYPE = torch.float32


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity mask capped by its control group's CPU
    quota (:func:`contextures._resources.available_cores`)."""
    return _resources.available_cores()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None → CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given."""
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"device must be 'auto', 'cpu' or 'cuda[:i]', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} was requested but CUDA is not available here")
    if dev.type not in ("cpu", "cuda"):
        raise ParameterError(f"device must be 'auto', 'cpu' or 'cuda[:i]', got {device!r}")
    return dev


def resolve_threads(n_threads: int | None) -> int:
    """``None`` or ``-1`` → every available core; otherwise an integer in [1, available cores]
    (:func:`contextures._resources.check_threads`)."""
    n_threads = check_threads(n_threads, "n_threads")
    if n_threads is None or n_threads == -1:
        return available_cores()
    return n_threads


@contextlib.contextmanager
def torch_runtime(n_threads: int | None, deterministic: bool = True) -> Iterator[None]:
    """Run the block with ``n_threads`` threads and (optionally) deterministic algorithms.

    Both settings, and the flush-to-zero mode for denormal floats (a large speed-up for saturated
    Tanh networks on CPU, with no effect on results above 1e-38), are restored on exit.
    """
    threads = resolve_threads(n_threads)
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    flushed = torch.set_flush_denormal(True)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        if flushed:
            torch.set_flush_denormal(False)


def check_seed(random_state) -> int:
    """A reproducible integer seed from ``random_state`` (None → a fresh random seed)."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ParameterError(f"random_state must be None, an int or a numpy Generator, "
                             f"got {random_state!r}")
    if random_state < 0:
        raise ParameterError(f"random_state must be non-negative, got {random_state}")
    return int(random_state)


def to_tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device`` from an array."""
    return torch.as_tensor(np.array(a, dtype=np.float32, order="C"), device=device)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """float64 array from a tensor (detached, on CPU)."""
    return t.detach().to("cpu", torch.float64).numpy()
