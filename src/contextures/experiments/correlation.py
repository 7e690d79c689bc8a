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

Outputs in the output directory: ``grid.json`` and ``cells/`` (the runner), ``summary.json``,
``cells.csv`` (every cell), ``figures/<dataset>.png`` (τ against err_{d*}, coloured by family)
and ``table.md`` (every protocol per dataset, beside the paper's Table 1 where the datasets
match).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ParameterError, SpecError
from ..reports.files import write_text
from ..runner import Cell
from .encoding import (
    context_cache,
    current_blas_threads,
    fitting_sample,
    load_prepared,
)
from ..runner import run_grid
from .statistics import distance_correlation, pearson, spearman
from .strengths import DEFAULT_STRENGTHS, FAMILIES, MASK_COUNT, MASK_P, family_of, strength_grid

BENCH_NAME = "correlation"
BENCH_VERSION = 1

DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3)
"""Ridge strengths of the probe (a subset of the evaluation default, for cost: see BENCHMARKS)."""

QUICK_DATASETS = ("abalone", "sklearn:breast_cancer", "sklearn:diabetes")
"""The ``--quick`` profile's datasets: bundled or shipped with scikit-learn (no network)."""

PAPER_TABLE1 = {
    # the paper's dataset name -> (Pearson, distance correlation), [ICML] Table 1
    "abalone": (0.028, 0.470), "diabetes": (0.737, 0.740), "Wine": (-0.084, 0.212),
    "credit-approval": (0.583, 0.683), "cmc": (0.867, 0.860), "splice": (0.831, 0.801),
    "kr-vs-kp": (0.543, 0.512), "spambase": (0.775, 0.858), "mushroom": (0.185, 0.340),
    "breast-w": (0.072, 0.255), "health_insurance": (0.601, 0.749),
    "cps88wages": (0.250, 0.479),
}
OFFLINE_TO_PAPER = {
    # offline-suite dataset name -> the paper's Table 1 dataset (the manifest's paper_table1)
    "abalone": "abalone", "diabetes": "diabetes", "wine_quality_red": "Wine",
    "credit_approval": "credit-approval", "cmc": "cmc", "splice": "splice",
    "kr_vs_kp": "kr-vs-kp", "spambase": "spambase", "mushroom": "mushroom",
    # MASS/biopsy is breast-w (699 × 9); sklearn's breast_cancer is WDBC (569 × 30), other data.
    # Ecdat/HI is the paper's 22 272-row regression table; AER's HealthInsurance is another one.
    "biopsy": "breast-w", "HI": "health_insurance",
    "CPS1988": "cps88wages",
}
PAPER_SUMMARY = {"pearson_mean": 0.431, "pearson_median": 0.587, "dcor_mean": 0.611,
                 "dcor_median": 0.659, "n_datasets": 28}


