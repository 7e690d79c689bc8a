"""The grid runner under every benchmark: resumable, crash-safe, the same on every backend.

A grid is a list of :class:`~contextures.runner.cells.Cell` (pure functions of their
configurations) and an output directory::

    out_dir/
      grid.json            {"format": "contextures-grid", "config": <grid_config>, ...}
      cells/<cell_id>.json one record per finished cell (config, key, result, timing, status)

:func:`run_grid` writes each record atomically (temporary file, fsync, ``os.replace``) as soon as
the cell finishes, so the directory only ever holds complete records. A rerun reads back the
records already there and computes only the missing cells: after Ctrl-C, a crash or ``kill -9``,
rerunning the same command loses at most the cells that were in flight and never duplicates one
(a record's file name is its cell's identity). A cell that raises is recorded with status
``"failed"`` and its error message, and the others go on.

``grid.json`` holds the grid configuration the caller passes (suite, number of contexts, seeds,
code version...). Running into a directory whose configuration differs raises
:class:`~contextures.exceptions.ResultsConflictError` naming the differing keys, unless asked
otherwise with ``resume``:

- ``"auto"`` (default): same configuration → resume; different → refuse.
- ``"force"``: accept a different configuration: ``grid.json`` is rewritten and existing records
  of cells that are still in the grid (same function and same cell configuration) are reused.
  Only sound when the cell functions did not change; otherwise use ``"overwrite"``.
- ``"overwrite"``: delete every existing record and start afresh.

Backends (records come back to the calling process, which writes them):

- ``"serial"``: in this process.
- ``"joblib"``: ``workers`` loky processes. ``workers=1`` runs in this process, as ``"serial"``.
- ``"dask"``: the same cells on a ``dask.distributed`` cluster, at ``scheduler`` or on a
  ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` started and closed
  for the run. An unreachable scheduler raises
  :class:`~contextures.exceptions.GridBackendError` after ``connect_timeout`` seconds (at once
  when nothing listens on a ``tcp://`` port).

Example (``mybench.cells.tau_cell`` is a top-level function returning a dict)::

    from contextures.runner import Cell, run_grid

    cells = [Cell(f"{name}/{ctx}", "mybench.cells:tau_cell",
                  {"dataset": name, "context": ctx, "random_state": 0})
             for name in datasets for ctx in contexts]
    records, summary = run_grid(cells, "results/tau", workers=2,
                                grid_config={"suite": "offline", "contexts": len(contexts),
                                             "seed": 0, "code": "0.1.0"})

Scripts that use the ``joblib`` or ``dask`` backend must call :func:`run_grid` under
``if __name__ == "__main__":`` (worker processes are spawned and import the main module), and
cell functions must live in an importable module, not in the script itself.

Every cell runs with the same thread count on every backend and for any number of workers
(:func:`cell_threads`: ``threads_per_worker``, else ``$CONTEXTURES_SOLVER_THREADS``, else 1): its
BLAS/OpenMP pools and torch's are capped at it, and the spectral solvers use it. Results
therefore do not depend on the backend, the number of workers or the order of cells, provided
each cell seeds itself from its configuration. Floats survive the JSON round trip bit for bit
(shortest round-trip repr).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .._io import atomic_write_text, directory_lock, remove_temp_files
from ..exceptions import GridBackendError, ModelFileError, ParameterError, ResultsConflictError
from .backends import available_cores, run_dask, run_joblib, run_serial
from .cells import (
    Cell,
    CellTask,
    canonical_json,
    config_sha256,
    record_checksum,
    resolve_function,
)
from .store import (
    GRID_FILE,
    cell_path,
    cells_dir,
    describe_diff,
    diff_keys,
    load_grid_config,
    read_record,
    remove_records,
    set_aside,
    write_grid_file,
)

BACKENDS = ("serial", "joblib", "dask")
RESUME_MODES = ("auto", "force", "overwrite")


def check_backend(backend: str) -> None:
    """An unknown backend is a :class:`ParameterError` (commands call this before loading data)."""
    if backend not in BACKENDS:
        raise ParameterError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


@dataclass(frozen=True)
class GridSummary:
    """Counts of one :func:`run_grid` call.

    ``done``: cells computed now that succeeded; ``failed``: cells computed now that failed;
    ``skipped``: cells whose record was already on disk (not recomputed), ``skipped_failed`` of
    them holding a failure; ``total = done + failed + skipped``.
    """

    total: int
    done: int
    skipped: int
    failed: int
    skipped_failed: int
    elapsed_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GridResult(NamedTuple):
    """What :func:`run_grid` returns: the records in the order of the cells, and the counts."""

    records: list[dict[str, Any]]
    summary: GridSummary


# --- the runner ---------------------------------------------------------------------------------
def _check_cells(cells: Iterable[Cell]) -> list[Cell]:
    cells = list(cells)
    by_id: dict[str, Cell] = {}
    by_key: dict[str, Cell] = {}
    for cell in cells:
        if not isinstance(cell, Cell):
            raise ParameterError(f"a grid takes Cell objects, got {type(cell).__name__}")
        if cell.cell_id in by_id:
            raise ParameterError(f"cells {by_id[cell.cell_id].key!r} and {cell.key!r} are the same "
                                 "computation (same function and configuration)")
        if cell.key in by_key:
            raise ParameterError(f"two cells have the key {cell.key!r}; keys must be unique")
        by_id[cell.cell_id] = cell
        by_key[cell.key] = cell
    return cells


MAX_CELL_THREADS = 256


def cell_threads(threads_per_worker: int | None = None) -> int:
    """The BLAS/OpenMP/torch threads every cell runs with, whatever the number of workers:
    ``threads_per_worker`` when given, else ``$CONTEXTURES_SOLVER_THREADS``, else 1.

    It never follows the worker count: BLAS and the Krylov solvers round differently with another
    thread count, so a count of cores ÷ workers made ``workers=1`` and ``workers=2`` disagree.
    Parallelism comes from the workers.
    """
    if threads_per_worker is None:
        from ..spectral.threads import env_threads

        return env_threads() or 1
    if (not isinstance(threads_per_worker, int) or isinstance(threads_per_worker, bool)
            or not 1 <= threads_per_worker <= MAX_CELL_THREADS):
        raise ParameterError(f"threads_per_worker must be an integer in [1, {MAX_CELL_THREADS}], "
                             f"got {threads_per_worker!r}")
    return threads_per_worker


def _resolve_threads(backend: str, workers: int, scheduler: str | None,
                     threads_per_worker: int | None) -> tuple[int, int]:
    """(workers actually used, BLAS threads per cell)."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    used = 1 if backend == "serial" else workers
    local = not (backend == "dask" and scheduler is not None)
    cores = available_cores()
    threads = cell_threads(threads_per_worker)
    if local and used * threads > cores:
        warnings.warn(f"{used} worker(s) × {threads} thread(s) on {cores} core(s): cells will "
                      "compete for cores", RuntimeWarning, stacklevel=3)
    return used, threads


