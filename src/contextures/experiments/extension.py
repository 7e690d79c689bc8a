"""How the stable out-of-sample extension behaves on rows it was not fitted on.

For each dataset and each context of a fixed grid, fit :class:`~contextures.spectral.Contexture`
(d₀ = min(128, n − 2) components) on the pretrain rows, transform the downstream-train and test
rows, and record:

- ``n_resolved``: the components ``transform`` returns (resolved on held-out rows);
- ``var_min``, ``var_max``: the range of their variances on the test rows (≈ 1 when the extension
  carries the in-sample unit variance over to new rows);
- the ridge probe on the returned columns (:func:`~contextures.evaluation.scoring.score_context`:
  standardised regression targets, α and d by a 5-fold cross-validation of the downstream-train
  rows): ``error`` = min_d err_d on the test rows (the best test error), ``error_at_d_val`` = the
  test error at the cross-validated d, and ``ratio`` = error_at_d_val / error.

The grid (per dataset; γ_med = 1 / median squared distance of the pretrain rows): ``knn(k=10)``,
``knn(k=30)``, ``knn(k=100)``, ``rbf(gamma=γ_med)``, ``rbf(gamma=γ_med/10)``,
``knn_mask(k=30,p=0.2,masks=20)`` and ``rbf_mask(gamma=γ_med,p=0.2,masks=20)``.

Cells are appended to ``cells.jsonl`` as they finish (flushed and synced), so an interrupted run
resumes where it stopped; ``summary.json`` and ``report.md`` are written from all recorded cells.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..contexts.distances import median_gamma
from ..datasets import prepare
from ..datasets.suites import suite
from ..evaluation.scoring import score_context
from ..exceptions import ContexturesError

VARIANCE_BOUNDS = (0.25, 4.0)
MIN_COLUMNS, MIN_ROWS_FOR_COLUMNS = 16, 300
RATIO_LIMIT, RATIO_SHARE = 1.25, 0.9


def context_grid(X_pre: np.ndarray) -> list[str]:
    """The documented grid of KNN, RBF and masked contexts for one dataset's pretrain rows."""
    g = median_gamma(X_pre)
    return ["knn(k=10)", "knn(k=30)", "knn(k=100)", f"rbf(gamma={g:.6g})",
            f"rbf(gamma={g / 10:.6g})", "knn_mask(k=30,p=0.2,masks=20)",
            f"rbf_mask(gamma={g:.6g},p=0.2,masks=20)"]


@dataclass
class ExtensionSettings:
    """Datasets (specs), rows per dataset, components and the split seed of the bench."""

    datasets: list[str] = field(default_factory=lambda: [m.spec for m in suite("offline")])
    max_rows: int = 4000
    d0: int = 128
    split_seed: int = 0

    @classmethod
    def quick(cls) -> ExtensionSettings:
        return cls(datasets=["abalone", "sklearn:wine"], max_rows=1200, d0=32)


