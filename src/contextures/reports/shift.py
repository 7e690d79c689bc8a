"""The distribution-shift report: the table of robust probes and the figure of worst-group test
error against average test error, per probe.

One panel per (pretraining population, feature set); one point per dataset and probe, coloured
by probe, with the diagonal worst = average (a probe on the diagonal treats every group alike).
Drawn on matplotlib's Agg canvas (no pyplot), saved atomically as PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .figures import _save
from .markdown import fmt, markdown_table

PROBE_COLOURS = {"erm": "#1f77b4", "reweight": "#ff7f0e", "cvar": "#2ca02c",
                 "chi2": "#d62728", "doro": "#9467bd"}
PROBE_MARKERS = {"erm": "o", "reweight": "s", "cvar": "^", "chi2": "v", "doro": "D"}


def worst_against_average(rows: Sequence[Mapping[str, Any]], probes: Sequence[str],
                          path: str | Path) -> Path:
    """``rows``: dicts with ``pretrain``, ``features`` and ``errors[probe]["average"/"worst"]``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = sorted({(r["pretrain"], r["features"]) for r in rows}) or [("all", "contexture")]
    ncols = min(2, len(panels))
    nrows = (len(panels) + ncols - 1) // ncols
    fig = Figure(figsize=(4.6 * ncols, 4.0 * nrows), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    for k, (pretrain, features) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        sub = [r for r in rows if r["pretrain"] == pretrain and r["features"] == features]
        top = 0.0
        for p in probes:
            pts = [(r["errors"][p]["average"], r["errors"][p]["worst"]) for r in sub
                   if p in r["errors"]]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            top = max(top, *xs, *ys)
            ax.scatter(xs, ys, s=22, alpha=0.8, color=PROBE_COLOURS.get(p, "#7f7f7f"),
                       marker=PROBE_MARKERS.get(p, "o"), label=p)
        top = top * 1.05 if top > 0 else 1.0
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("average test error")
        ax.set_ylabel("worst-group test error")
        who = {"all": "all groups", "majority": "the majority group"}.get(pretrain, pretrain)
        ax.set_title(f"pretrained on {who}, {features} features", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def gap_against_width(rows: Sequence[Mapping[str, Any]], probes: Sequence[str],
                      path: str | Path) -> Path:
    """One panel per ridge penalty λ: each probe's gap to ERM against the encoder width (log
    axes), with the downstream-train rows n marked where the width reaches it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    penalties = sorted({r["l2"] for r in rows}, key=float, reverse=True) or ["-"]
    fig = Figure(figsize=(4.6 * len(penalties), 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    for k, lam in enumerate(penalties):
        ax = fig.add_subplot(1, len(penalties), k + 1)
        sub = [r for r in rows if r["l2"] == lam]
        for p in probes:
            pts = sorted((r["width"], r["gap"]) for r in sub
                         if r["probe"] == p and r["gap"] is not None and r["gap"] > 0)
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker=PROBE_MARKERS.get(p, "o"),
                        color=PROBE_COLOURS.get(p, "#7f7f7f"), label=p)
        n_train = {r["n_train"] for r in sub}
        for n in n_train:
            ax.axvline(n, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("encoder width (= probe features)")
        ax.set_ylabel("gap to ERM on test rows")
        ax.set_title(f"ridge penalty λ = {lam}; dashed: downstream-train rows", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _f(x, spec=".3f") -> str:
    return fmt(x if not isinstance(x, float) or math.isfinite(x) else None, spec)


def shift_table(summary: dict, probes: Sequence[str], feature_sets: Sequence[str]) -> str:
    """Markdown: per feature set, one row per (dataset, pretraining), every probe's
    average / worst-group test error, and the diagnostic."""
    lines = ["# Distribution shift: robust probes on the contexture and on raw features", ""]
    protocol = summary.get("protocol")
    if protocol:
        lines += [f"Context `{protocol['context']}`, d₀ = {protocol['n_components']}, at most "
                  f"{protocol['max_rows']} rows per dataset, contexture fitted on at most "
                  f"{protocol['max_fit']} pretrain rows, split seed {protocol['split_seed']}.", ""]
    lines += ["Cells: average test error / worst-group test error (regression: MSE of the "
              "standardised target; classification: misclassification rate). Pretrain `all`: "
              "every group's pretrain rows; `majority`: the largest group's only. κ: condition "
              "number of the features' covariance on the downstream rows; θ: median principal "
              "angle (degrees) between the pretrained and the refitted top spaces, beside the "
              "sampling baseline θ₀ (a refit on as many rows of the pretraining population).", ""]
    for feature_set in feature_sets:
        sub = [r for r in summary["rows"] if r["features"] == feature_set]
        if not sub:
            continue
        lines += [f"## Features: {feature_set}", ""]
        head = ["dataset", "group", "task", "pretrain", *probes, "κ", "θ / θ₀", "captured Q / P"]
        body = []
        for r in sub:
            e = r["errors"]
            cells = [f"{_f(e[p]['average'])} / {_f(e[p]['worst'])}" if p in e else "-"
                     for p in probes]
            angle = "-" if r["median_angle"] is None else (
                f"{math.degrees(r['median_angle']):.1f} / "
                f"{_f(None if r['median_baseline_angle'] is None else math.degrees(r['median_baseline_angle']), '.1f')}")
            body.append([r["dataset"], r["group"], r["task"][:5], r["pretrain"], *cells,
                         _f(r["condition_number"], ".2f"), angle,
                         f"{_f(r['captured_target'], '.2f')} / {_f(r['captured_source'], '.2f')}"])
        lines += markdown_table(head, body) + [""]
    lines += ["## Medians over datasets", ""]
    body = []
    for label, med in summary["medians"].items():
        body.append([label, *[f"{_f(med[p]['average'])} / {_f(med[p]['worst'])}" if p in med
                              else "-" for p in probes]])
    lines += markdown_table(["pretrain/features", *probes], body) + [""]
    lines += ["## DORO against ERM (worst-group error)", ""]
    body = [[label, v["datasets"], v["doro_at_most_erm"], _f(v["median_ratio"]),
             ", ".join(v["worse"]) or "-"] for label, v in summary["doro_vs_erm"].items()]
    lines += markdown_table(["pretrain/features", "datasets", "DORO ≤ ERM",
                             "median DORO/ERM", "DORO worse on"], body) + [""]
    for fl in summary["failed"]:
        lines.append(f"- failed: {fl['dataset']} ({fl['pretrain']}): {fl['error']}")
    return "\n".join(lines) + "\n"
