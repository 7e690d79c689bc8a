"""The markdown documents of the studies, each a pure function of its study's summary.

Every figure a document refers to is named with a caption (what is drawn, against what, in which
units), so that the report reads without the code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from .markdown import fmt, markdown_table


def _g4(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"


# --- mixing -------------------------------------------------------------------------------------
MIXING_CAPTION = (
    "Figure `mixing.png`: per dataset, the test error of the best mixture and of the two "
    "raw-feature baselines (ridge, boosted trees), each divided by the test error of the best "
    "single context (a ratio; below 1 is better than the best single context; log scale).")


def mixing_table(summary: Mapping[str, Any]) -> str:
    """Markdown: per dataset, best single vs best mixture vs baselines (test error)."""
    lines = ["| dataset | best single | error | best mixture | error | gain | ridge | gbt |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["datasets"]:
        gain = r.get("mixture_gain")
        lines.append(f"| {r['dataset']} | `{r['best_single']}` | {_g4(r['single_error'])} | "
                     f"`{r['best_mixture']}` | {_g4(r['mixture_error'])} | "
                     f"{'—' if gain is None else f'{100 * gain:+.1f}%'} | "
                     f"{_g4(r.get('ridge_error'))} | {_g4(r.get('gbt_error'))} |")
    lines.append("")
    lines.append(f"Best mixture beats best single context on {summary['mixture_wins']} of "
                 f"{summary['n_datasets']} datasets; median relative gain "
                 f"{_g4(summary['median_relative_gain'])}.")
    for f in summary["failed"]:
        lines.append(f"- failed: {f['dataset']} / {f['candidate']}: {f['error']}")
    lines += ["", MIXING_CAPTION]
    return "\n".join(lines) + "\n"


# --- correlation --------------------------------------------------------------------------------
CORRELATION_CAPTION = (
    "Figures `figures/<dataset>.png`: one point per context, τ (dimensionless; x) against "
    "err_{d*}, the lowest test error over d of the ridge probe on all d₀ raw extended columns "
    "(MSE of the standardised target, or one-hot MSE for classification; y), coloured by context "
    "family; hollow markers are contexts on which τ abstains, and τ beyond the axis is drawn at "
    "the cap (▶). The title gives the paper-protocol Pearson and Spearman coefficients.")


def _finite_values(values: Sequence[Any]) -> list[float]:
    return [v for v in values if isinstance(v, int | float) and math.isfinite(v)]


def _finite_mean(values: Sequence[Any]) -> float | None:
    vals = _finite_values(values)
    return float(np.mean(vals)) if vals else None


def _finite_median(values: Sequence[Any]) -> float | None:
    vals = _finite_values(values)
    return float(np.median(vals)) if vals else None


def correlation_table(summary: Mapping[str, Any],
                      paper_values: Callable[[str], tuple[str, float, float] | None]) -> str:
    """``table.md`` of the correlation study: every protocol side by side per dataset, beside
    the paper's Table 1 (``paper_values(spec)``: the paper's dataset, Pearson, dCor, or None),
    and the caption of the per-dataset figures."""
    settings = SimpleNamespace(**summary["settings"])
    paper_summary = summary["paper"]

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
        paper = paper_values(d["spec"])
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
    shared = [d for d in summary["datasets"] if d["status"] == "ok" and paper_values(d["spec"])]
    if shared:
        ours = [d["protocols"]["paper"]["pearson"] for d in shared]
        theirs = [paper_values(d["spec"])[1] for d in shared]
        rows.append(["paper protocol, datasets shared with the paper", fmt(_finite_mean(ours)),
                     fmt(_finite_median(ours)), "-", "-", str(len(shared))])
        rows.append(["the paper's Table 1, the same datasets", fmt(_finite_mean(theirs)),
                     fmt(_finite_median(theirs)), "-", "-", str(len(shared))])
    rows.append(["the paper's Table 1 (28 OpenML datasets)", fmt(paper_summary["pearson_mean"]),
                 fmt(paper_summary["pearson_median"]), "-", fmt(paper_summary["dcor_median"]),
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
    lines += [CORRELATION_CAPTION, ""]
    return "\n".join(lines)