def paper_dataset(spec: str) -> str | None:
    """The paper's Table 1 dataset that a dataset spec loads, or None.

    Matched by spec, not by name (``sklearn:diabetes`` is not the paper's Pima ``diabetes``):
    the offline suite's specs map through :data:`OFFLINE_TO_PAPER`, the paper28 suite's OpenML
    task specs to their own names.
    """
    from ..datasets import suite

    for member in suite("offline"):
        if member.spec == spec:
            return OFFLINE_TO_PAPER.get(member.name)
    for member in suite("paper28"):
        if member.spec == spec:
            return member.name if member.name in PAPER_TABLE1 else None
    return None


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

    @classmethod
    def quick(cls, **overrides: Any) -> CorrelationSettings:
        """The ``--quick`` profile: 4 strengths per family, n_fit = 300, d₀ = 64, ≤ 1000 rows."""
        base = cls(strengths=4, n_fit=300, max_rows=1000, d0=64)
        return replace(base, **overrides)

    def as_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["alphas"] = [float(a) for a in self.alphas]
        config["families"] = list(self.families)
        return config


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset of the study: its short name, spec and (optional) known task."""

    name: str
    spec: str
    task: str | None = None


def _short_name(spec: str) -> str:
    body = spec.split(":", 1)[1] if ":" in spec else spec
    body = body.split(":", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", body.rsplit("/", 1)[-1]).strip("_")
    return name or "dataset"


def resolve_datasets(*, suite: str | None = None, data: Sequence[str] = (),
                     quick: bool = False) -> list[DatasetEntry]:
    """The datasets of a run: a suite, explicit specs, or the quick profile's three.

    ``suite`` and ``data`` are exclusive; with neither, ``quick`` picks :data:`QUICK_DATASETS`
    and otherwise the ``offline`` suite is used. ``--quick`` with a suite keeps its first 3.
    """
    from ..datasets import suite as get_suite

    if suite is not None and data:
        raise ParameterError("give either --suite or --data, not both")
    if data:
        entries = [DatasetEntry(_short_name(s), s) for s in data]
    elif suite is not None:
        members = get_suite(suite)
        entries = [DatasetEntry(m.name, m.spec, m.task) for m in members]
        if quick:
            entries = entries[:3]
    elif quick:
        entries = [DatasetEntry(_short_name(s), s) for s in QUICK_DATASETS]
    else:
        entries = [DatasetEntry(m.name, m.spec, m.task) for m in get_suite("offline")]
    seen: dict[str, int] = {}
    unique = []
    for entry in entries:
        count = seen.get(entry.name, 0)
        seen[entry.name] = count + 1
        unique.append(entry if count == 0 else replace(entry, name=f"{entry.name}_{count + 1}"))
    return unique


# --- planning: per dataset, in the calling process ----------------------------------------------
@dataclass
class DatasetPlan:
    """What the study does with one dataset (or why it cannot)."""

    entry: DatasetEntry
    status: str = "ok"
    error: str | None = None
    task: str | None = None
    n_rows: int = 0
    n_pretrain: int = 0
    n_fit: int = 0
    n_train: int = 0
    n_test: int = 0
    d0: int = 0
    specs: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def contexts(self) -> list[str]:
        return [spec for family in self.specs.values() for spec in family]

    def protocol(self, settings: CorrelationSettings) -> str:
        """One sentence: what was fitted where."""
        if self.status != "ok":
            return f"failed: {self.error}"
        rows = (f"{self.n_rows} rows (capped at max_rows = {settings.max_rows})"
                if settings.max_rows is not None and self.n_rows >= settings.max_rows
                else f"{self.n_rows} rows")
        fitted = (f"fitted on a seeded subsample of {self.n_fit} of the {self.n_pretrain} "
                  "pretrain rows" if self.n_fit < self.n_pretrain
                  else f"fitted on all {self.n_pretrain} pretrain rows")
        return (f"{rows}; {fitted}; d0 = {self.d0}; μ extended to {self.n_train} downstream-train "
                f"and {self.n_test} test rows")


def plan_dataset(entry: DatasetEntry, settings: CorrelationSettings) -> DatasetPlan:
    """Load one dataset and build its context grid; a loading failure is recorded, not raised."""
    plan = DatasetPlan(entry)
    try:
        data = load_prepared(entry.spec, entry.task, settings.split_seed, settings.max_rows)
        if data.task not in ("regression", "classification") or data.y_train is None:
            raise ParameterError(f"dataset {entry.spec!r} has no target: the probe needs one")
        n_pre = int(data.X_pre.shape[0])
        n_fit = min(settings.n_fit, n_pre)
        d0 = min(settings.d0, n_fit - 2)
        count = min(settings.strengths, n_fit - 1)
        if d0 < 2:
            raise ParameterError(f"{n_pre} pretrain rows are too few (need ≥ 4)")
        key = _sample_key(entry, settings)
        X_fit = fitting_sample(data, settings.n_fit, settings.fit_seed, key)
        plan.specs = strength_grid(X_fit, count, settings.families, p=settings.mask_p,
                                   masks=settings.masks)
        plan.task = data.task
        plan.n_rows = data.n_rows
        plan.n_pretrain = n_pre
        plan.n_fit = n_fit
        plan.n_train = int(data.X_train.shape[0])
        plan.n_test = int(data.X_test.shape[0])
        plan.d0 = d0
        plan.notes = list(data.notes)
        if d0 < settings.d0:
            plan.notes.append(f"d0 lowered to n_fit − 2 = {d0}")
        if count < settings.strengths:
            plan.notes.append(f"only {count} strengths per family (n_fit = {n_fit})")
    except Exception as exc:  # any loading failure: recorded, the other datasets continue
        plan.status = "failed"
        plan.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        plan.specs = {}
    return plan


def _sample_key(entry: DatasetEntry, settings: CorrelationSettings) -> tuple:
    return (entry.spec, entry.task, settings.split_seed, settings.max_rows)


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


# --- summary ------------------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


PROTOCOLS = {
    # name: (error field, which contexts) — see the module docstring
    "paper": ("err_paper", "all"),
    "paper_ranked": ("err_paper", "ranked"),
    "honest": ("err_at_d_val", "all"),
    "honest_ranked": ("err_at_d_val", "ranked"),
}
DEFAULT_CONTEXT_K = 30


def _protocol(rows: list[dict[str, Any]], error: str, which: str) -> dict[str, Any]:
    use = [r for r in rows if _finite(r.get("tau")) and _finite(r.get(error))
           and (which == "all" or not r["abstain"])]
    out: dict[str, Any] = {"n": len(use), "pearson": None, "spearman": None,
                           "distance_correlation": None}
    if len(use) >= 3:
        t = np.array([r["tau"] for r in use])
        e = np.array([r[error] for r in use])
        for name, fn in (("pearson", pearson), ("spearman", spearman),
                         ("distance_correlation", distance_correlation)):
            value = fn(t, e)
            out[name] = float(value) if math.isfinite(value) else None
    return out


def _default_context(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The KNN context whose k is nearest 30 (the fixed default a user might take)."""
    knn = [(abs(int(m.group(1)) - DEFAULT_CONTEXT_K), r) for r in rows
           for m in [re.fullmatch(r"knn\(k=(\d+)\)", r["context"])] if m]
    return min(knn, key=lambda x: x[0])[1] if knn else None


