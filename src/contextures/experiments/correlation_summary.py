"""The correlation study's summary: every protocol and the selection quality, per dataset.

Per dataset, from its cell records (:data:`PROTOCOLS`): Pearson, Spearman and distance
correlation of τ against an error, over every context with a finite τ or over the contexts τ
ranks (abstentions excluded), with the paper's error err_{d*} (``err_paper``) or the label-honest
one (``err_at_d_val``); and the selection quality, the error of τ's pick, of a random pick (the
mean over contexts) and of the fixed default knn(k≈30), each divided by the best context's.
Across datasets: the mean and median of each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .correlation_plan import PAPER_SUMMARY, DatasetPlan, paper_values
from .statistics import distance_correlation, pearson, spearman

if TYPE_CHECKING:
    from .correlation import CorrelationSettings


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
    paper = paper_values(plan.entry.spec)
    if paper is not None:
        entry["paper_dataset"], entry["paper_pearson"], entry["paper_dcor"] = paper
    if failed:
        entry["first_cell_error"] = failed[0].get("error")
    if not ok and failed:
        entry["status"] = "failed"
        entry["error"] = f"every cell failed (first: {failed[0].get('error')})"
    return entry



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


