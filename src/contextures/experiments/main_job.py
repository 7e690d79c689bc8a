"""The main job, ``contextures run``: which context should I pretrain with on my data, and why?

For each candidate context the job scores the context with
:func:`~contextures.evaluation.scoring.score_context` (the project's one scoring function) on the
pretrain rows (all of them up to ``max_fit``; a seeded subsample beyond, extended to the other
rows) and reports

- the spectrum s_1..s_{d₀}, τ = min_d τ_d (β = 1), the predicted dimension d̂ = argmin_d τ_d and
  whether τ abstains (τ ≥ 0.95 (β + 1): extreme association, not ranked);
- the decay rate λ of s_i² ≈ exp(−λ i), the kernel deviation (1/n²) Σ |k_X⁺ − 1| and the
  Lipschitz estimate of k_X⁺, on bounded seeded samples (``diagnostic_rows``, ``lipschitz_rows``);
- when the data has a target: the ridge probe on the components resolved on held-out rows (the
  stable extension), with α and d chosen by a 5-fold cross-validation of downstream-train
  (``err_at_d_val``, the label-honest error) beside min_d of the test error (``err``, the
  paper's err_{d*}); MSE of the standardised target, one-hot MSE for classification; and the
  Pearson and Spearman correlations between τ and those errors across the ranked candidates.

Candidates are ranked by τ (lower first), abstentions last. The recommendation is the
top-ranked candidate; the report says why (its τ, d̂ and where its association sits) and how
good the choice was: its label-honest error, its rank among the candidates and its ratio to the
best candidate's.

Default candidates (:func:`adaptive_candidates`): a τ scan of 8 KNN strengths (k log-spaced from
3 to n_fit/5) and 8 RBF strengths (γ log-spaced from 0.03 × the median heuristic to the strong
end of :mod:`~contextures.experiments.strengths`), spectrum only; then, per family, up to 4 of
the strengths τ ranks (evenly spread; when τ ranks none, the one closest to ranking, with a
note), one ``knn_mask(k,p=0.2,masks=20)`` and one ``rbf_mask`` at the middle of those, and
``scarf(p)`` for p ∈ {0.1, 0.3} only when at least half the columns are categorical. On
continuous columns SCARF's corrupted point lands far from every row: the operator is close to
the identity, τ abstains, and its Monte-Carlo estimate is the slowest of all candidates; the
report says that it was left out and why. The scan is in the report.

Every candidate is one cell of the grid runner under ``DIR/cells``, so an interrupted run resumes.
Outputs: ``DIR/report.md``, ``DIR/results.csv``, ``DIR/summary.json`` and the PNG figures
``spectra.png``, ``tau_and_error_curves.png`` and ``tau_vs_error.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DataError, ParameterError
from ..reports.files import write_text
from ..runner import Cell, run_grid
from .correlation import json_safe
from .encoding import context_cache, current_blas_threads, fitting_sample, load_prepared
from .statistics import pearson, spearman
from .strengths import RBFScale, family_of

DEFAULT_DATA = "abalone"
DEFAULT_MAX_FIT = 1500
DENSE_FIT_MAX = 3000   # one dense eigh up to here: faster than Krylov for d₀ = 512
DEFAULT_KNN = (5, 15, 50, 150)
DEFAULT_SCARF = (0.1, 0.3)
SCAN_STRENGTHS = 8
RBF_SCAN_WEAK = 0.03
PER_FAMILY = 4
MASKS = 20
SCARF_MIN_CATEGORICAL = 0.5
DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3)


@dataclass(frozen=True)
class RunSettings:
    """Settings of the main job (recorded in ``grid.json``)."""

    data: str = DEFAULT_DATA
    d0: int = 512
    beta: float = 1.0
    split_seed: int = 0
    fit_seed: int = 0
    max_fit: int = DEFAULT_MAX_FIT
    max_rows: int | None = None
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    diagnostic_rows: int = 1000
    lipschitz_rows: int = 200
    check_folds: int = 3
    check_rows: int = 1500

    def __post_init__(self) -> None:
        for name, low in (("d0", 2), ("max_fit", 8), ("diagnostic_rows", 2),
                          ("lipschitz_rows", 2), ("check_folds", 2), ("check_rows", 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if not (isinstance(self.beta, int | float) and self.beta > 0):
            raise ParameterError(f"beta must be positive, got {self.beta!r}")
        if self.max_rows is not None and (not isinstance(self.max_rows, int)
                                          or self.max_rows < 20):
            raise ParameterError(f"max_rows must be an integer ≥ 20, got {self.max_rows!r}")

    def as_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["alphas"] = [float(a) for a in self.alphas]
        return config


def _g(value: float) -> str:
    return format(float(value), ".6g")


def scan_grid(X_fit: np.ndarray) -> dict[str, list[str]]:
    """The wide grid the scan scores by τ: 8 KNN and 8 RBF strengths, weakest first."""
    n = int(X_fit.shape[0])
    ks = sorted({int(round(k)) for k in np.geomspace(3, max(4, n // 5), SCAN_STRENGTHS)
                 if 1 <= round(k) <= n - 1}, reverse=True)
    scale = RBFScale.of(X_fit)
    factors = np.geomspace(RBF_SCAN_WEAK, max(scale.strong_factor, 10 * RBF_SCAN_WEAK),
                           SCAN_STRENGTHS)
    return {"knn": [f"knn(k={k})" for k in ks],
            "rbf": [f"rbf(gamma={_g(f * scale.gamma_median)})" for f in factors]}


def _spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items evenly spread over ``items`` (both ends kept)."""
    if len(items) <= count:
        return list(items)
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, count)).astype(int))
    return [items[i] for i in idx]