def _selection(rows: list[dict[str, Any]], error: str) -> dict[str, Any]:
    """τ's pick (lowest τ among the ranked contexts), a random pick (the mean over contexts) and
    the fixed default knn(k≈30), each as its error divided by the best context's."""
    usable = [r for r in rows if _finite(r.get(error))]
    if not usable:
        return {}
    best = min(usable, key=lambda r: r[error])
    base = best[error]
    ranked = [r for r in usable if not r["abstain"] and _finite(r.get("tau"))]
    pool = ranked or [r for r in usable if _finite(r.get("tau"))]
    out: dict[str, Any] = {"best_context": best["context"], "best_err": base}
    if base > 0:
        out["random_ratio"] = float(np.mean([r[error] for r in usable]) / base)
        if pool:
            pick = min(pool, key=lambda r: r["tau"])
            out.update(tau_pick=pick["context"], tau_pick_err=pick[error],
                       tau_pick_ratio=pick[error] / base, tau_pick_from_ranked=bool(ranked))
        default = _default_context(usable)
        if default is not None:
            out.update(default_context=default["context"], default_ratio=default[error] / base)
    return out


def dataset_summary(plan: DatasetPlan, records: list[dict[str, Any]],
                    settings: CorrelationSettings) -> dict[str, Any]:
    """The summary entry of one dataset from its cell records: every protocol side by side."""
    entry: dict[str, Any] = {"name": plan.entry.name, "status": plan.status, "n_contexts": 0,
                             "n_abstained": 0, "spec": plan.entry.spec}
    if plan.status != "ok":
        entry["error"] = plan.error
        return entry
    ok = [r["result"] for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] != "ok"]
    entry.update({
        "n_contexts": len(ok),
        "n_abstained": sum(bool(r["abstain"]) for r in ok),
        "n_no_resolved": sum(1 for r in ok if not r.get("n_resolved")),
        "protocols": {name: _protocol(ok, error, which)
                      for name, (error, which) in PROTOCOLS.items()},
        "selection": _selection(ok, "err_at_d_val"),
        "selection_paper": _selection(ok, "err_paper"),
        "n_failed_cells": len(failed),
        "task": plan.task,
        "n_rows": plan.n_rows, "n_pretrain": plan.n_pretrain, "n_fit": plan.n_fit,
        "n_train": plan.n_train, "n_test": plan.n_test, "d0": plan.d0,
        "protocol": plan.protocol(settings),
    })
    paper = _paper_values(plan.entry.spec)
    if paper is not None:
        entry["paper_dataset"], entry["paper_pearson"], entry["paper_dcor"] = paper
    if failed:
        entry["first_cell_error"] = failed[0].get("error")
    if not ok and failed:
        entry["status"] = "failed"
        entry["error"] = f"every cell failed (first: {failed[0].get('error')})"
    return entry


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return float(np.mean(values)), float(np.median(values))


def _median(values: list[Any]) -> float | None:
    values = [v for v in values if _finite(v)]
    return float(np.median(values)) if values else None


