"""One skeleton for every study: settings, cells, a summary, output files, and one driver.

A study is four pieces and the driver :func:`run_study` that joins them:

1. **Settings**, a frozen dataclass that fixes every cell (:class:`StudySettings`):

   - ``Settings.quick(**overrides)``: the CI profile (small, a minute or so, no network);
   - ``settings.cells()``: the grid, a list of :class:`~contextures.runner.Cell`;
   - ``settings.protocol()``: a JSON-able description of the run, recorded in ``grid.json``
     and compared when the run resumes (what is *not* in it, e.g. a list of seeds, may grow
     between runs in the same directory and the finished cells are reused).

2. **A cell function**, top level in an importable module, ``fn(**config) -> dict`` of JSON
   values, seeded from its configuration only (see :mod:`contextures.runner.cells`).

3. ``summarize(records, settings, run=None) -> summary``: a pure function of the cell records
   (and the settings); ``run`` (:class:`RunInfo`) holds the counts and the wall time of the
   run when the summary should report them, and is ``None`` when a summary is rebuilt from
   saved records. The summary is whatever the writers need: usually the ``summary.json``
   dictionary, or a small object holding it beside the records.

4. ``write_outputs(summary, out_dir) -> list[Path]``: every file of the study (JSON, CSV,
   markdown through :mod:`contextures.reports`, figures), written atomically; returns the paths.

The four are bundled in a :class:`Study`, and ::

    result = run_study(MY_STUDY, MySettings.quick(), "results/my-study", workers=2)

runs the cells not yet finished in the directory on :func:`~contextures.runner.run_grid`
(resumable after any interruption; serial, joblib or dask), summarises every record and writes
the outputs. A rerun over a complete directory computes nothing: it only re-summarises and
rewrites the outputs, which is how figures are redrawn after a change to a writer.

Layering: this module belongs to :mod:`contextures.runner`, which knows nothing of any study;
studies (:mod:`contextures.experiments`) define settings, cells, ``summarize`` and
``write_outputs`` (drawing and formatting through :mod:`contextures.reports`), and the command
line (:mod:`contextures.cli`) builds the settings from its options and calls :func:`run_study`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..exceptions import DataError, ParameterError
from .cells import Cell
from .grid import GridSummary, run_grid


@runtime_checkable
class StudySettings(Protocol):
    """What :func:`run_study` needs from a study's settings (a frozen dataclass, by convention).

    ``quick`` is a classmethod returning the CI profile, ``cells`` the grid, and ``protocol``
    the JSON-able description recorded in ``grid.json``.
    """

    def cells(self) -> list[Cell]: ...

    def protocol(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RunInfo:
    """The run a summary is built after: the grid's counts and the wall time of the whole run
    (planning, cells and summary), in seconds."""

    grid: GridSummary
    elapsed_seconds: float

    def counts(self) -> dict[str, Any]:
        """``{"computed", "reused", "failed", "seconds"}``, the block a summary records."""
        g = self.grid
        return {"computed": g.done, "reused": g.skipped, "failed": g.failed + g.skipped_failed,
                "seconds": round(self.elapsed_seconds, 1)}


def partition_records(records: Sequence[Mapping[str, Any]], fields: Sequence[str] = ()
                      ) -> tuple[list[Mapping[str, Any]], list[dict[str, Any]]]:
    """The successful cell records, and the failed ones as ``{field: config[field], …,
    "error": …}`` (``{"key": …, "error": …}`` when no field is named), both in record order."""
    ok, failed = [], []
    for rec in records:
        if rec.get("status") == "ok":
            ok.append(rec)
            continue
        where = ({f: rec["config"][f] for f in fields} if fields else {"key": rec.get("key")})
        failed.append({**where, "error": rec.get("error")})
    return ok, failed


@dataclass(frozen=True)
class Study:
    """A study: its name, settings class, summary and writers (see the module docstring).

    name : short name, used in the progress bar (``"<name> cells"``).
    settings : the settings class (with ``quick``, ``cells`` and ``protocol``).
    summarize : ``summarize(records, settings, run=None) -> summary``.
    write_outputs : ``write_outputs(summary, out_dir) -> list[Path]``.
    describe : optional ``describe(settings) -> list[str]``, lines echoed before the grid runs
        (what will be done per dataset, say).
    """

    name: str
    settings: type
    summarize: Callable[..., Any]
    write_outputs: Callable[[Any, Path], Sequence[Path]]
    describe: Callable[[Any], Sequence[str]] | None = None


@dataclass
class StudyResult:
    """What :func:`run_study` returns."""

    summary: Any
    records: list[dict[str, Any]]
    grid: GridSummary
    written: list[Path]

    def counts_line(self) -> str:
        """One line: computed, reused and failed cells, and the wall time of the grid."""
        g = self.grid
        return (f"{g.total} cells: {g.done} computed, {g.skipped} already done, "
                f"{g.failed + g.skipped_failed} failed ({g.elapsed_seconds:.0f} s)")


def run_study(study: Study, settings: Any, out_dir: str | os.PathLike[str], *,
              workers: int = 1, backend: str = "joblib", scheduler: str | None = None,
              threads_per_worker: int | None = None, resume: str = "auto",
              retry_failed: bool = False, progress: bool = True,
              echo: Callable[[str], Any] | None = None) -> StudyResult:
    """Run ``study`` with ``settings`` into ``out_dir``: cells, summary, outputs.

    Parameters
    ----------
    study : the :class:`Study`.
    settings : an instance of ``study.settings``.
    out_dir : the output directory (``grid.json`` and ``cells/`` of the grid runner, and the
        study's own files).
    workers, backend, scheduler, threads_per_worker, resume, retry_failed, progress : passed to
        :func:`~contextures.runner.run_grid` (``resume="auto"`` refuses a directory holding
        another protocol; ``"overwrite"`` starts afresh).
    echo : where to print the study's description and the cell counts (None: silent).

    A run over a directory whose cells are all finished only re-summarises and rewrites. A study
    without a single successful cell (every dataset failed to load, or every cell failed) writes
    its outputs and then raises :class:`~contextures.exceptions.DataError` (exit code 3).
    """
    if not isinstance(study, Study):
        raise ParameterError(f"run_study takes a Study, got {type(study).__name__}")
    if not isinstance(settings, study.settings):
        raise ParameterError(f"the {study.name} study takes {study.settings.__name__}, got "
                             f"{type(settings).__name__}")
    start = time.perf_counter()
    say = echo or (lambda _line: None)
    if study.describe is not None:
        for line in study.describe(settings):
            say(line)
    out = Path(out_dir)
    cells = settings.cells()
    protocol = settings.protocol()
    if not isinstance(protocol, Mapping):
        raise ParameterError(f"{study.settings.__name__}.protocol() must return a dict")
    records, counts = run_grid(cells, out, grid_config=protocol, workers=workers,
                               backend=backend, scheduler=scheduler,
                               threads_per_worker=threads_per_worker, resume=resume,
                               retry_failed=retry_failed, progress=progress,
                               description=f"{study.name} cells")
    result = StudyResult(None, records, counts, [])
    say(result.counts_line())
    result.summary = study.summarize(records, settings,
                                     run=RunInfo(counts, time.perf_counter() - start))
    result.written = list(study.write_outputs(result.summary, out))
    if not any(record.get("status") == "ok" for record in records):
        # the outputs say why (which datasets failed to load, each cell's error); the run failed
        raise DataError(f"the {study.name} study produced no result: every cell failed or none "
                        f"could be built (no dataset loaded); see {out}")
    return result