def run_cell(prepared, spec: str, d0: int) -> dict:
    """One (dataset, context) cell: resolved columns, their test variances and the probe ratio
    (the probe of :func:`~contextures.evaluation.scoring.score_context`)."""
    n = prepared.X_pre.shape[0]
    d = min(d0, n - 2)
    start = time.perf_counter()
    score = score_context(spec, prepared, d0=d, random_state=0)
    F_test = score.model.transform(prepared.X_test)
    record = {"n_pretrain": n, "d0": d, "n_resolved": score.n_resolved,
              "var_min": None, "var_max": None, "error": None, "error_at_d_val": None,
              "ratio": None, "d_val": None, "d_star": None}
    if F_test.shape[1]:
        v = F_test.var(axis=0)
        record.update(var_min=float(v.min()), var_max=float(v.max()))
    if score.probe is not None:
        err, honest = score.err, score.err_at_d_val
        record.update(error=err, error_at_d_val=honest, ratio=honest / err if err > 0 else 1.0,
                      d_val=score.d_val, d_star=score.d_star)
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def _append(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue    # a line cut by an interruption: that cell runs again
    return records


def run_extension_bench(out: Path, settings: ExtensionSettings,
                        echo: Callable[[str], None] = print) -> dict:
    """Run every missing cell, then write ``summary.json`` and ``report.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cells_path = out / "cells.jsonl"
    done = {(r["dataset"], r["context"]) for r in _read(cells_path)}
    for spec in settings.datasets:
        try:
            prepared = prepare(spec, split_seed=settings.split_seed, max_rows=settings.max_rows)
        except ContexturesError as exc:
            echo(f"{spec}: not loaded ({exc})")
            continue
        for context in context_grid(prepared.X_pre):
            if (spec, context) in done:
                continue
            try:
                record = run_cell(prepared, context, settings.d0)
            except ContexturesError as exc:
                record = {"error_message": str(exc)}
            record = {"dataset": spec, "context": context, **record}
            _append(cells_path, record)
            echo(f"{spec} {context}: {record.get('n_resolved')} resolved, test variance "
                 f"{record.get('var_min')}–{record.get('var_max')}, ratio {record.get('ratio')}")
    records = _read(cells_path)
    summary = summarize(records)
    summary["settings"] = asdict(settings)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report(summary, records), encoding="utf-8")
    return summary


def summarize(records: list[dict]) -> dict:
    """The three targets over the recorded cells."""
    ok = [r for r in records if "error_message" not in r]
    lo, hi = VARIANCE_BOUNDS
    with_cols = [r for r in ok if r["n_resolved"]]
    in_bounds = [r for r in with_cols if r["var_min"] >= lo and r["var_max"] <= hi]
    big = [r for r in ok if r["n_pretrain"] >= MIN_ROWS_FOR_COLUMNS]
    enough = [r for r in big if r["n_resolved"] >= min(MIN_COLUMNS, r["d0"])]
    ratios = [r["ratio"] for r in ok if r.get("ratio") is not None]
    good_ratio = [x for x in ratios if x <= RATIO_LIMIT]
    return {
        "cells": len(records), "failed": len(records) - len(ok),
        "cells_with_columns": len(with_cols),
        "variance_within_bounds": len(in_bounds),
        "variance_bounds": list(VARIANCE_BOUNDS),
        "cells_n_at_least_300": len(big), "with_at_least_16_columns": len(enough),
        "cells_with_probe": len(ratios), "ratio_at_most_1.25": len(good_ratio),
        "share_ratio_at_most_1.25": len(good_ratio) / len(ratios) if ratios else None,
        "median_ratio": float(np.median(ratios)) if ratios else None,
        "median_resolved": float(np.median([r["n_resolved"] for r in ok])) if ok else None,
        "outside_bounds": [f"{r['dataset']} {r['context']}" for r in with_cols
                           if r not in in_bounds],
        "too_few_columns": [f"{r['dataset']} {r['context']} ({r['n_resolved']})" for r in big
                            if r not in enough],
    }


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def report(summary: dict, records: list[dict]) -> str:
    """Markdown: the targets, then one row per cell."""
    lines = [
        "# The stable extension on held-out rows",
        "",
        f"- cells: {summary['cells']} ({summary['failed']} failed)",
        f"- every returned column's test variance within [1/4, 4]: "
        f"{summary['variance_within_bounds']} of {summary['cells_with_columns']} cells",
        f"- at least 16 columns where n ≥ 300: {summary['with_at_least_16_columns']} of "
        f"{summary['cells_n_at_least_300']} cells",
        f"- validation-chosen / best test error ≤ 1.25: {summary['ratio_at_most_1.25']} of "
        f"{summary['cells_with_probe']} cells (median ratio {_fmt(summary['median_ratio'])})",
        "",
        "| dataset | context | n | d₀ | resolved | test variance | best error | error at d_val "
        "| ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "error_message" in r:
            lines.append(f"| {r['dataset']} | `{r['context']}` | failed: {r['error_message']} "
                         "| | | | | | |")
            continue
        lines.append(f"| {r['dataset']} | `{r['context']}` | {r['n_pretrain']} | {r['d0']} | "
                     f"{r['n_resolved']} | {_fmt(r['var_min'])}–{_fmt(r['var_max'])} | "
                     f"{_fmt(r['error'])} | {_fmt(r['error_at_d_val'])} | {_fmt(r['ratio'])} |")
    return "\n".join(lines) + "\n"
