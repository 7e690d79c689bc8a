"""The correlation study of [ICML §5.3]: does τ predict the exact encoder's error?

Protocol, per dataset:

1. Load and split pretrain / downstream-train / test (70/15/15, seeded by ``split_seed``); a
   dataset with more than ``max_rows`` rows is first capped to ``max_rows`` (seeded).
2. The fitting rows: the pretrain rows, or, when there are more than ``n_fit``, a seeded uniform
   subsample of ``n_fit`` of them. d₀ = min(``d0``, n_fit − 2) (τ needs s_{d+1} for d ≤ d₀ − 1).
3. For each of the 4 × N contexts (:mod:`~contextures.experiments.strengths`; N = 35 gives the
   paper's 140), :func:`~contextures.evaluation.scoring.score_context` (the one scoring function
   of the project): the exact top-d₀ spectrum on the fitting rows, τ (β = 1) and
   d̂ = argmin_d τ_d, and two ridge probes on the downstream rows (α chosen by a 5-fold
   cross-validation of downstream-train, error on test: MSE of the standardised target, one-hot
   MSE for classification):

   - the paper's: all d₀ raw Nyström columns, err_{d*} = min_d test error (``err_paper``);
   - the label-honest one: the stable columns (components resolved on held-out rows, a
     ``check_folds``-fold cross-fit on at most ``check_rows`` fitting rows) with d chosen by the
     same cross-validation (``err_at_d_val``).
4. Across the contexts, side by side (:data:`PROTOCOLS`): the paper's protocol (Pearson, Spearman
   and distance correlation of τ and err_{d*} over every context with a finite τ, as the paper
   correlates all 140), the same over the contexts τ ranks (abstentions, τ ≥ 0.95 (β + 1),
   excluded: their τ can be astronomically large and dominate a Pearson coefficient), and the
   label-honest variants. Selection quality: the error of τ's pick (lowest τ among the ranked
   contexts), of a random pick (the mean over contexts) and of the fixed default knn(k≈30), each
   divided by the best context's error.

Each (dataset, context) pair is one grid cell (:func:`correlation_cell`, a pure function of its
configuration), so the study runs on the grid runner: resumable, one record per cell, on joblib
or dask. Per-dataset work (the split arrays, the fitting sample, neighbour lists and distance
matrices) is shared by a worker's cells through :func:`~contextures.experiments.worker_cache`.

The study runs on :func:`~contextures.runner.run_study` (:data:`CORRELATION`); the datasets
and plans are in :mod:`~contextures.experiments.correlation_plan`, the summary in
:mod:`~contextures.experiments.correlation_summary`, the table in
:mod:`contextures.reports.summaries`. Outputs in the output directory: ``grid.json`` and
``cells/`` (the runner), ``summary.json``, ``cells.csv`` (every cell), ``figures/<dataset>.png``
(τ against err_{d*}, coloured by family) and ``table.md`` (every protocol per dataset, beside the
paper's Table 1 where the datasets match).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ParameterError, SpecError
from ..reports.figures import tau_error_scatter
from ..reports.files import write_text
from ..reports.records import csv_text, json_safe
from ..reports.summaries import correlation_table
from ..runner import Cell, Study
from .correlation_plan import (
    OFFLINE_TO_PAPER,
    PAPER_SUMMARY,
    PAPER_TABLE1,
    QUICK_DATASETS,
    DatasetEntry,
    DatasetPlan,
    paper_dataset,
    paper_values,
    plan_dataset,
    resolve_datasets,
)
from .correlation_summary import PROTOCOLS, summarise
from .encoding import context_cache, current_blas_threads, fitting_sample, load_prepared
from .strengths import DEFAULT_STRENGTHS, FAMILIES, MASK_COUNT, MASK_P, family_of

__all__ = [
    "CORRELATION", "OFFLINE_TO_PAPER", "PAPER_SUMMARY", "PAPER_TABLE1", "PROTOCOLS",
    "QUICK_DATASETS", "CorrelationSettings", "CorrelationSummary", "DatasetEntry", "DatasetPlan",
    "correlation_cell", "json_safe", "paper_dataset", "resolve_datasets", "summarize",
    "write_outputs",
]

BENCH_NAME = "correlation"
BENCH_VERSION = 1

DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3)
"""Ridge strengths of the probe (a subset of the evaluation default, for cost: see BENCHMARKS)."""


# --- settings -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorrelationSettings:
    """Everything that fixes the study's cells (recorded in ``grid.json``).

    strengths : N per family (4 N contexts per dataset).
    n_fit : cap on the fitting rows (a seeded subsample of the pretrain rows beyond it).
    max_rows : cap on a dataset's rows before the split (bounds the extension and probe cost);
        None keeps every row.
    d0 : components of the exact encoder and τ's cut-off (lowered to n_fit − 2 when needed).
    beta : τ's β.
    split_seed, fit_seed : seeds of the 70/15/15 split and of the fitting subsample.
    alphas : ridge strengths of the probe.
    solver : eigensolver spec (``dense``: one ``eigh`` of M, the fastest for n ≤ ~3000).
    families, mask_p, masks : the context families and the masking of the masked ones.
    """

    strengths: int = DEFAULT_STRENGTHS
    n_fit: int = 1500
    max_rows: int | None = 6000
    d0: int = 512
    beta: float = 1.0
    split_seed: int = 0
    fit_seed: int = 0
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    solver: str = "dense"
    families: tuple[str, ...] = FAMILIES
    mask_p: float = MASK_P
    masks: int = MASK_COUNT
    check_folds: int = 3
    check_rows: int = 1000
    datasets: tuple[DatasetEntry, ...] = field(default_factory=lambda: tuple(resolve_datasets()))

    def __post_init__(self) -> None:
        def positive_int(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(f"{name} must be an integer ≥ {low}, got {value!r}")

        positive_int("strengths", 1)
        positive_int("n_fit", 8)
        positive_int("d0", 2)
        positive_int("masks", 1)
        positive_int("check_folds", 2)
        positive_int("check_rows", 8)
        if self.max_rows is not None:
            positive_int("max_rows", 20)
        if not (isinstance(self.beta, int | float) and self.beta > 0):
            raise ParameterError(f"beta must be positive, got {self.beta!r}")
        if not self.alphas or any(not (isinstance(a, int | float) and a > 0)
                                  for a in self.alphas):
            raise ParameterError(f"alphas must be positive numbers, got {self.alphas!r}")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ParameterError(f"unknown context families {unknown}; choose among "
                                 f"{', '.join(FAMILIES)}")
        if not 0 <= self.mask_p < 1:
            raise ParameterError(f"mask_p must be in [0, 1), got {self.mask_p!r}")
        object.__setattr__(self, "datasets", tuple(self.datasets))
        if not self.datasets:
            raise SpecError("no datasets to run")

    @classmethod
    def quick(cls, **overrides: Any) -> CorrelationSettings:
        """The ``--quick`` profile: abalone, breast_cancer and diabetes (no network), 4 strengths
        per family, n_fit = 300, d₀ = 64, ≤ 1000 rows."""
        base = {"strengths": 4, "n_fit": 300, "max_rows": 1000, "d0": 64,
                "datasets": tuple(resolve_datasets(quick=True))}
        return cls(**{**base, **overrides})

    def as_config(self) -> dict[str, Any]:
        """The settings that fix every cell (``summary.json``'s ``settings``): all but the
        datasets."""
        config = asdict(self)
        del config["datasets"]
        config["alphas"] = [float(a) for a in self.alphas]
        config["families"] = list(self.families)
        return config

    def protocol(self) -> dict[str, Any]:
        """What grid.json records: the datasets and the settings."""
        return {"bench": BENCH_NAME, "bench_version": BENCH_VERSION,
                "datasets": [[d.name, d.spec, d.task] for d in self.datasets],
                "settings": self.as_config()}

    def plans(self) -> list[DatasetPlan]:
        """What is done per dataset (loaded once per settings and process)."""
        return _plans(self)

    def cells(self) -> list[Cell]:
        """One cell per (dataset, context) of every dataset that loaded, dataset by dataset."""
        return build_cells(self.plans(), self)



@functools.cache
def _plans(settings: CorrelationSettings) -> list[DatasetPlan]:
    return [plan_dataset(entry, settings) for entry in settings.datasets]


# --- the cell -----------------------------------------------------------------------------------
def correlation_cell(*, dataset: str, task: str | None, split_seed: int, max_rows: int | None,
                     n_fit: int, fit_seed: int, context: str, d0: int, beta: float,
                     alphas: list[float], solver: str, max_k: int, check_folds: int = 3,
                     check_rows: int = 1000) -> dict[str, Any]:
    """One (dataset, context) cell: :func:`~contextures.evaluation.scoring.score_context` with
    the paper's probe on all d₀ raw columns beside the probe on the stable columns.

    ``max_k`` (the family's largest k) only sizes the shared neighbour lists; it changes no
    result. ``timing`` is the only part of the result that varies between runs.
    """
    from ..evaluation.scoring import score_context

    start = time.perf_counter()
    cpu_start = time.process_time()
    data = load_prepared(dataset, task, split_seed, max_rows)
    key = (dataset, task, split_seed, max_rows)
    X_fit = fitting_sample(data, n_fit, fit_seed, key)
    cache = context_cache((*key, n_fit, fit_seed), X_fit, max_k=max_k)
    t_data = time.perf_counter()
    score = score_context(context, data, d0=d0, beta=beta, alphas=alphas, X_fit=X_fit,
                          cache=cache, solver=solver, random_state=0, probe=True,
                          raw_probe=True, n_jobs=current_blas_threads(), folds=check_folds,
                          check_rows=check_rows)
    end = time.perf_counter()
    record = score.record()
    raw = score.raw_probe
    record.update({
        "dataset": dataset,
        "family": family_of(context),
        "d0": int(d0),
        # the paper's protocol: the probe on all d₀ raw Nyström columns, d* chosen on test rows
        "err_paper": float(raw.error),
        "d_star_paper": int(raw.d_star),
        "err_paper_at_d_hat": float(raw.errors[score.tau_result.d - 1]),
        "accuracy_paper": raw.accuracy_at_d_star,
        "n_train": int(data.X_train.shape[0]),
        "n_test": int(data.X_test.shape[0]),
        "singular_values": [float(format(v, ".7g")) for v in score.singular_values],
        "timing": {"data": t_data - start, **score.seconds, "total": end - start,
                   "cpu": time.process_time() - cpu_start},
    })
    return record


def build_cells(plans: Sequence[DatasetPlan], settings: CorrelationSettings) -> list[Cell]:
    """One cell per (dataset, context) of every planned dataset, dataset by dataset."""
    fn = f"{__name__}:correlation_cell"
    cells = []
    for plan in plans:
        if plan.status != "ok":
            continue
        ks = [int(m.group(1)) for spec in plan.contexts
              for m in [re.match(r"knn(?:_mask)?\(k=(\d+)", spec)] if m]
        max_k = max(ks) if ks else 0
        for spec in plan.contexts:
            config = {
                "dataset": plan.entry.spec, "task": plan.entry.task,
                "split_seed": settings.split_seed, "max_rows": settings.max_rows,
                "n_fit": settings.n_fit, "fit_seed": settings.fit_seed, "context": spec,
                "d0": plan.d0, "beta": float(settings.beta),
                "alphas": [float(a) for a in settings.alphas], "solver": settings.solver,
                "max_k": max_k, "check_folds": settings.check_folds,
                "check_rows": settings.check_rows,
            }
            cells.append(Cell(f"{plan.entry.name}/{spec}", fn, config))
    return cells



# --- summary and outputs -------------------------------------------------------------------------
@dataclass
class CorrelationSummary:
    """``data`` (written to summary.json), and the records and plans the CSV and figures need."""

    data: dict[str, Any]
    records: list[dict[str, Any]]
    plans: list[DatasetPlan]


def describe(settings: CorrelationSettings) -> list[str]:
    """One line per dataset: what is fitted where, or why it failed to load."""
    return [f"{p.entry.name}: {p.protocol(settings)}; {len(p.contexts)} contexts"
            if p.status == "ok" else
            f"{p.entry.name}: FAILED to load ({p.error}); the other datasets continue"
            for p in settings.plans()]


def summarize(records: Sequence[dict[str, Any]], settings: CorrelationSettings,
              run: Any = None) -> CorrelationSummary:
    """The summary of every protocol per dataset and over datasets (see
    :func:`~contextures.experiments.correlation_summary.summarise`), with the run's counts."""
    plans = settings.plans()
    data = summarise(plans, records, settings,
                     elapsed_seconds=None if run is None else run.elapsed_seconds)
    if run is not None:
        data["grid"] = run.grid.as_dict()
    return CorrelationSummary(data, list(records), plans)


CSV_COLUMNS = ("dataset", "family", "context", "status", "tau", "d_hat", "abstain",
               "err_paper", "d_star_paper", "err_paper_at_d_hat", "n_resolved", "err_at_d_val",
               "d_val", "err", "d_star", "err_at_d_hat", "accuracy_at_d_val", "decay_rate", "s1",
               "d0", "n_fit", "n_train", "n_test", "solver", "elapsed_seconds", "error")


def cells_csv(records: Sequence[dict[str, Any]]) -> str:
    """Every cell as one CSV row (columns :data:`CSV_COLUMNS`)."""
    rows = []
    for record in records:
        result = record.get("result") or {}
        name, _, context = record["key"].partition("/")
        row = {column: result.get(column) for column in CSV_COLUMNS}
        row.update({"dataset": name, "context": context, "family": family_of(context),
                    "status": record["status"], "elapsed_seconds": record.get("elapsed_seconds"),
                    "error": record.get("error")})
        rows.append(row)
    return csv_text(CSV_COLUMNS, rows)


def dataset_figure(rows: Sequence[dict[str, Any]], entry: dict[str, Any], task: str | None,
                   path: Path) -> Path:
    """τ against err_{d*} for one dataset's contexts (the paper's protocol)."""
    pr = entry["protocols"]
    title = (f"{entry['name']}: τ against the probe error, paper protocol\n"
             f"(Pearson {_fmt2(pr['paper']['pearson'])}, Spearman "
             f"{_fmt2(pr['paper']['spearman'])}; {entry['n_abstained']} of "
             f"{entry['n_contexts']} contexts abstained)")
    label = ("err_{d*} (one-hot MSE)" if task == "classification"
             else "err_{d*} (MSE of the standardised target)")
    return tau_error_scatter(rows, path, title=title, error_key="err_paper", error_label=label)


def write_outputs(summary: CorrelationSummary, out_dir: str | Path,
                  figures: bool = True) -> list[Path]:
    """summary.json, cells.csv, table.md and the per-dataset figures; returns the paths written."""
    out = Path(out_dir)
    records = summary.records
    written = [
        write_text(out / "summary.json",
                   json.dumps(json_safe(summary.data), indent=2, allow_nan=False) + "\n"),
        write_text(out / "cells.csv", cells_csv(records)),
        write_text(out / "table.md", correlation_table(summary.data, paper_values)),
    ]
    if figures:
        by_dataset: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            if record["status"] == "ok":
                by_dataset.setdefault(record["key"].split("/", 1)[0], []).append(record["result"])
        entries = {d["name"]: d for d in summary.data["datasets"]}
        for plan in summary.plans:
            rows = by_dataset.get(plan.entry.name)
            if rows:
                path = out / "figures" / f"{_file_name(plan.entry.name)}.png"
                written.append(dataset_figure(rows, entries[plan.entry.name], plan.task, path))
    return written


def _fmt2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


CORRELATION = Study("correlation", CorrelationSettings, summarize, write_outputs,
                    describe=describe)
