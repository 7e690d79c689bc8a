"""Summarise the datasets of an unfinished `bench correlation --suite offline` run whose 140 cells
are all recorded, with the study's own summary and writers (run with the code that made the cells
on PYTHONPATH). Usage: python summarise_partial.py RUN_DIR OUT_DIR"""

import json
import sys
from pathlib import Path

from contextures.experiments.correlation import (
    CorrelationSettings, plan_dataset, resolve_datasets, summarise, write_outputs)

run_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
records = [json.loads(p.read_text()) for p in sorted((run_dir / "cells").glob("*.json"))]
settings = CorrelationSettings()
done = {}
for r in records:
    done.setdefault(r["config"]["dataset"], []).append(r)
entries = [e for e in resolve_datasets(suite="offline")
           if len(done.get(e.spec, [])) == 4 * settings.strengths]
plans = [plan_dataset(e, settings) for e in entries]
keep = [r for e in entries for r in done[e.spec]]
out_dir.mkdir(parents=True, exist_ok=True)
summary = summarise(plans, keep, settings, elapsed_seconds=float("nan"))
summary["partial"] = {"datasets_complete": [e.name for e in entries],
                      "cells_recorded": len(records)}
for path in write_outputs(out_dir, plans, keep, summary, settings):
    print("wrote", path)