def _mean(values: list[Any]) -> float | None:
    values = [v for v in values if _finite(v)]
    return float(np.mean(values)) if values else None


def summarise(plans: Sequence[DatasetPlan], records: Sequence[dict[str, Any]],
              settings: CorrelationSettings, *, elapsed_seconds: float | None = None
              ) -> dict[str, Any]:
    """``summary.json``: per-dataset protocols, and their mean and median over datasets."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        name = record["key"].split("/", 1)[0]
        by_dataset.setdefault(name, []).append(record)
    datasets = [dataset_summary(p, by_dataset.get(p.entry.name, []), settings) for p in plans]
    ok = [d for d in datasets if d["status"] == "ok"]
    protocols = {}
    for name in PROTOCOLS:
        per = [d["protocols"][name] for d in ok]
        protocols[name] = {
            stat: {"mean": _mean([p[stat] for p in per]),
                   "median": _median([p[stat] for p in per])}
            for stat in ("pearson", "spearman", "distance_correlation")}
        protocols[name]["n_datasets"] = sum(1 for p in per if _finite(p["pearson"]))
    selection = {}
    for key in ("selection", "selection_paper"):
        sel = [d.get(key) or {} for d in ok]
        selection[key] = {ratio: _median([s.get(ratio) for s in sel])
                          for ratio in ("tau_pick_ratio", "random_ratio", "default_ratio")}
    cell_seconds = [r["elapsed_seconds"] for r in records
                    if _finite(r.get("elapsed_seconds"))]
    return {
        "datasets": datasets,
        "protocols": protocols,
        "selection_medians": selection,
        "n_datasets": len(datasets),
        "failed": [d["name"] for d in datasets if d["status"] != "ok"],
        "paper": dict(PAPER_SUMMARY),
        "settings": settings.as_config(),
        "cell_seconds_total": float(sum(cell_seconds)),
        "elapsed_seconds": elapsed_seconds,
        "protocols_are": {
            "paper": "Pearson of tau and err_{d*} over every context with a finite tau; err_{d*} "
                     "= min_d test error of the probe on all d0 raw columns (the paper's reading)",
            "paper_ranked": "the same over the contexts tau ranks (abstentions excluded)",
            "honest": "tau against the label-honest error: the probe on the stable (resolved) "
                      "columns with d chosen by cross-validation on downstream-train rows, "
                      "over every context",
            "honest_ranked": "the same over the contexts tau ranks",
        },
    }


# --- outputs ------------------------------------------------------------------------------------
CSV_COLUMNS = ("dataset", "family", "context", "status", "tau", "d_hat", "abstain",
               "err_paper", "d_star_paper", "err_paper_at_d_hat", "n_resolved", "err_at_d_val",
               "d_val", "err", "d_star", "err_at_d_hat", "accuracy_at_d_val", "decay_rate", "s1",
               "d0", "n_fit", "n_train", "n_test", "solver", "elapsed_seconds", "error")


def cells_csv(records: Sequence[dict[str, Any]]) -> str:
    """Every cell as one CSV row (columns :data:`CSV_COLUMNS`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        result = record.get("result") or {}
        name, _, context = record["key"].partition("/")
        row = {column: result.get(column) for column in CSV_COLUMNS}
        row.update({"dataset": name, "context": context, "family": family_of(context),
                    "status": record["status"], "elapsed_seconds": record.get("elapsed_seconds"),
                    "error": record.get("error")})
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def _paper_values(spec: str) -> tuple[str, float, float] | None:
    name = paper_dataset(spec)
    if name is None or name not in PAPER_TABLE1:
        return None
    return (name, *PAPER_TABLE1[name])


def comparison_table(summary: dict[str, Any], settings: CorrelationSettings) -> str:
    """``table.md``: every protocol side by side per dataset, beside the paper's Table 1."""
    from ..reports.markdown import fmt, markdown_table

    lines = ["# Correlation study: τ against the exact encoder's error", ""]
    lines.append(
        f"Protocol: 70/15/15 split (seed {settings.split_seed}); datasets capped at "
        f"{settings.max_rows} rows; contexts fitted on at most {settings.n_fit} pretrain rows "
        f"(seeded subsample, seed {settings.fit_seed}); {len(settings.families)} families × "
        f"{settings.strengths} strengths; exact top-d₀ spectrum, d₀ = min({settings.d0}, "
        f"n_fit − 2); τ with β = {settings.beta:g}; ridge probe (α ∈ "
        f"{{{', '.join(format(a, 'g') for a in settings.alphas)}}} chosen by a 5-fold "
        "cross-validation of downstream-train); errors are the standardised-target MSE (one-hot MSE for "
        "classification).")
    lines.append("")
    lines.append("- **paper**: Pearson(τ, err_d*) over every context with a finite τ, err_d* = "
                 "min over d of the test error of the probe on all d₀ raw extended columns (the "
                 "paper's protocol); **paper, ranked**: the same over the contexts τ ranks.")
    lines.append(f"- **honest**: τ against the probe on the stable columns (the components "
                 f"resolved on held-out rows: a {settings.check_folds}-fold cross-fit on at most "
                 f"{settings.check_rows} rows) with d chosen by cross-validation on "
                 "downstream-train rows, so no test label decides anything.")
    lines.append("- **selection**: the error (honest) of τ's pick, of a random pick (the mean) "
                 "and of knn(k≈30), each divided by the best context's error.")
    lines.append("")
    headers = ["dataset", "contexts", "abstained", "paper P", "paper S", "ranked P", "ranked S",
               "honest P", "honest S", "honest ranked P", "τ pick ×", "random ×", "knn30 ×",
               "paper dataset", "paper P (Table 1)"]
    rows = []
    for d in summary["datasets"]:
        paper = _paper_values(d["spec"])
        tail = [paper[0] if paper else "-", fmt(paper[1]) if paper else "-"]
        if d["status"] != "ok":
            rows.append([d["name"], "failed"] + ["-"] * 11 + tail)
            continue
        pr, sel = d["protocols"], d.get("selection") or {}
        rows.append([d["name"], str(d["n_contexts"]), str(d["n_abstained"]),
                     fmt(pr["paper"]["pearson"]), fmt(pr["paper"]["spearman"]),
                     fmt(pr["paper_ranked"]["pearson"]), fmt(pr["paper_ranked"]["spearman"]),
                     fmt(pr["honest"]["pearson"]), fmt(pr["honest"]["spearman"]),
                     fmt(pr["honest_ranked"]["pearson"]), fmt(sel.get("tau_pick_ratio")),
                     fmt(sel.get("random_ratio")), fmt(sel.get("default_ratio")), *tail])
    lines.extend(markdown_table(headers, rows, align="lrr" + "r" * 10 + "lr"))
    lines.append("")
    headers = ["protocol", "Pearson mean", "Pearson median", "Spearman median", "dCor median",
               "datasets"]
    rows = []
    for name, stats in summary["protocols"].items():
        rows.append([name, fmt(stats["pearson"]["mean"]), fmt(stats["pearson"]["median"]),
                     fmt(stats["spearman"]["median"]),
                     fmt(stats["distance_correlation"]["median"]), str(stats["n_datasets"])])
    shared = [d for d in summary["datasets"] if d["status"] == "ok" and _paper_values(d["spec"])]
    if shared:
        ours = [d["protocols"]["paper"]["pearson"] for d in shared]
        theirs = [_paper_values(d["spec"])[1] for d in shared]
        rows.append(["paper protocol, datasets shared with the paper", fmt(_mean(ours)),
                     fmt(_median(ours)), "-", "-", str(len(shared))])
        rows.append(["the paper's Table 1, the same datasets", fmt(_mean(theirs)),
                     fmt(_median(theirs)), "-", "-", str(len(shared))])
    rows.append(["the paper's Table 1 (28 OpenML datasets)", fmt(PAPER_SUMMARY["pearson_mean"]),
                 fmt(PAPER_SUMMARY["pearson_median"]), "-", fmt(PAPER_SUMMARY["dcor_median"]),
                 "28"])
    lines.extend(markdown_table(headers, rows, align="lrrrrr"))
    lines.append("")
    sel = summary["selection_medians"]
    lines.append(
        "Selection quality, medians over datasets (error ÷ best context's; honest errors): "
        f"τ's pick {fmt(sel['selection']['tau_pick_ratio'])}, random pick "
        f"{fmt(sel['selection']['random_ratio'])}, knn(k≈30) "
        f"{fmt(sel['selection']['default_ratio'])}; with the paper's err_d*: τ's pick "
        f"{fmt(sel['selection_paper']['tau_pick_ratio'])}, random "
        f"{fmt(sel['selection_paper']['random_ratio'])}, knn(k≈30) "
        f"{fmt(sel['selection_paper']['default_ratio'])}.")
    lines.append("")
    notes = [f"- {d['name']}: {d['protocol']}" for d in summary["datasets"] if "protocol" in d]
    notes += [f"- {d['name']}: FAILED — {d.get('error')}" for d in summary["datasets"]
              if d["status"] != "ok"]
    if notes:
        lines += ["## What was done per dataset", "", *notes, ""]
    return "\n".join(lines)


def write_outputs(out_dir: Path, plans: Sequence[DatasetPlan], records: Sequence[dict[str, Any]],
                  summary: dict[str, Any], settings: CorrelationSettings,
                  figures: bool = True) -> list[Path]:
    """summary.json, cells.csv, table.md and the per-dataset figures; returns the paths written."""
    written = []
    path = out_dir / "summary.json"
    write_text(path, json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    written.append(path)
    path = out_dir / "cells.csv"
    write_text(path, cells_csv(records))
    written.append(path)
    path = out_dir / "table.md"
    write_text(path, comparison_table(summary, settings))
    written.append(path)
    if figures:
        from ..reports.figures import tau_error_scatter

        fig_dir = out_dir / "figures"
        fig_dir.mkdir(exist_ok=True)
        by_dataset: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            if record["status"] == "ok":
                by_dataset.setdefault(record["key"].split("/", 1)[0], []).append(record["result"])
        entries = {d["name"]: d for d in summary["datasets"]}
        for plan in plans:
            rows = by_dataset.get(plan.entry.name)
            if not rows:
                continue
            entry = entries[plan.entry.name]
            pr = entry["protocols"]
            title = (f"{plan.entry.name}: paper protocol Pearson "
                     f"{_fmt2(pr['paper']['pearson'])}, Spearman "
                     f"{_fmt2(pr['paper']['spearman'])} ({entry['n_abstained']} of "
                     f"{entry['n_contexts']} abstained)")
            path = fig_dir / f"{_file_name(plan.entry.name)}.png"
            tau_error_scatter(rows, path, title=title, error_key="err_paper",
                              error_label=("err_{d*} (one-hot MSE)" if plan.task ==
                                           "classification" else "err_{d*} (MSE, standardised)"))
            written.append(path)
    return written


def _fmt2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# --- the driver ---------------------------------------------------------------------------------
@dataclass
class CorrelationResult:
    """What :func:`run_correlation` returns."""

    summary: dict[str, Any]
    plans: list[DatasetPlan]
    records: list[dict[str, Any]]
    grid_summary: Any
    written: list[Path]


def grid_config(datasets: Sequence[DatasetEntry], settings: CorrelationSettings) -> dict[str, Any]:
    return {"bench": BENCH_NAME, "bench_version": BENCH_VERSION,
            "datasets": [[d.name, d.spec, d.task] for d in datasets],
            "settings": settings.as_config()}


def run_correlation(datasets: Sequence[DatasetEntry], out_dir: str | Path,
                    settings: CorrelationSettings | None = None, *, workers: int = 1,
                    backend: str = "joblib", scheduler: str | None = None,
                    resume: str = "auto", progress: bool = True, figures: bool = True,
                    echo: Callable[[str], None] | None = None) -> CorrelationResult:
    """Run the study on ``datasets`` into ``out_dir`` (resumable); see the module docstring."""
    settings = settings or CorrelationSettings()
    if not datasets:
        raise SpecError("no datasets to run")
    say = echo or (lambda _msg: None)
    out = Path(out_dir)
    start = time.perf_counter()
    plans = []
    for entry in datasets:
        plan = plan_dataset(entry, settings)
        if plan.status == "ok":
            say(f"{entry.name}: {plan.protocol(settings)}; {len(plan.contexts)} contexts")
        else:
            say(f"{entry.name}: FAILED to load ({plan.error}); the other datasets continue")
        plans.append(plan)
    cells = build_cells(plans, settings)
    grid = run_grid(cells, out, grid_config=grid_config(datasets, settings), workers=workers,
                    backend=backend, scheduler=scheduler, resume=resume, progress=progress,
                    description="correlation cells")
    summary = summarise(plans, grid.records, settings,
                        elapsed_seconds=time.perf_counter() - start)
    summary["grid"] = grid.summary.as_dict()
    written = write_outputs(out, plans, grid.records, summary, settings, figures=figures)
    return CorrelationResult(summary, plans, grid.records, grid.summary, written)
