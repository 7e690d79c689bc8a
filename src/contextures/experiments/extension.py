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

The study runs on :func:`~contextures.runner.run_study` (:data:`EXTENSION`): one cell per
(dataset, context), resumable; ``summary.json``, ``report.md`` (written by
:func:`contextures.reports.summaries.extension_report`) and ``cells.jsonl`` (one line per cell)
are written from every recorded cell.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..contexts.distances import median_gamma
from ..datasets.suites import suite
from ..evaluation.scoring import score_context
from ..exceptions import ContexturesError
from ..reports.files import write_text
from ..reports.summaries import extension_report
from ..runner import Cell, Study, run_study
from .common import SummaryAndRecords, prepared_data

CELL_FN = "contextures.experiments.extension:extension_cell"
VARIANCE_BOUNDS = (0.25, 4.0)
MIN_COLUMNS, MIN_ROWS_FOR_COLUMNS = 16, 300
RATIO_LIMIT, RATIO_SHARE = 1.25, 0.9


def context_grid(X_pre: np.ndarray) -> list[str]:
    """The documented grid of KNN, RBF and masked contexts for one dataset's pretrain rows."""
    g = median_gamma(X_pre)
    return ["knn(k=10)", "knn(k=30)", "knn(k=100)", f"rbf(gamma={g:.6g})",
            f"rbf(gamma={g / 10:.6g})", "knn_mask(k=30,p=0.2,masks=20)",
            f"rbf_mask(gamma={g:.6g},p=0.2,masks=20)"]


@dataclass(frozen=True)
class ExtensionSettings:
    """Datasets (specs), rows per dataset, components and the split seed of the bench."""

    datasets: tuple[str, ...] = field(
        default_factory=lambda: tuple(m.spec for m in suite("offline")))
    max_rows: int = 4000
    d0: int = 128
    split_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "datasets", tuple(self.datasets))

    @classmethod
    def quick(cls, **overrides: Any) -> ExtensionSettings:
        """CI profile: abalone and wine, 1200 rows, d₀ = 32."""
        return replace(cls(datasets=("abalone", "sklearn:wine"), max_rows=1200, d0=32),
                       **overrides)

    def protocol(self) -> dict[str, Any]:
        """What grid.json records: everything but the datasets (a longer list reuses cells)."""
        return {"bench": "extension", "max_rows": self.max_rows, "d0": self.d0,
                "split_seed": self.split_seed}

    def plans(self) -> list[tuple[str, list[str] | None, str | None]]:
        """Per dataset: (spec, its context grid or None, why it did not load or None)."""
        return _plans(self)

    def cells(self) -> list[Cell]:
        """One cell per (dataset, context) of every dataset that loads."""
        return [Cell(f"{spec}/{context}", CELL_FN,
                     {"dataset": spec, "context": context, "max_rows": self.max_rows,
                      "d0": self.d0, "split_seed": self.split_seed})
                for spec, contexts, _ in self.plans() for context in contexts or ()]


@functools.cache
def _plans(settings: ExtensionSettings) -> list[tuple[str, list[str] | None, str | None]]:
    plans = []
    for spec in settings.datasets:
        try:
            data = prepared_data(spec, settings.split_seed, settings.max_rows)
        except ContexturesError as exc:
            plans.append((spec, None, str(exc)))
            continue
        plans.append((spec, context_grid(data.X_pre), None))
    return plans


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


def extension_cell(*, dataset: str, context: str, max_rows: int, d0: int,
                   split_seed: int) -> dict:
    """The grid cell: :func:`run_cell` on the cached prepared dataset; a library error is
    recorded in the cell (``error_message``) as a result, not as a failure of the run."""
    try:
        return run_cell(prepared_data(dataset, split_seed, max_rows), context, d0)
    except ContexturesError as exc:
        return {"error_message": str(exc)}


def describe(settings: ExtensionSettings) -> list[str]:
    return [f"{spec}: not loaded ({error})" for spec, _, error in settings.plans() if error]


def flat_records(records: list[dict]) -> list[dict]:
    """The cell records as ``{"dataset", "context", **result}`` (a failed cell: its message)."""
    flat = []
    for rec in records:
        cfg = rec["config"]
        result = rec["result"] if rec["status"] == "ok" else {"error_message": rec["error"]}
        flat.append({"dataset": cfg["dataset"], "context": cfg["context"], **result})
    return flat


def summarize(records: list[dict], settings: ExtensionSettings,
              run: Any = None) -> SummaryAndRecords:
    """The three targets over the recorded cells, and the settings."""
    flat = flat_records(records)
    summary = summarize_cells(flat)
    summary["settings"] = {**asdict(settings), "datasets": list(settings.datasets)}
    return SummaryAndRecords(summary, flat)


def write_outputs(summary: SummaryAndRecords, out_dir: str | Path) -> list[Path]:
    """``summary.json``, ``report.md`` and ``cells.jsonl`` (one line per cell)."""
    out = Path(out_dir)
    lines = "".join(json.dumps(r) + "\n" for r in summary.records)
    return [write_text(out / "summary.json", json.dumps(summary.data, indent=2) + "\n"),
            write_text(out / "report.md", extension_report(summary.data, summary.records)),
            write_text(out / "cells.jsonl", lines)]


EXTENSION = Study("extension", ExtensionSettings, summarize, write_outputs, describe=describe)


def run_extension_bench(out: Path, settings: ExtensionSettings,
                        echo: Callable[[str], None] = print, **runner: Any) -> dict:
    """:func:`~contextures.runner.run_study` of :data:`EXTENSION`; returns the summary."""
    return run_study(EXTENSION, settings, out, echo=echo, **runner).summary.data


def summarize_cells(records: list[dict]) -> dict:
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
