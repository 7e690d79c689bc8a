"""The main job, ``contextures run``: which context should I pretrain with on my data, and why?

For each candidate context the job fits the exact top-d₀ contexture on the pretrain rows (all of
them up to ``max_fit``; a seeded subsample beyond, extended to the other rows) and reports

- the spectrum s_1..s_{d₀}, τ = min_d τ_d (β = 1), the predicted dimension d̂ = argmin_d τ_d and
  whether τ abstains (τ ≥ 0.95 (β + 1): extreme association, not ranked);
- the decay rate λ of s_i² ≈ exp(−λ i), the kernel deviation (1/n²) Σ |k_X⁺ − 1| and the
  Lipschitz estimate of k_X⁺, on bounded seeded samples (``diagnostic_rows``, ``lipschitz_rows``);
- when the data has a target: the exact encoder's ridge-probe error curve err_d (d = 1..d₀,
  α on a validation split of downstream-train, error on test; MSE of the standardised target,
  one-hot MSE for classification), err_{d*} = min_d err_d, and the Pearson and Spearman
  correlations between τ and err_{d*} across the ranked candidates — does τ's ranking hold up?

Candidates are ranked by τ (lower first), abstentions last. The recommendation is the
top-ranked candidate; the report says why (its τ, d̂ and where its association sits) and how the
probe judged it (its rank by err_{d*}).

Default candidates (:func:`default_candidates`, 15 of them, data-adaptive where a bandwidth is
involved, see :mod:`~contextures.experiments.strengths`):

- ``knn(k)`` for k ∈ {5, 15, 50, 150} (the paper's abalone illustration uses 5, 30, 150);
- ``rbf(gamma)`` at 4 interior points of the RBF strength grid (6 log-spaced factors from nearly
  uniform to nearly identity P, both ends dropped);
- ``knn_mask(k,p=0.2,masks=50)`` for k ∈ {15, 50}; ``rbf_mask(gamma,p=0.2,masks=50)`` at the 2
  middle factors of the same grid;
- ``scarf(p)`` for p ∈ {0.05, 0.1, 0.2} (SCARF replaces each feature with the same feature of a
  random other row; on continuous features it is a very strong context, and its Monte-Carlo
  operator grows dense as p grows, hence the small values).

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
from .cells import Cell
from .correlation import json_safe
from .encoding import context_cache, exact_encoder, fitting_sample, load_prepared
from .grid import run_grid
from .statistics import pearson, spearman
from .strengths import RBFScale, family_of, rbf_factors

DEFAULT_DATA = "abalone"
DEFAULT_MAX_FIT = 3000
DEFAULT_KNN = (5, 15, 50, 150)
DEFAULT_KNN_MASK = (15, 50)
DEFAULT_SCARF = (0.05, 0.1, 0.2)
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

    def __post_init__(self) -> None:
        for name, low in (("d0", 2), ("max_fit", 8), ("diagnostic_rows", 2),
                          ("lipschitz_rows", 2)):
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


def default_candidates(X_fit: np.ndarray) -> list[str]:
    """The documented default grid (module docstring) for the fitting sample ``X_fit``."""
    n = int(X_fit.shape[0])
    scale = RBFScale.of(X_fit)
    factors = rbf_factors(scale, 6)[1:-1]  # 4 interior strengths, weakest first
    F = scale.n_features
    from ..contexts.masked import n_hidden

    masked_base = scale.gamma_median * F / (F - n_hidden(F, 0.2))
    specs = [f"knn(k={k})" for k in DEFAULT_KNN if k <= n - 1]
    specs += [f"rbf(gamma={_g(f * scale.gamma_median)})" for f in factors]
    specs += [f"knn_mask(k={k},p=0.2,masks=50)" for k in DEFAULT_KNN_MASK if k <= n - 1]
    specs += [f"rbf_mask(gamma={_g(f * masked_base)},p=0.2,masks=50)" for f in factors[1:3]]
    specs += [f"scarf(p={p:g})" for p in DEFAULT_SCARF]
    return specs


# --- the cell -----------------------------------------------------------------------------------
def candidate_cell(*, data: str, split_seed: int, max_rows: int | None, max_fit: int,
                   fit_seed: int, context: str, d0: int, beta: float, alphas: list[float],
                   diagnostic_rows: int, lipschitz_rows: int) -> dict[str, Any]:
    """One candidate of the main job: spectrum, τ, diagnostics and (with a target) the probe."""
    from ..evaluation import (
        decay_rate,
        kernel_deviation,
        lipschitz_estimate,
        ridge_probe_curve,
        tau,
    )

    start = time.perf_counter()
    prepared = load_prepared(data, None, split_seed, max_rows)
    key = (data, None, split_seed, max_rows)
    X_fit = fitting_sample(prepared, max_fit, fit_seed, key)
    cache = context_cache((*key, max_fit, fit_seed), X_fit, max_k=max(DEFAULT_KNN))
    has_target = prepared.y_train is not None and prepared.task is not None
    n = X_fit.shape[0]
    solver = "dense" if n <= DEFAULT_MAX_FIT else "auto"
    enc = exact_encoder(context, X_fit, d0,
                        X_train=prepared.X_train if has_target else None,
                        X_test=prepared.X_test if has_target else None,
                        cache=cache, solver=solver, random_state=0, keep_operator=True)
    s = enc.singular_values
    t_res = tau(s, beta=beta, d0=d0)
    lam = decay_rate(s) if (s > 0).any() else float("nan")
    t_diag = time.perf_counter()
    deviation = kernel_deviation(enc.operator, n_sample=diagnostic_rows, random_state=0)
    lipschitz = lipschitz_estimate(enc.operator, X_fit, n_sample=lipschitz_rows, random_state=0)
    seconds = dict(enc.seconds)
    seconds["diagnostics"] = time.perf_counter() - t_diag
    result: dict[str, Any] = {
        "context": context,
        "family": family_of(context),
        "tau": float(t_res.tau) if math.isfinite(t_res.tau) else None,
        "d_hat": int(t_res.d),
        "abstain": bool(t_res.abstain),
        "tau_curve": [float(format(v, ".7g")) if math.isfinite(v) else None
                      for v in t_res.curve],
        "singular_values": [float(format(v, ".7g")) for v in s],
        "decay_rate": float(lam),
        "kernel_deviation": float(deviation),
        "lipschitz": float(lipschitz),
        "s1": float(s[0]),
        "solver": enc.solver,
        "exact_operator": bool(getattr(enc.operator, "exact", True)),
        "operator_error": getattr(enc.operator, "error", None),
        "n_fit": int(n),
        "d0": int(d0),
        "err": None, "d_star": None, "err_at_d_hat": None, "accuracy": None, "err_curve": None,
    }
    if has_target:
        t_probe = time.perf_counter()
        curve = ridge_probe_curve(enc.F_train, prepared.y_train, None, None, enc.F_test,
                                  prepared.y_test, task=prepared.task, alphas=alphas,
                                  random_state=0)
        seconds["probe"] = time.perf_counter() - t_probe
        result.update({
            "err": float(curve.error), "d_star": int(curve.d_star),
            "err_at_d_hat": float(curve.errors[t_res.d - 1]),
            "accuracy": curve.accuracy_at_d_star,
            "err_curve": [float(format(v, ".7g")) for v in curve.errors],
        })
    seconds["total"] = time.perf_counter() - start
    result["timing"] = seconds
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
    candidates = list(contexts) if contexts else default_candidates(X_fit)
    if len(set(candidates)) != len(candidates):
        raise ParameterError("the same --context is given twice")
    if prepared.y_train is None:
        notes.append("the data has no target: no probe, candidates ranked by τ only")
    return RunPlan(settings.data, prepared.name, prepared.task, prepared.n_rows, n_pre, n_fit,
                   int(prepared.X_train.shape[0]), int(prepared.X_test.shape[0]), d0,
                   candidates, notes)


def build_cells(plan: RunPlan, settings: RunSettings) -> list[Cell]:
    fn = f"{__name__}:candidate_cell"
    return [Cell(spec, fn, {"data": settings.data, "split_seed": settings.split_seed,
                            "max_rows": settings.max_rows, "max_fit": settings.max_fit,
                            "fit_seed": settings.fit_seed, "context": spec, "d0": plan.d0,
                            "beta": float(settings.beta),
                            "alphas": [float(a) for a in settings.alphas],
                            "diagnostic_rows": settings.diagnostic_rows,
                            "lipschitz_rows": settings.lipschitz_rows})
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
    errs = sorted(r["err"] for r in out if r.get("err") is not None)
    for r in out:
        r["err_rank"] = (errs.index(r["err"]) + 1) if r.get("err") is not None else None
    return out


def correlation_of(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pearson and Spearman between τ and err_{d*}: over the ranked rows, and over all finite."""
    def stats(sel: list[dict[str, Any]]) -> tuple[float | None, float | None, int]:
        if len(sel) < 3:
            return None, None, len(sel)
        t = np.array([r["tau"] for r in sel])
        e = np.array([r["err"] for r in sel])
        p, s = pearson(t, e), spearman(t, e)
        return (p if math.isfinite(p) else None, s if math.isfinite(s) else None, len(sel))

    usable = [r for r in rows if r.get("tau") is not None and r.get("err") is not None]
    ranked = [r for r in usable if not r["abstain"]]
    p, s, n = stats(ranked)
    pa, sa, na = stats(usable)
    return {"pearson": p, "spearman": s, "n": n, "pearson_all": pa, "spearman_all": sa,
            "n_all": na}


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
    if best.get("err") is not None:
        errs = [r for r in rows if r.get("err") is not None]
        best_err = min(errs, key=lambda r: r["err"])
        metric = "one-hot MSE" if task == "classification" else "MSE (standardised target)"
        parts.append(f"validation: its probe error err_d* = {best['err']:.4g} ({metric}) ranks "
                     f"{best['err_rank']} of {len(errs)}; the lowest error is "
                     f"{best_err['err']:.4g} ({best_err['context']})")
        out.update({"err": best["err"], "err_rank": best["err_rank"],
                    "best_err_context": best_err["context"], "best_err": best_err["err"]})
    out["why"] = "; ".join(parts)
    return out


