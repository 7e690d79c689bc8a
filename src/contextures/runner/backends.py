"""Where cells run: in this process, in loky processes (joblib), or on a dask.distributed cluster.

Each backend is a generator that takes :class:`~contextures.runner.cells.CellTask` objects
and yields their records as they complete, in completion order. Records come back to the calling
process, which writes them; a worker never touches the output directory (so a remote dask
cluster need not share a file system with the client). Closing the generator (Ctrl-C, an error in
the caller) stops the backend and releases its processes.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from .. import _resources
from ..exceptions import GridBackendError, ParameterError
from .cells import CellTask, execute_cell, make_record

_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity mask capped by its control group's CPU
    quota (:func:`contextures._resources.available_cores`)."""
    return _resources.available_cores()


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that cap BLAS/OpenMP (and torch) threads in a new worker process."""
    return {name: str(threads) for name in _THREAD_ENV_VARS}


def run_serial(tasks: Sequence[CellTask]) -> Iterator[dict[str, Any]]:
    """Run the cells one after the other in this process."""
    for task in tasks:
        yield execute_cell(task)


def run_joblib(tasks: Sequence[CellTask], workers: int, threads: int) -> Iterator[dict[str, Any]]:
    """Run the cells on ``workers`` loky processes, each with ``threads`` BLAS/OpenMP threads."""
    from joblib import Parallel, delayed, parallel_config
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    with parallel_config(backend="loky", inner_max_num_threads=threads):
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=1,
                            pre_dispatch="2*n_jobs")
        try:
            with warnings.catch_warnings():
                # on Ctrl-C joblib warns that in-flight tasks were cancelled: that is the point
                warnings.filterwarnings("ignore", message=r".*tasks which were still being "
                                        "processed by the workers have been cancelled")
                yield from parallel(delayed(execute_cell)(task) for task in tasks)
        except TerminatedWorkerError as exc:
            raise GridBackendError(
                "a joblib worker process died while running a cell (killed, out of memory or a "
                f"crash in native code: {exc}); finished cells are kept, rerun to resume, or run "
                "with fewer workers") from exc


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ParameterError("backend='dask' needs dask.distributed; install it with "
                             "pip install 'contextures[dask]'") from exc
    return distributed


def _unreachable(address: str, timeout: float, exc: BaseException) -> str:
    if isinstance(exc, OSError | TimeoutError | ValueError | TypeError):
        what = f"cannot reach the dask scheduler at {address!r} within {timeout:g} s"
    else:  # something answered, but not in the dask protocol
        what = f"the service at {address!r} did not answer as a dask scheduler"
    return (f"{what} ({type(exc).__name__}: {exc}); check the address (e.g. tcp://host:8786) "
            "and that the scheduler is running, or omit --scheduler to start a local cluster")


def _refuse_if_nothing_listens(address: str, timeout: float) -> None:
    """For a ``tcp://HOST:PORT`` address, one plain TCP connection first: a refused connection
    (nothing listens on that port) fails at once, where dask's own connect retries until its
    timeout. Any other outcome is left to dask's probe."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=min(timeout, 5.0)):
            return
    except ConnectionRefusedError as exc:
        raise GridBackendError(_unreachable(address, timeout, exc)) from exc
    except (OSError, ValueError):
        return


def probe_scheduler(address: str, timeout: float) -> None:
    """Open and close one connection to a dask scheduler, or raise :class:`GridBackendError`.

    Done before creating the client so that a wrong address fails within ``timeout`` seconds
    (at once when nothing listens on a ``tcp://`` port) with one clear message, and no
    half-built client is left to complain when collected. The probe runs its own event loop in a
    helper thread, so it works under a running loop (notebooks).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect

    _refuse_if_nothing_listens(address, timeout)

    async def probe() -> None:
        comm = await connect(address, timeout=timeout)
        await comm.close()

    def run() -> None:
        asyncio.run(asyncio.wait_for(probe(), timeout + 1.0))

    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(run).result()
        except Exception as exc:
            raise GridBackendError(_unreachable(address, timeout, exc)) from exc


def run_dask(tasks: Sequence[CellTask], workers: int, threads: int, scheduler: str | None,
             connect_timeout: float) -> Iterator[dict[str, Any]]:
    """Run the cells on a dask.distributed cluster and yield records as they complete.

    With ``scheduler`` (an address such as ``tcp://host:8786``) the client connects to that
    cluster, failing with :class:`GridBackendError` after ``connect_timeout`` seconds when it is
    unreachable; the cell functions must be importable on its workers. Without it, a
    ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` is started for the
    run and closed after it. A cell whose worker dies repeatedly (dask's ``KilledWorker``) is
    recorded as failed and the others go on.
    """
    distributed = _import_distributed()
    cluster = None
    client = None
    futures: list[Any] = []
    try:
        if scheduler is not None:
            probe_scheduler(scheduler, connect_timeout)
            try:
                client = distributed.Client(scheduler, timeout=connect_timeout,
                                            set_as_default=False)
            except Exception as exc:
                raise GridBackendError(_unreachable(scheduler, connect_timeout, exc)) from exc
        else:
            try:
                cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                    env=thread_env(threads))
            except Exception as exc:
                raise GridBackendError(
                    f"could not start a local dask cluster of {workers} worker process(es) "
                    f"({type(exc).__name__}: {exc}); when calling run_grid from a script, put "
                    "the call under `if __name__ == '__main__':` (workers are spawned and "
                    "re-import the main module)") from exc
            client = distributed.Client(cluster, set_as_default=False)
        by_key = {}
        for task in tasks:
            future = client.submit(execute_cell, task, key=f"contextures-cell-{task.cell_id}",
                                   pure=False)
            futures.append(future)
            by_key[future.key] = task
        for future in distributed.as_completed(futures, loop=client.loop):
            try:
                record = future.result()
            except Exception as exc:  # the cell's worker died (KilledWorker) or was lost
                task = by_key[future.key]
                record = make_record(
                    task, status="failed", result=None,
                    error=f"{type(exc).__name__}: the dask worker running this cell died or was "
                          f"lost ({exc})",
                    trace=None, started_at=None, elapsed=float("nan"))
            future.release()
            yield record
    finally:
        if client is not None:
            if futures:
                try:
                    client.cancel(futures)
                except Exception:  # noqa: S110 - best effort while shutting down
                    pass
            client.close()
        if cluster is not None:
            cluster.close()
