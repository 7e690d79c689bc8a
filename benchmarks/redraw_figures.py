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

from contextures.experiments.mixing import plot_mixing
from contextures.reports.files import write_text
from contextures.reports.summaries import mixing_table

RESULTS = Path(__file__).resolve().parent / "results"


def redraw_mixing(folder: Path) -> None:
    summary = json.loads((folder / "summary.json").read_text())
    write_text(folder / "table.md", mixing_table(summary))
    plot_mixing(summary, folder / "mixing.png")


def main() -> None:
    redraw_mixing(RESULTS / "mixing-offline")


if __name__ == "__main__":
    main()
