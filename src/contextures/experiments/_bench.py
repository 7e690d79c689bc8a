"""The common driver of the benches: run a grid of cells, report the counts, write the outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..runner import Cell


def run_bench(out_dir: str | Path, cells: Sequence[Cell], protocol: dict[str, Any],
              write_outputs: Callable[[Path, list], dict[str, Any]], *, description: str,
              workers: int = 1, backend: str = "joblib", scheduler: str | None = None,
              threads_per_worker: int | None = None, resume: str = "auto",
              retry_failed: bool = False, progress: bool = True,
              echo: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Run ``cells`` on the grid runner in ``out_dir`` (resumable), then ``write_outputs(out,
    records)``; returns its summary with the run's counts under ``"run"``."""
    from ..runner import run_grid

    out = Path(out_dir)
    records, counts = run_grid(cells, out, grid_config=protocol, workers=workers,
                               backend=backend, scheduler=scheduler,
                               threads_per_worker=threads_per_worker, resume=resume,
                               retry_failed=retry_failed, progress=progress,
                               description=description)
    if echo is not None:
        echo(f"{counts.total} cells: {counts.done} computed, {counts.skipped} already done, "
             f"{counts.failed + counts.skipped_failed} failed ({counts.elapsed_seconds:.0f} s)")
    summary = write_outputs(out, records)
    summary["run"] = counts.as_dict()
    return summary