def _check_functions(cells: Sequence[Cell], backend: str) -> None:
    for name in sorted({cell.fn_name for cell in cells}):
        if name.startswith("__main__:") and backend != "serial":
            raise ParameterError(f"cell function {name!r} lives in the main script, which worker "
                                 "processes cannot import; move it to a module, or use "
                                 "backend='serial'")
        resolve_function(name)  # fail now, not once per cell


_AFRESH = ("--overwrite to start afresh (in Python: resume='overwrite', or resume='force' to "
           "reuse the matching cells)")


def _prepare_directory(out_dir: Path, config: dict[str, Any], resume: str) -> None:
    """Check or write grid.json, per the resume mode (the directory lock is held)."""
    grid_path = out_dir / GRID_FILE
    has_records = any(cells_dir(out_dir).glob("*.json"))
    if grid_path.exists():
        try:
            old = load_grid_config(out_dir)
        except ModelFileError as exc:
            if resume == "auto":
                raise ResultsConflictError(f"{exc}; use another output directory, or "
                                           f"{_AFRESH}") from exc
            old = None
        if old == config:
            if resume == "overwrite":
                remove_records(out_dir)
            return
        if resume == "auto":
            assert old is not None
            keys = diff_keys(old, config)
            raise ResultsConflictError(
                f"{str(out_dir)!r} holds results of a different configuration (differing keys: "
                f"{', '.join(keys)}; {describe_diff(old, config, keys)}); use another output "
                f"directory, or {_AFRESH}")
    elif has_records and resume == "auto":
        raise ResultsConflictError(
            f"{str(out_dir)!r} holds cell records but no {GRID_FILE}, so their configuration is "
            f"unknown; use another output directory, or {_AFRESH}")
    if resume == "overwrite":
        remove_records(out_dir)
    write_grid_file(out_dir, config)


def _existing_record(out_dir: Path, cell: Cell) -> dict[str, Any] | None:
    path = cell_path(out_dir, cell.cell_id)
    if not path.exists():
        return None
    try:
        record = read_record(path)
    except ModelFileError as exc:
        set_aside(path, str(exc))
        return None
    try:
        same_config = canonical_json(record["config"]) == cell.config_json
    except ParameterError:  # e.g. NaN in a hand-edited config
        same_config = False
    if record["fn"] != cell.fn_name or not same_config:
        set_aside(path, f"{path}: record of another computation under this cell's name")
        return None
    if record["key"] != cell.key:
        set_aside(path, f"{path}: record of cell {record['key']!r}, not of {cell.key!r}")
        return None
    return record


def _write_record(out_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in record.items() if k != "checksum"}
    record["config_sha256"] = config_sha256(canonical_json(record["config"]))
    record["checksum"] = record_checksum(record)
    text = json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_text(cell_path(out_dir, record["cell_id"]), text)
    return json.loads(text)  # exactly what a later run reads back


