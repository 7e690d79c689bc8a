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

from .markdown import fmt, markdown_table, mean_pm


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



# --- alignment ----------------------------------------------------------------------------------
def _pm_seeds(mean: float | None, sd: float | None, seeds: int) -> str:
    return mean_pm({"mean": mean, "sd": sd}, seeds)


def alignment_report(summary: Mapping[str, Any], *, tolerance: float, paper_seeds: int) -> str:
    """report.md of the alignment study: protocol, the metric tables (mean ± sd over seeds, the
    mean alone with one seed), the scaling verdict per depth (``tolerance``: the CCA R² gap below
    which widths count as level) and the captions of the two heatmaps."""
    proto = summary["protocol"]
    seeds = summary["seeds"]
    lines = [f"# Alignment bench: {proto['dataset']}, {proto['context']}", "",
             f"Exact reference: top-{proto['n_components']} eigenfunctions of the spectral engine "
             f"on the pretrain rows (split seed {proto['split_seed']}), compared on the held-out "
             f"test rows. Encoders: MLP (Tanh, skip connections), {proto['objective']}, "
             f"full-batch AdamW (lr {proto['lr']:g}, weight decay {proto['weight_decay']:g}), "
             f"{proto['epochs']} epochs, d₁ = {proto['output_dim']} outputs extracted to "
             f"d = {proto['n_components']}. {summary['seeds']} seed(s) per cell "
             f"(the paper used {paper_seeds}); values are mean ± sd over seeds "
             "(the mean alone with one seed).", ""]
    widths = summary["widths"]
    by = {(r["width"], r["depth"]): r for r in summary["cells"]}
    for metric, title in (("cca_r2", "CCA R²"), (f"cca_r2_top{min(32, proto['n_components'])}",
                                                 "CCA R² of the top 32 only"),
                          ("mutual_knn", f"mutual-KNN ({proto['mutual_k']} neighbours)"),
                          ("eigenvalue_mae", "eigenvalue MAE, mean |λ̂_i − s_i²|"),
                          ("train_seconds", "training seconds (wall clock)"),
                          ("fit_cpu_seconds", "fit CPU seconds (all threads)")):
        lines += [f"## {title}", ""]
        if metric in ("cca_r2", "mutual_knn", "eigenvalue_mae") and any(
                w < proto["n_components"] for w in widths):
            lines += [f"(Widths below d = {proto['n_components']} have at most `width` "
                      "independent features; they are compared on their top `width` functions "
                      "against the exact top `width`.)", ""]
        rows = [[f"depth {depth}"] + [mean_pm(by[(w, depth)][metric], by[(w, depth)]["n_seeds"],
                                              ".1f" if "seconds" in metric else ".3f")
                                      for w in widths] for depth in summary["depths"]]
        lines += markdown_table(["", *[f"width {w}" for w in widths]], rows,
                                "l" + "r" * len(widths))
        lines.append("")
    lines += ["## Do larger networks stop helping?", ""]
    missing = [f"{r['width']}×{r['depth']}" for r in summary["cells"] if r["n_seeds"] == 0]
    if missing:
        lines += [f"**Incomplete grid**: no finished seed for width×depth {', '.join(missing)}; "
                  "the comparison below uses the finished cells only (rerun the same command to "
                  "resume).", ""]
    verdicts = summary["scaling"]
    if not verdicts:
        lines.append("No finished cells.")
    for v in verdicts:
        lines.append(
            f"- depth {v['depth']}: best width {v['best_width']} (CCA R² "
            f"{_pm_seeds(v['best_cca_r2'], v['best_cca_r2_sd'], seeds)}, mutual-KNN "
            f"{fmt(v['best_mutual_knn'])}); widest {v['widest_width']} (CCA R² "
            f"{_pm_seeds(v['widest_cca_r2'], v['widest_cca_r2_sd'], seeds)}, mutual-KNN "
            f"{fmt(v['widest_mutual_knn'])}): **{v['verdict']}** (gap {fmt(v['gap'])}; "
            f"tolerance {tolerance}).")
    if verdicts:
        stop = [v for v in verdicts if v["verdict"] in ("wider is worse", "plateau")]
        going = [v for v in verdicts if v["verdict"] == "still improving"]
        lines += ["", ("Larger networks stop helping at " + ", ".join(
            f"depth {v['depth']}" for v in stop) + ".") if stop else
                  "Larger networks do not stop helping at any depth with two or more finished "
                  "widths." if going else "Not enough finished widths to tell.",
                  f"Best CCA R² overall: {fmt(max(v['best_cca_r2'] for v in verdicts))} "
                  f"(paper: about {summary['paper']['cca_r2']}; mutual-KNN > "
                  f"{summary['paper']['mutual_knn']} at good sizes; "
                  f"{summary['paper']['claim']})."]
    for f in summary["failed"]:
        lines.append(f"- failed: {f['key']}: {f['error']}")
    lines += ["", "## Figures", "",
              f"- `cca_r2.png`: mean CCA R² (dimensionless, 0 to 1) of the encoder's functions "
              f"with the exact top-{proto['n_components']} on the test rows, per depth (rows) and "
              "width (columns)" + ("; ± the sd over seeds." if seeds > 1 else "; one seed."),
              f"- `mutual_knn.png`: mean mutual-KNN agreement (fraction of shared "
              f"{proto['mutual_k']} nearest neighbours, 0 to 1), laid out the same way."]
    return "\n".join(lines) + "\n"



