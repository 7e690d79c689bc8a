"""The context selector's report: the ranked table, its CSV, the markdown report and figures.

Everything :func:`~contextures.experiments.selector.run_selector` writes besides
``summary.json``: ``results.csv`` (one row per candidate, :data:`CSV_COLUMNS`), ``report.md``
(what was run, the recommendation and its selection quality, the ranked candidates, how well τ
predicted the probe error, the τ scan, the figures with captions), and the PNG figures
``spectra.png``, ``tau_and_error_curves.png`` and ``tau_vs_error.png``. The terminal table
(:func:`ranked_table_lines`) uses the JSON's field names as its headers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CSV_COLUMNS = ("rank", "context", "family", "tau", "d_hat", "abstain", "decay_rate",
               "kernel_deviation", "lipschitz", "kappa", "s1", "n_resolved", "err_at_d_val",
               "d_val",
               "err_rank", "err", "d_star", "err_star_rank", "err_at_d_hat", "accuracy",
               "solver", "n_fit", "d0", "seconds")


def results_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        row = {k: r.get(k) for k in CSV_COLUMNS}
        row["seconds"] = (r.get("timing") or {}).get("total")
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def ranked_table_lines(rows: Sequence[dict[str, Any]], task: str | None) -> list[str]:
    """The ranked table for the terminal (plain text, aligned)."""
    metric = "one-hot MSE" if task == "classification" else "MSE"
    header = ("rank", "context", "tau", "d_hat", "decay", "kdev", "lipschitz", "n_resolved",
              f"err_at_d_val ({metric})", "d_val", "err", "d_star", "")
    table = [header]

    def f(v: Any, spec: str = ".4g") -> str:
        if v is None:
            return "-"
        return format(v, spec) if isinstance(v, float) else str(v)

    for r in rows:
        table.append((f(r["rank"]) if r["rank"] is not None else "-", r["context"],
                      f(r["tau"]) if r["tau"] is not None else "inf", str(r["d_hat"]),
                      f(r["decay_rate"]), f(r["kernel_deviation"]), f(r["lipschitz"]),
                      f(r.get("n_resolved")), f(r.get("err_at_d_val")), f(r.get("d_val")),
                      f(r.get("err")), f(r.get("d_star")), "abstain" if r["abstain"] else ""))
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    left = {1, len(header) - 1}
    return ["  ".join(cell.ljust(widths[c]) if c in left else cell.rjust(widths[c])
                      for c, cell in enumerate(row)).rstrip() for row in table]


def write_figures(out_dir: Path, rows: Sequence[dict[str, Any]], plan: Any,
                  correlation: dict[str, Any]) -> list[Path]:
    from .figures import spectra_plot, tau_error_curves, tau_error_scatter

    families = {r["context"]: r["family"] for r in rows}
    paths = [spectra_plot({r["context"]: r["singular_values"] for r in rows},
                          out_dir / "spectra.png", families=families,
                          title=f"{plan.name}: spectra of the candidates (s_i², i = 1..{plan.d0})")]
    curves = {r["context"]: ([math.inf if v is None else v for v in r["tau_curve"]],
                             r.get("err_curve"), r.get("err_dims")) for r in rows}
    paths.append(tau_error_curves(curves, out_dir / "tau_and_error_curves.png",
                                  families=families, title=f"{plan.name}: τ_d and err_d",
                                  error_label=("err_d (one-hot MSE)"
                                               if plan.task == "classification"
                                               else "err_d (MSE, standardised target)")))
    if any(r.get("err") is not None for r in rows):
        p, s = correlation["pearson"], correlation["spearman"]
        title = (f"{plan.name}: τ vs err_at_d_val, Pearson {'n/a' if p is None else f'{p:.3f}'}, "
                 f"Spearman {'n/a' if s is None else f'{s:.3f}'} over {correlation['n']} "
                 "ranked candidates")
        paths.append(tau_error_scatter(rows, out_dir / "tau_vs_error.png", title=title,
                                       annotate=True, error_key="err_at_d_val",
                                       error_label="err_at_d_val" + (" (one-hot MSE)"
                                                               if plan.task == "classification"
                                                               else " (MSE, standardised)")))
    return paths


def report_markdown(plan: Any, settings: Any, rows: Sequence[dict[str, Any]],
                    rec: dict[str, Any], correlation: dict[str, Any],
                    paper_correlation: dict[str, Any], figures: Sequence[Path],
                    elapsed: float) -> str:
    """The markdown report (module docstring). ``correlation``: τ against the label-honest
    error; ``paper_correlation``: τ against the paper's err_d*."""
    from .markdown import fmt, markdown_table

    has_probe = any(r.get("err") is not None for r in rows)
    lines = [f"# Which context for {plan.name}?", ""]
    lines.append("## What was run")
    lines.append("")
    lines.append(
        f"- data: `{plan.data}` ({plan.n_rows} rows, task {plan.task or 'none'}); split "
        f"pretrain / downstream-train / test = {plan.n_pretrain} / {plan.n_train} / "
        f"{plan.n_test} rows (seed {settings.split_seed})")
    lines.append(
        f"- each candidate context fitted on {plan.n_fit} pretrain rows"
        + (" (all of them)" if plan.n_fit == plan.n_pretrain else
           f" (a seeded subsample of {plan.n_pretrain}, extended to the rest)")
        + f"; exact top-d₀ contexture with d₀ = {plan.d0}")
    lines.append(f"- τ_d = 1/(1 − s²_(d+1)) + β Σ_(i≤d) s_i² / Σ_(i≤d₀) s_i², β = "
                 f"{settings.beta:g}, τ = min_d τ_d, d̂ = argmin; abstain when τ ≥ "
                 f"{0.95 * (settings.beta + 1):.3g} (extreme association)")
    lines.append(f"- diagnostics: decay rate λ of s_i² ≈ exp(−λ i); kernel deviation on "
                 f"{settings.diagnostic_rows} × {settings.diagnostic_rows} sampled pairs; "
                 f"Lipschitz estimate on {settings.lipschitz_rows} sampled points; context "
                 f"complexity κ = √max_j k(x_j, x_j) over the fitting rows")
    if has_probe:
        lines.append("- validation: the resolved components (the stable extension) on the "
                     "downstream rows; ridge probe on the first d of them for every d (α and "
                     "d chosen by a 5-fold cross-validation of downstream-train: err_at_d_val, the "
                     "label-honest error; err = min_d of the test error, the paper's err_d*)")
    if plan.scan:
        lines.append(f"- candidates chosen from a τ scan of {len(plan.scan)} KNN and RBF "
                     "strengths: up to 4 per family where τ ranks (evenly spread), one masked "
                     "KNN and one masked RBF at the middle of those")
    lines.append(f"- {len(rows)} candidates; the whole run took {elapsed:.0f} s")
    lines += [f"- note: {n}" for n in plan.notes]
    lines.append("")
    lines.append("## Recommendation")
    lines.append("")
    if rec["context"] is None:
        lines.append(f"No recommendation: {rec['why']}.")
    else:
        lines.append(f"**`{rec['context']}`** — {rec['why']}.")
    lines.append("")
    lines.append("## Ranked candidates")
    lines.append("")
    headers = ["rank", "context", "τ", "d̂", "decay λ", "kernel dev.", "Lipschitz", "κ", "s₁²"]
    if has_probe:
        headers += ["resolved", "err_at_d_val", "d_val", "rank", "err_d*", "d*", "rank"]
    table_rows = []
    for r in rows:
        row = [fmt(r["rank"]) if r["rank"] is not None else "abstain", f"`{r['context']}`",
               fmt(r["tau"], ".4f") if r["tau"] is not None else "inf", fmt(r["d_hat"]),
               fmt(r["decay_rate"], ".4g"), fmt(r["kernel_deviation"], ".4g"),
               fmt(r["lipschitz"], ".4g"), fmt(r.get("kappa"), ".4g"),
               fmt(r["s1"] ** 2, ".4f")]
        if has_probe:
            row += [fmt(r.get("n_resolved")), fmt(r.get("err_at_d_val"), ".4g"),
                    fmt(r.get("d_val")), fmt(r.get("err_rank")), fmt(r.get("err"), ".4g"),
                    fmt(r.get("d_star")), fmt(r.get("err_star_rank"))]
        table_rows.append(row)
    lines.extend(markdown_table(headers, table_rows, align="rlrrrrrrr" + "r" * 7))
    lines.append("")
    if has_probe:
        lines.append("## Does τ predict the probe error?")
        lines.append("")
        paper = paper_correlation
        lines.append(
            f"Across the {correlation['n']} ranked candidates, with the label-honest error "
            f"(d chosen by cross-validation on downstream-train rows): Pearson r(τ, err_at_d_val) = "
            f"{fmt(correlation['pearson'])}, Spearman ρ = {fmt(correlation['spearman'])} "
            f"(positive = lower τ goes with lower error). With the paper's err_d* (d chosen on "
            f"the test rows): Pearson {fmt(paper['pearson'])}, Spearman "
            f"{fmt(paper['spearman'])}. Over all {correlation['n_all']} candidates with a finite "
            f"τ (abstentions included), label-honest: Pearson "
            f"{fmt(correlation['pearson_all'])}, Spearman {fmt(correlation['spearman_all'])}.")
        lines.append("")
    if plan.scan:
        lines.append("## The τ scan that chose the candidates")
        lines.append("")
        lines.extend(markdown_table(
            ["family", "context", "τ", "ranked", "kept"],
            [[r["family"], f"`{r['context']}`", fmt(r["tau"], ".4f"),
              "no (abstains)" if r["abstain"] else "yes",
              "yes" if r["context"] in plan.candidates else ""] for r in plan.scan],
            align="llrll"))
        lines.append("")
    lines.append("## Figures")
    lines.append("")
    captions = {"spectra.png": "Spectra s_i² against i (log–log).",
                "tau_and_error_curves.png": "τ_d against d (left) beside the probe error err_d "
                                            "against d (right).",
                "tau_vs_error.png": "τ against the label-honest probe error err_at_d_val, "
                                    "one point per candidate (hollow: abstained)."}
    for path in figures:
        lines.append(f"![{path.stem}]({path.name})")
        lines.append("")
        lines.append(captions.get(path.name, ""))
        lines.append("")
    return "\n".join(lines)