def adaptive_candidates(X_fit: np.ndarray, d0: int, beta: float, *, categorical: float,
                        cache=None) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Candidates chosen from a τ scan so that most lie where τ ranks (module docstring).

    Returns (candidates, the scan's rows {context, family, tau, abstain}, notes).
    """
    from ..contexts import make_context
    from ..contexts.masked import n_hidden
    from ..evaluation import tau as tau_of
    from ..spectral.values import spectrum_values

    scan: list[dict[str, Any]] = []
    chosen: list[str] = []
    notes: list[str] = []
    middle: dict[str, str] = {}
    for family, specs in scan_grid(X_fit).items():
        rows = []
        for spec in specs:
            values, _ = spectrum_values(spec, X_fit, d0, cache=cache)
            t = tau_of(values, beta=beta, d0=d0)
            rows.append({"context": spec, "family": family,
                         "tau": float(t.tau) if math.isfinite(t.tau) else None,
                         "abstain": bool(t.abstain)})
        scan += rows
        ranked = [r["context"] for r in rows if not r["abstain"]]
        if ranked:
            picked = _spread(ranked, PER_FAMILY)
            middle[family] = ranked[len(ranked) // 2]
        else:
            best = min(rows, key=lambda r: math.inf if r["tau"] is None else r["tau"])
            picked = [best["context"]]
            middle[family] = best["context"]
            notes.append(f"τ abstains on every {family} strength of the scan; kept the one "
                         f"closest to ranking ({best['context']})")
        chosen += picked
    F = X_fit.shape[1]
    k_mid = int(make_context(middle["knn"]).k)
    chosen.append(f"knn_mask(k={k_mid},p=0.2,masks={MASKS})")
    g_mid = float(make_context(middle["rbf"]).gamma)
    hidden = n_hidden(F, 0.2) if F > 1 else 0
    chosen.append(f"rbf_mask(gamma={_g(g_mid * F / max(F - hidden, 1))},p=0.2,masks={MASKS})")
    if categorical >= SCARF_MIN_CATEGORICAL:
        chosen += [f"scarf(p={p:g})" for p in DEFAULT_SCARF]
    else:
        notes.append(f"SCARF left out: {categorical:.0%} of the columns are categorical. SCARF "
                     "replaces a value by another row's; on continuous columns the corrupted "
                     "point lands far from every row, the operator is close to the identity "
                     "(s₁..s_{d₀} ≈ 1, τ abstains) and its Monte-Carlo estimate is the slowest "
                     "of all candidates. Give --context 'scarf(p=…)' to score it anyway")
    return chosen, scan, notes


# --- the cell -----------------------------------------------------------------------------------
def candidate_cell(*, data: str, split_seed: int, max_rows: int | None, max_fit: int,
                   fit_seed: int, context: str, d0: int, beta: float, alphas: list[float],
                   diagnostic_rows: int, lipschitz_rows: int, check_folds: int = 3,
                   check_rows: int = 1500) -> dict[str, Any]:
    """One candidate of the main job: :func:`~contextures.evaluation.scoring.score_context` with
    diagnostics, as a record (plus the curves the figures draw)."""
    from ..evaluation.scoring import score_context

    start = time.perf_counter()
    prepared = load_prepared(data, None, split_seed, max_rows)
    key = (data, None, split_seed, max_rows)
    X_fit = fitting_sample(prepared, max_fit, fit_seed, key)
    cache = context_cache((*key, max_fit, fit_seed), X_fit, max_k=max(DEFAULT_KNN))
    has_target = prepared.y_train is not None and prepared.task is not None
    n = X_fit.shape[0]
    solver = "dense" if n <= DENSE_FIT_MAX else "auto"
    score = score_context(context, prepared, d0=d0, beta=beta, alphas=alphas, X_fit=X_fit,
                          cache=cache, solver=solver, random_state=0, probe=has_target,
                          diagnostics=True, diagnostic_rows=diagnostic_rows,
                          lipschitz_rows=lipschitz_rows, n_jobs=current_blas_threads(),
                          folds=check_folds, check_rows=check_rows)
    result: dict[str, Any] = score.record()
    curve = score.probe
    result.update({
        "family": family_of(context),
        "tau_curve": [float(format(v, ".7g")) if math.isfinite(v) else None
                      for v in score.tau_result.curve],
        "singular_values": [float(format(v, ".7g")) for v in score.singular_values],
        "exact_operator": score.exact_operator,
        "operator_error": score.operator_error,
        "d0": int(d0),
        "accuracy": score.accuracy_at_d_val,
        "err_curve": None if curve is None else [float(format(v, ".7g")) for v in curve.errors],
        "err_dims": None if curve is None else [score.components(k)
                                                for k in range(1, curve.errors.size + 1)],
    })
    result["timing"] = {**score.seconds, "total": time.perf_counter() - start}
    return result


# --- planning and ranking -----------------------------------------------------------------------
@dataclass
class RunPlan:
    """The dataset facts and candidates of one run."""

    data: str
    name: str
    task: str | None
    n_rows: int
    n_pretrain: int
    n_fit: int
    n_train: int
    n_test: int
    d0: int
    candidates: list[str]
    notes: list[str] = field(default_factory=list)
    scan: list[dict[str, Any]] = field(default_factory=list)


def plan_run(settings: RunSettings, contexts: Sequence[str] | None = None) -> RunPlan:
    """Load the data, fix d₀ and the fitting rows, and build (or check) the candidate list."""
    from ..contexts import make_context

    for spec in contexts or ():
        make_context(spec)  # every spec checked before any work
    prepared = load_prepared(settings.data, None, settings.split_seed, settings.max_rows)
    n_pre = int(prepared.X_pre.shape[0])
    n_fit = min(settings.max_fit, n_pre)
    if n_fit < 4:
        raise DataError(f"dataset {settings.data!r} has {n_pre} pretrain rows: too few "
                        "(need ≥ 4)")
    d0 = min(settings.d0, n_fit - 2)
    notes = list(prepared.notes)
    if d0 < settings.d0:
        notes.append(f"d0 = {settings.d0} lowered to n_fit − 2 = {d0}")
    if n_fit < n_pre:
        notes.append(f"contexts fitted on a seeded subsample of {n_fit} of the {n_pre} pretrain "
                     "rows (max_fit) and extended to the other rows")
    key = (settings.data, None, settings.split_seed, settings.max_rows)
    X_fit = fitting_sample(prepared, settings.max_fit, settings.fit_seed, key)
    scan: list[dict[str, Any]] = []
    if contexts:
        candidates = list(contexts)
    else:
        cache = context_cache((*key, settings.max_fit, settings.fit_seed), X_fit,
                              max_k=max(DEFAULT_KNN))
        candidates, scan, scan_notes = adaptive_candidates(
            X_fit, d0, settings.beta, categorical=prepared.categorical_share, cache=cache)
        notes += scan_notes
    if len(set(candidates)) != len(candidates):
        raise ParameterError("the same --context is given twice")
    if prepared.y_train is None:
        notes.append("the data has no target: no probe, candidates ranked by τ only")
    return RunPlan(settings.data, prepared.name, prepared.task, prepared.n_rows, n_pre, n_fit,
                   int(prepared.X_train.shape[0]), int(prepared.X_test.shape[0]), d0,
                   candidates, notes, scan)


def build_cells(plan: RunPlan, settings: RunSettings) -> list[Cell]:
    fn = f"{__name__}:candidate_cell"
    return [Cell(spec, fn, {"data": settings.data, "split_seed": settings.split_seed,
                            "max_rows": settings.max_rows, "max_fit": settings.max_fit,
                            "fit_seed": settings.fit_seed, "context": spec, "d0": plan.d0,
                            "beta": float(settings.beta),
                            "alphas": [float(a) for a in settings.alphas],
                            "diagnostic_rows": settings.diagnostic_rows,
                            "lipschitz_rows": settings.lipschitz_rows,
                            "check_folds": settings.check_folds,
                            "check_rows": settings.check_rows})
            for spec in plan.candidates]


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


# --- outputs ------------------------------------------------------------------------------------
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


def write_figures(out_dir: Path, rows: Sequence[dict[str, Any]], plan: RunPlan,
                  correlation: dict[str, Any]) -> list[Path]:
    from ..reports.figures import spectra_plot, tau_error_curves, tau_error_scatter

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


def report_markdown(plan: RunPlan, settings: RunSettings, rows: Sequence[dict[str, Any]],
                    rec: dict[str, Any], correlation: dict[str, Any], figures: Sequence[Path],
                    elapsed: float) -> str:
    from ..reports.markdown import fmt, markdown_table

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
    lines.append(f"- {len(rows)} candidates in {elapsed:.0f} s")
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
        paper = correlation_of(rows, "err")
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


# --- the driver ---------------------------------------------------------------------------------
@dataclass
class RunResult:
    plan: RunPlan
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    written: list[Path]
    table: list[str]


def run_main_job(out_dir: str | Path, settings: RunSettings | None = None,
                 contexts: Sequence[str] | None = None, *, workers: int = 1,
                 resume: str = "auto", progress: bool = True,
                 echo: Callable[[str], None] | None = None) -> RunResult:
    """Run the main job into ``out_dir`` (resumable); see the module docstring."""
    settings = settings or RunSettings()
    say = echo or (lambda _msg: None)
    start = time.perf_counter()
    plan = plan_run(settings, contexts)
    say(f"{plan.name}: {plan.n_pretrain}/{plan.n_train}/{plan.n_test} rows "
        f"(pretrain/train/test), fitting on {plan.n_fit}, d0 = {plan.d0}, "
        f"{len(plan.candidates)} candidate contexts")
    out = Path(out_dir)
    cells = build_cells(plan, settings)
    config = {"job": "run", "version": 1, "settings": settings.as_config(),
              "contexts": plan.candidates}
    grid = run_grid(cells, out, grid_config=config, workers=workers, backend="joblib",
                    resume=resume, progress=progress, description="candidates")
    failed = [r for r in grid.records if r["status"] != "ok"]
    for record in failed:
        say(f"candidate {record['key']} failed: {record['error']}")
    results = [r["result"] for r in grid.records if r["status"] == "ok"]
    if not results:
        raise DataError(f"every candidate failed (first: {failed[0]['error']})")
    rows = rank_results(results)
    corr = correlation_of(rows)
    rec = recommendation(rows, plan.task)
    written = write_figures(out, rows, plan, corr)
    elapsed = time.perf_counter() - start
    report = report_markdown(plan, settings, rows, rec, corr, written, elapsed)
    write_text(out / "report.md", report + "\n")
    write_text(out / "results.csv", results_csv(rows))
    summary = {
        "data": plan.data, "name": plan.name, "task": plan.task, "n_rows": plan.n_rows,
        "n_pretrain": plan.n_pretrain, "n_fit": plan.n_fit, "n_train": plan.n_train,
        "n_test": plan.n_test, "d0": plan.d0, "settings": settings.as_config(),
        "recommendation": rec, "correlation": corr,
        "candidates": [{k: v for k, v in r.items() if k not in ("tau_curve", "err_curve",
                                                                 "err_dims", "singular_values")}
                       for r in rows],
        "scan": plan.scan, "correlation_paper_err": correlation_of(rows, "err"),
        "failed": [{"context": r["key"], "error": r["error"]} for r in failed],
        "notes": plan.notes, "elapsed_seconds": elapsed,
        "grid": grid.summary.as_dict(),
    }
    write_text(out / "summary.json",
                      json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    written = [out / "report.md", out / "results.csv", out / "summary.json", *written]
    return RunResult(plan, rows, summary, written, ranked_table_lines(rows, plan.task))
