"""The distribution-shift figure: worst-group test error against average test error, per probe.

One panel per (pretraining population, feature set); one point per dataset and probe, coloured
by probe, with the diagonal worst = average (a probe on the diagonal treats every group alike).
Drawn on matplotlib's Agg canvas (no pyplot), saved atomically as PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .figures import _save

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
