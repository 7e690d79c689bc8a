"""Redraw the studies' figures and reports under benchmarks/results/ from their saved outputs.

Where a study's raw cell records are kept (``cells/``), rerunning its command over the directory
re-summarises without computing anything. The directories below keep only the summary (and a
CSV of the cells), so their figures and markdown are redrawn from those files with the studies'
own writers: no number changes, only the drawing.

    python benchmarks/redraw_figures.py
"""

from __future__ import annotations

import json
from pathlib import Path

from contextures.experiments import alignment, estimation
from contextures.experiments.mixing import plot_mixing
from contextures.reports.files import write_text
from contextures.reports.summaries import mixing_table

RESULTS = Path(__file__).resolve().parent / "results"


def redraw_mixing(folder: Path) -> None:
    summary = json.loads((folder / "summary.json").read_text())
    write_text(folder / "table.md", mixing_table(summary))
    plot_mixing(summary, folder / "mixing.png")


def redraw_from_summary(study, folder: Path, keep: tuple[str, ...]) -> None:
    """Rewrite a study's report and figures from its summary.json with the study's writer,
    keeping ``keep`` (the summary and the CSV of the cells) byte for byte."""
    summary = json.loads((folder / "summary.json").read_text())
    saved = {name: (folder / name).read_bytes() for name in keep}
    study.write_outputs(study.SummaryAndRecords(summary, []), folder)
    for name, content in saved.items():
        (folder / name).write_bytes(content)


def main() -> None:
    redraw_mixing(RESULTS / "mixing-offline")
    redraw_from_summary(alignment, RESULTS / "alignment", ("summary.json", "cells.csv"))
    redraw_from_summary(estimation, RESULTS / "estimation", ("summary.json", "cells.csv"))


if __name__ == "__main__":
    main()
