"""Summarise the datasets of an unfinished ``bench correlation --suite offline`` run whose cells
are all recorded, with the study's own summary and writers.

    python benchmarks/correlation_partial.py RUN_DIR OUT_DIR

RUN_DIR is the run's output directory (its ``cells/`` are read, never written); OUT_DIR receives
``summary.json``, ``cells.csv``, ``table.md`` and the per-dataset figures of the complete
datasets. A dataset counts when all 4 × 35 of its cells are recorded.
"""

import json
import sys
from dataclasses import replace
from pathlib import Path

from contextures.experiments.correlation import CORRELATION, CorrelationSettings


def main(run_dir: Path, out_dir: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted((run_dir / "cells").glob("*.json"))]
    settings = CorrelationSettings()
    per_dataset: dict[str, list[dict]] = {}
    for record in records:
        per_dataset.setdefault(record["config"]["dataset"], []).append(record)
    complete = tuple(e for e in settings.datasets
                     if len(per_dataset.get(e.spec, [])) == 4 * settings.strengths)
    settings = replace(settings, datasets=complete)
    kept = [r for e in complete for r in per_dataset[e.spec]]
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = CORRELATION.summarize(kept, settings)
    for path in CORRELATION.write_outputs(summary, out_dir):
        print("wrote", path)
    print(f"{len(complete)} complete datasets of the {len(per_dataset)} with cells; "
          f"{len(records)} cells recorded")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