# --- estimation ---------------------------------------------------------------------------------
def estimation_table(summary: Mapping[str, Any]) -> str:
    """table.md of the estimation study: MAE per (dataset, m) for both estimators (mean ± sd
    over seeds, the mean alone with one seed), beside the paper, and the figure's caption."""
    proto = summary["protocol"]
    lines = [f"# Eigenvalue estimation bench ({proto['context']})", "",
             f"Mean |λ̂_i − s_i²| over the top {proto['n_top']}, exact s_i² from the whole "
             f"pretrain split. Encoder: {proto['depth']}-hidden-layer Tanh MLP of width "
             f"{proto['width']} (paper: 20 000), d = {proto['output_dim']} outputs, "
             f"{proto['objective']}, {proto['epochs']} full-batch epochs; {summary['seeds']} "
             "seed(s), mean ± sd (the mean alone with one seed). `batched`: C_Φ, B_Φ averaged over ⌈n/m⌉ near-equal batches of "
             "at most m rows; `subsample`: one sample of m rows alone (defined for m > r; '-' "
             "when its covariance keeps fewer than r directions, see cells.csv).", ""]
    table = []
    for row in summary["rows"]:
        table.append([row["dataset"], str(row["m"]),
                      f"{fmt(row['n_batches'])} × ≤ {fmt(row['batch_rows'])}",
                      mean_pm(row["mae_batched"], row["n_seeds"]),
                      mean_pm(row["mae_subsample"], row["n_seeds"]),
                      fmt(row["paper_mae"])])
    lines += markdown_table(["dataset", "m", "batches × rows", "MAE batched", "MAE subsample",
                             "paper MAE"], table, "llrrrr")
    for f in summary["failed"]:
        lines.append(f"- failed: {f['key']}: {f['error']}")
    lines += ["", f"Figure `estimation.png`: the mean absolute error of the top "
              f"{proto['n_top']} eigenvalue estimates (dimensionless, as the eigenvalues s_i² "
              "of T T*) against the number m of sample points (log scale; `full` is drawn at the "
              "pretrain size), for both estimators and, where comparable, the paper's figures"
              + (" ; error bars: sd over seeds." if summary["seeds"] > 1 else ".")]
    return "\n".join(lines) + "\n"



# --- extension ----------------------------------------------------------------------------------
def _fmt3(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def extension_report(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    """report.md of the extension study: the targets, then one row per cell."""
    lines = [
        "# The stable extension on held-out rows",
        "",
        f"- cells: {summary['cells']} ({summary['failed']} failed)",
        f"- every returned column's test variance within [1/4, 4]: "
        f"{summary['variance_within_bounds']} of {summary['cells_with_columns']} cells",
        f"- at least 16 columns where n ≥ 300: {summary['with_at_least_16_columns']} of "
        f"{summary['cells_n_at_least_300']} cells",
        f"- validation-chosen / best test error ≤ 1.25: {summary['ratio_at_most_1.25']} of "
        f"{summary['cells_with_probe']} cells (median ratio {_fmt3(summary['median_ratio'])})",
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
                     f"{r['n_resolved']} | {_fmt3(r['var_min'])}–{_fmt3(r['var_max'])} | "
                     f"{_fmt3(r['error'])} | {_fmt3(r['error_at_d_val'])} | {_fmt3(r['ratio'])} |")
    return "\n".join(lines) + "\n"
