"""The context selector's summary: candidates ranked by τ, the recommendation and its selection
quality, the correlation of τ with the probe errors, and the files written from them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DataError
from ..reports import selection as report
from ..reports.files import write_text
from ..reports.records import json_safe
from ..runner import partition_records
from .statistics import pearson, spearman


def rank_results(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results sorted by τ (abstentions last, each group by τ); adds ``rank`` (None if abstain)."""
    def tau_key(r: dict[str, Any]) -> float:
        return r["tau"] if r["tau"] is not None else math.inf

    ranked = sorted((r for r in results if not r["abstain"]), key=tau_key)
    abstained = sorted((r for r in results if r["abstain"]), key=tau_key)
    out = []
    for i, r in enumerate(ranked, start=1):
        out.append({**r, "rank": i})
    for r in abstained:
        out.append({**r, "rank": None})
    # rank by the label-honest error (d chosen by cross-validation on downstream-train rows), and by the paper's err_{d*}
    for field_name, rank_name in (("err_at_d_val", "err_rank"), ("err", "err_star_rank")):
        errs = sorted(r[field_name] for r in out if r.get(field_name) is not None)
        for r in out:
            value = r.get(field_name)
            r[rank_name] = (errs.index(value) + 1) if value is not None else None
    return out


def correlation_of(rows: Sequence[dict[str, Any]], error: str = "err_at_d_val") -> dict[str, Any]:
    """Pearson and Spearman between τ and an error (default the label-honest err_at_d_val):
    over the ranked rows, and over all rows with a finite τ."""
    def stats(sel: list[dict[str, Any]]) -> tuple[float | None, float | None, int]:
        if len(sel) < 3:
            return None, None, len(sel)
        t = np.array([r["tau"] for r in sel])
        e = np.array([r[error] for r in sel])
        p, s = pearson(t, e), spearman(t, e)
        return (p if math.isfinite(p) else None, s if math.isfinite(s) else None, len(sel))

    usable = [r for r in rows if r.get("tau") is not None and r.get(error) is not None]
    ranked = [r for r in usable if not r["abstain"]]
    p, s, n = stats(ranked)
    pa, sa, na = stats(usable)
    return {"error": error, "pearson": p, "spearman": s, "n": n, "pearson_all": pa,
            "spearman_all": sa, "n_all": na}


def recommendation(rows: Sequence[dict[str, Any]], task: str | None) -> dict[str, Any]:
    """The top-ranked candidate and the reasons, in words."""
    ranked = [r for r in rows if r["rank"] is not None]
    if not ranked:
        return {"context": None,
                "why": "τ abstains on every candidate (each has extreme association: nearly "
                       "uniform or nearly identity P⁺); try intermediate strengths"}
    best = ranked[0]
    parts = [f"lowest τ = {best['tau']:.4f} among the {len(ranked)} ranked candidates "
             f"(predicted dimension d̂ = {best['d_hat']})"]
    if len(ranked) > 1:
        parts.append(f"next: {ranked[1]['context']} with τ = {ranked[1]['tau']:.4f}")
    parts.append(f"s₁² = {best['s1'] ** 2:.3f}, decay rate λ = {best['decay_rate']:.4g}: the "
                 "association is neither too weak nor too strong")
    out: dict[str, Any] = {"context": best["context"], "tau": best["tau"], "d_hat": best["d_hat"]}
    if best.get("err_at_d_val") is not None:
        errs = [r for r in rows if r.get("err_at_d_val") is not None]
        best_err = min(errs, key=lambda r: r["err_at_d_val"])
        metric = "one-hot MSE" if task == "classification" else "MSE (standardised target)"
        ratio = best["err_at_d_val"] / best_err["err_at_d_val"] if best_err["err_at_d_val"] else 1
        parts.append(f"selection quality: its probe error with d chosen by cross-validation on downstream-train rows is "
                     f"{best['err_at_d_val']:.4g} ({metric}, d = {best['d_val']}), rank "
                     f"{best['err_rank']} of {len(errs)} and {ratio:.3f}× the lowest, "
                     f"{best_err['err_at_d_val']:.4g} ({best_err['context']}); with d chosen on "
                     f"the test rows (the paper's err_d*) it is {best['err']:.4g}, rank "
                     f"{best['err_star_rank']}")
        out.update({"err_at_d_val": best["err_at_d_val"], "d_val": best["d_val"],
                    "err_rank": best["err_rank"], "err": best["err"],
                    "err_star_rank": best["err_star_rank"],
                    "best_err_context": best_err["context"],
                    "best_err_at_d_val": best_err["err_at_d_val"], "ratio_to_best": ratio})
    out["why"] = "; ".join(parts)
    return out


@dataclass
class Selection:
    """The summary of a run: the ranked rows, the recommendation and ``summary.json``'s data."""

    plan: Any          # the selector's SelectionPlan
    settings: Any      # its SelectorSettings
    rows: list[dict[str, Any]]
    recommendation: dict[str, Any]
    correlation: dict[str, Any]
    paper_correlation: dict[str, Any]
    failed: list[dict[str, Any]]
    elapsed_seconds: float
    data: dict[str, Any]

    def table(self) -> list[str]:
        return report.ranked_table_lines(self.rows, self.plan.task)


def summarize_selection(records: Sequence[dict[str, Any]], settings: Any,
                        run: Any = None, *, plan: Any,
                        started: float | None = None) -> Selection:
    """Rank the candidates, recommend, correlate τ with the errors (module docstring)."""
    ok, failed = partition_records(records, ("context",))
    results = [r["result"] for r in ok]
    if not results:
        raise DataError(f"every candidate failed (first: {failed[0]['error']})")
    rows = rank_results(results)
    corr = correlation_of(rows)
    paper = correlation_of(rows, "err")
    rec = recommendation(rows, plan.task)
    elapsed = (time.perf_counter() - started if started is not None
               else run.elapsed_seconds if run is not None else math.nan)
    data = {
        "data": plan.data, "name": plan.name, "task": plan.task, "n_rows": plan.n_rows,
        "n_pretrain": plan.n_pretrain, "n_fit": plan.n_fit, "n_train": plan.n_train,
        "n_test": plan.n_test, "d0": plan.d0, "settings": settings.as_config(),
        "recommendation": rec, "correlation": corr,
        "candidates": [{k: v for k, v in r.items() if k not in ("tau_curve", "err_curve",
                                                                 "err_dims", "singular_values")}
                       for r in rows],
        "scan": plan.scan, "correlation_paper_err": paper, "failed": failed,
        "notes": plan.notes, "elapsed_seconds": elapsed,
        "grid": None if run is None else run.grid.as_dict(),
    }
    return Selection(plan, settings, rows, rec, corr, paper, failed, elapsed, data)


def write_selection_outputs(summary: Selection, out_dir: Path) -> list[Path]:
    """Figures, ``report.md``, ``results.csv`` and ``summary.json`` (atomically)."""
    out = Path(out_dir)
    figures = report.write_figures(out, summary.rows, summary.plan, summary.correlation)
    text = report.report_markdown(summary.plan, summary.settings, summary.rows,
                                  summary.recommendation, summary.correlation,
                                  summary.paper_correlation, figures, summary.elapsed_seconds)
    write_text(out / "report.md", text + "\n")
    write_text(out / "results.csv", report.results_csv(summary.rows))
    write_text(out / "summary.json",
               json.dumps(json_safe(summary.data), indent=2, allow_nan=False) + "\n")
    return [out / "report.md", out / "results.csv", out / "summary.json", *figures]
