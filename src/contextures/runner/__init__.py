"""The grid runner under every study: cells, the grid, its backends and the worker cache.

- :class:`Cell`: one pure computation, ``fn(**config)``, named by a hash of (fn, config).
- :func:`run_grid`: run a list of cells into a directory, one atomic JSON record per cell,
  resumable after any interruption, on a serial, joblib or dask.distributed backend.
- :func:`load_results`, :func:`load_grid_config`: read a grid directory back.
- :func:`worker_cache`: a process-local memo for precomputation shared by cells on a worker.
"""

from .worker_cache import clear_worker_cache, worker_cache
from .cells import Cell
from .grid import (
    CorruptCellWarning,
    GridResult,
    GridSummary,
    load_grid_config,
    load_results,
    run_grid,
)

__all__ = [
    "Cell",
    "CorruptCellWarning",
    "GridResult",
    "GridSummary",
    "clear_worker_cache",
    "load_grid_config",
    "load_results",
    "run_grid",
    "worker_cache",
]