# --- outputs ------------------------------------------------------------------------------------
CSV_COLUMNS = ("rank", "context", "family", "tau", "d_hat", "abstain", "decay_rate",
               "kernel_deviation", "lipschitz", "s1", "err", "d_star", "err_at_d_hat",
               "err_rank", "accuracy", "solver", "n_fit", "d0", "seconds")


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
    header = ("rank", "context", "tau", "d_hat", "decay", "kdev", "lipschitz",
              f"err_d* ({metric})", "d*", "")
    table = [header]

    def f(v: Any, spec: str = ".4g") -> str:
        if v is None:
            return "-"
        return format(v, spec) if isinstance(v, float) else str(v)

    for r in rows:
        table.append((f(r["rank"]) if r["rank"] is not None else "-", r["context"],
                      f(r["tau"]) if r["tau"] is not None else "inf", str(r["d_hat"]),
                      f(r["decay_rate"]), f(r["kernel_deviation"]), f(r["lipschitz"]),
                      f(r.get("err")), f(r.get("d_star")), "abstain" if r["abstain"] else ""))
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    left = {1, 9}
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
                             r.get("err_curve")) for r in rows}
    paths.append(tau_error_curves(curves, out_dir / "tau_and_error_curves.png",
                                  families=families, title=f"{plan.name}: τ_d and err_d",
                                  error_label=("err_d (one-hot MSE)"
                                               if plan.task == "classification"
                                               else "err_d (MSE, standardised target)")))
    if any(r.get("err") is not None for r in rows):
        p, s = correlation["pearson"], correlation["spearman"]
        title = (f"{plan.name}: τ vs err_d*, Pearson {'n/a' if p is None else f'{p:.3f}'}, "
                 f"Spearman {'n/a' if s is None else f'{s:.3f}'} over {correlation['n']} "
                 "ranked candidates")
        paths.append(tau_error_scatter(rows, out_dir / "tau_vs_error.png", title=title,
                                       annotate=True,
                                       error_label="err_d*" + (" (one-hot MSE)"
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
                 f"Lipschitz estimate on {settings.lipschitz_rows} sampled points")
    if has_probe:
        lines.append("- validation: μ₁..μ_d₀ extended to the downstream rows; ridge probe on the "
                     "first d features for every d (α on a validation split of downstream-train), "
                     "error on test; err_d* = min_d err_d")
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
    headers = ["rank", "context", "τ", "d̂", "decay λ", "kernel dev.", "Lipschitz", "s₁²"]
    if has_probe:
        headers += ["err_d*", "d*", "err rank"]
    table_rows = []
    for r in rows:
        row = [fmt(r["rank"]) if r["rank"] is not None else "abstain", f"`{r['context']}`",
               fmt(r["tau"], ".4f") if r["tau"] is not None else "inf", fmt(r["d_hat"]),
               fmt(r["decay_rate"], ".4g"), fmt(r["kernel_deviation"], ".4g"),
               fmt(r["lipschitz"], ".4g"), fmt(r["s1"] ** 2, ".4f")]
        if has_probe:
            row += [fmt(r.get("err"), ".4g"), fmt(r.get("d_star")), fmt(r.get("err_rank"))]
        table_rows.append(row)
    lines.extend(markdown_table(headers, table_rows, align="rlrrrrrrrrr"))
    lines.append("")
    if has_probe:
        lines.append("## Does τ predict the probe error?")
        lines.append("")
        lines.append(
            f"Across the {correlation['n']} ranked candidates, Pearson r(τ, err_d*) = "
            f"{fmt(correlation['pearson'])} and Spearman ρ = {fmt(correlation['spearman'])} "
            f"(positive = lower τ goes with lower error). Over all {correlation['n_all']} "
            f"candidates with a finite τ (abstentions included): Pearson "
            f"{fmt(correlation['pearson_all'])}, Spearman {fmt(correlation['spearman_all'])}.")
        lines.append("")
    lines.append("## Figures")
    lines.append("")
    captions = {"spectra.png": "Spectra s_i² against i (log–log).",
                "tau_and_error_curves.png": "τ_d against d (left) beside the probe error err_d "
                                            "against d (right).",
                "tau_vs_error.png": "τ against err_d*, one point per candidate (hollow: "
                                    "abstained)."}
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
                                                                 "singular_values")}
                       for r in rows],
        "failed": [{"context": r["key"], "error": r["error"]} for r in failed],
        "notes": plan.notes, "elapsed_seconds": elapsed,
        "grid": grid.summary.as_dict(),
    }
    write_text(out / "summary.json",
                      json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    written = [out / "report.md", out / "results.csv", out / "summary.json", *written]
    return RunResult(plan, rows, summary, written, ranked_table_lines(rows, plan.task))
