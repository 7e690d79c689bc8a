"""The extension study on the study skeleton: cells, summary, report, resume, a failed load."""

from __future__ import annotations

import json

from contextures.experiments.extension import (
    ExtensionSettings,
    context_grid,
    run_extension_bench,
)


def test_extension_bench_writes_and_resumes(tmp_path):
    settings = ExtensionSettings(datasets=("sklearn:wine", "no_such_dataset"), max_rows=200,
                                 d0=16)
    lines: list[str] = []
    summary = run_extension_bench(tmp_path, settings, echo=lines.append, backend="serial",
                                  progress=False)
    assert any(line.startswith("no_such_dataset: not loaded") for line in lines)
    assert summary["cells"] == len(settings.cells()) == 7 and summary["failed"] == 0
    assert summary["settings"]["datasets"] == ["sklearn:wine", "no_such_dataset"]
    cells = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert [c["context"] for c in cells][:3] == ["knn(k=10)", "knn(k=30)", "knn(k=100)"]
    assert all("n_resolved" in c for c in cells) and any(c["n_resolved"] for c in cells)
    report = (tmp_path / "report.md").read_text()
    assert "| sklearn:wine |" in report
    # a complete directory only re-summarises: same summary
    again = run_extension_bench(tmp_path, settings, echo=lines.append, backend="serial",
                                progress=False)
    assert again == summary
    assert lines[-1].startswith("7 cells: 0 computed, 7 already done")


def test_context_grid_is_seven_contexts():
    import numpy as np

    grid = context_grid(np.random.default_rng(0).standard_normal((50, 3)))
    assert len(grid) == 7 and grid[0] == "knn(k=10)" and grid[3].startswith("rbf(gamma=")
