"""The grid runner under every study: cells, the grid, its backends and the worker cache.

- :class:`Cell`: one pure computation, ``fn(**config)``, named by a hash of (fn, config).
- :func:`run_grid`: run a list of cells into a directory, one atomic JSON record per cell,
  resumable after any interruption, on a serial, joblib or dask.distributed backend.
- :func:`load_results`, :func:`load_grid_config`: read a grid directory back.
- :func:`worker_cache`: a process-local memo for precomputation shared by cells on a worker.
- :class:`Study`, :func:`run_study`: the one skeleton of a study (settings with ``quick``,
  ``cells`` and ``protocol``; a cell function; ``summarize``; ``write_outputs``) and its driver.
"""

from .cells import Cell
from .grid import GridResult, GridSummary, run_grid
from .store import CorruptCellWarning, load_grid_config, load_results
from .study import RunInfo, Study, StudyResult, StudySettings, partition_records, run_study
from .worker_cache import clear_worker_cache, worker_cache

__all__ = [
    "Cell",
    "CorruptCellWarning",
    "GridResult",
    "GridSummary",
    "RunInfo",
    "Study",
    "StudyResult",
    "StudySettings",
    "clear_worker_cache",
    "load_grid_config",
    "load_results",
    "run_grid",
    "partition_records",
    "run_study",
    "worker_cache",
]