def run_grid(
    cells: Iterable[Cell],
    out_dir: str | os.PathLike[str],
    *,
    grid_config: Mapping[str, Any],
    workers: int = 1,
    backend: str = "joblib",
    scheduler: str | None = None,
    threads_per_worker: int | None = None,
    progress: bool = True,
    resume: str = "auto",
    retry_failed: bool = False,
    connect_timeout: float = 10.0,
    description: str = "cells",
) -> GridResult:
    """Run every cell not already finished in ``out_dir``; return all records and the counts.

    Parameters
    ----------
    cells : the grid; keys and identities must be unique.
    out_dir : the output directory (created if needed).
    grid_config : JSON-able description of the grid (suite, contexts, seeds, code version...),
        recorded in ``grid.json`` and compared on rerun.
    workers : parallel workers (processes) for ``"joblib"`` and a local ``"dask"`` cluster.
    backend : ``"serial"``, ``"joblib"`` or ``"dask"``.
    scheduler : dask scheduler address; ``None`` starts a local cluster (dask only).
    threads_per_worker : BLAS/OpenMP/torch (and solver) threads of every cell, whatever the
        number of workers (:func:`cell_threads`): default ``$CONTEXTURES_SOLVER_THREADS``, else 1.
    progress : show a progress bar (tqdm, on stderr) with done/skipped/failed counts.
    resume : ``"auto"``, ``"force"`` or ``"overwrite"`` (see the module docstring).
    retry_failed : recompute cells whose record holds a failure (default: keep them).
    connect_timeout : seconds to wait for a remote dask scheduler.
    description : label of the progress bar.

    Ctrl-C (``KeyboardInterrupt``) stops the run, keeps every finished record and propagates;
    rerun the same call to resume.
    """
    check_backend(backend)
    if resume not in RESUME_MODES:
        raise ParameterError(f"resume must be one of {', '.join(RESUME_MODES)}, got {resume!r}")
    if scheduler is not None and backend != "dask":
        raise ParameterError(f"a scheduler address only applies to backend='dask' "
                             f"(got backend={backend!r})")
    if not isinstance(grid_config, Mapping):
        raise ParameterError(f"grid_config must be a dict, got {type(grid_config).__name__}")
    if not (isinstance(connect_timeout, int | float) and connect_timeout > 0):
        raise ParameterError(f"connect_timeout must be positive, got {connect_timeout!r}")
    config = json.loads(canonical_json(grid_config, "grid_config"))
    cells = _check_cells(cells)
    used_workers, threads = _resolve_threads(backend, workers, scheduler, threads_per_worker)
    _check_functions(cells, backend)

    root = Path(out_dir)
    start = time.perf_counter()
    try:
        cells_dir(root).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ParameterError(f"output directory {str(root)!r} is not a directory") from exc
    with directory_lock(root):
        remove_temp_files(root)
        remove_temp_files(cells_dir(root))
        _prepare_directory(root, config, resume)

        records: dict[str, dict[str, Any]] = {}
        skipped_failed = 0
        pending: list[CellTask] = []
        for cell in cells:
            record = _existing_record(root, cell)
            if record is not None and not (retry_failed and record["status"] == "failed"):
                records[cell.cell_id] = record
                skipped_failed += record["status"] == "failed"
            else:
                pending.append(cell.task(threads))
        skipped = len(records)
        done = failed = 0

        if backend == "dask":
            stream: Iterator[dict[str, Any]] = run_dask(pending, used_workers, threads, scheduler,
                                                        float(connect_timeout))
        elif backend == "joblib" and used_workers > 1 and len(pending) > 1:
            stream = run_joblib(pending, used_workers, threads)
        else:
            stream = run_serial(pending)

        from tqdm.auto import tqdm

        bar = tqdm(total=len(cells), initial=skipped, desc=description, unit="cell",
                   disable=not progress or not cells, dynamic_ncols=True, leave=True)

        def show() -> None:
            bar.set_postfix(done=done, skipped=skipped, failed=failed + skipped_failed,
                            refresh=False)

        show()
        try:
            with contextlib.closing(stream):  # type: ignore[type-var]
                if pending:
                    for record in stream:
                        record = _write_record(root, record)
                        records[record["cell_id"]] = record
                        if record["status"] == "ok":
                            done += 1
                        else:
                            failed += 1
                        show()
                        bar.update(1)
        finally:
            bar.close()

    missing = [cell.key for cell in cells if cell.cell_id not in records]
    if missing:  # pragma: no cover - a backend lost cells without raising
        raise GridBackendError(f"the {backend} backend returned no result for {len(missing)} "
                               f"cell(s) (first: {missing[0]!r}); rerun to compute them")
    summary = GridSummary(total=len(cells), done=done, skipped=skipped, failed=failed,
                          skipped_failed=skipped_failed,
                          elapsed_seconds=time.perf_counter() - start)
    return GridResult([records[cell.cell_id] for cell in cells], summary)
