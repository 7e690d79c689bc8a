"""The context selector behind ``contextures run``: which context should I pretrain with on my
data, and why?

For each candidate context the selector scores the context with
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

Two studies on the skeleton of :mod:`contextures.runner.study`, one after the other: the τ scan
(:data:`SCAN`, one cell per strength under ``DIR/scan``) and the candidates (one cell per
candidate under ``DIR/cells``), so an interrupted run resumes and either part runs on a dask
cluster. Before any cell runs, the whole run's time is estimated from a timed dense
eigendecomposition scaled by n³ (:func:`estimate_seconds`) and refused above ``max_time``.
Outputs (:mod:`contextures.reports.selection`): ``DIR/report.md``, ``DIR/results.csv``,
``DIR/summary.json`` and the PNG figures ``spectra.png``, ``tau_and_error_curves.png`` and
``tau_vs_error.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .. import _timeguard
from ..exceptions import DataError, ParameterError, TimeBudgetError
from ..reports import selection as report
from ..reports.files import write_text
from ..reports.records import json_safe
from ..runner import Cell
from ..runner.study import Study, run_study
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
class SelectorSettings:
    """Settings of the context selector (its protocol is recorded in ``grid.json``).

    ``contexts``: the candidates; empty means "choose them with the τ scan" (the driver then
    runs :data:`SCAN` first and fills them in).
    """

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
    contexts: tuple[str, ...] = ()

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
        if len(set(self.contexts)) != len(self.contexts):
            raise ParameterError("the same --context is given twice")

    @classmethod
    def quick(cls, **overrides: Any) -> SelectorSettings:
        """The CI profile: 300 fitting rows, d₀ = 48, 500-row checks."""
        return cls(**{"max_fit": 300, "d0": 48, "check_rows": 500, **overrides})

    def as_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["alphas"] = [float(a) for a in self.alphas]
        config["contexts"] = list(self.contexts)
        return config

    def protocol(self) -> dict[str, Any]:
        return {"job": "run", "version": 2, "settings": self.as_config()}

    def cells(self) -> list[Cell]:
        """One cell per candidate (the candidates must be set)."""
        if not self.contexts:
            raise ParameterError("SelectorSettings.cells needs the candidates: run the τ scan "
                                 "first (run_selector does)")
        d0 = plan_selection(self).d0
        fn = f"{__name__}:candidate_cell"
        common = {"data": self.data, "split_seed": self.split_seed, "max_rows": self.max_rows,
                  "max_fit": self.max_fit, "fit_seed": self.fit_seed, "d0": d0,
                  "beta": float(self.beta), "alphas": [float(a) for a in self.alphas],
                  "diagnostic_rows": self.diagnostic_rows,
                  "lipschitz_rows": self.lipschitz_rows, "check_folds": self.check_folds,
                  "check_rows": self.check_rows}
        return [Cell(spec, fn, {**common, "context": spec}) for spec in self.contexts]


@dataclass(frozen=True)
class ScanSettings:
    """The τ scan of one selector run: the rows it fits on, d₀ and β."""

    data: str = DEFAULT_DATA
    d0: int = 512
    beta: float = 1.0
    split_seed: int = 0
    fit_seed: int = 0
    max_fit: int = DEFAULT_MAX_FIT
    max_rows: int | None = None

    @classmethod
    def of(cls, settings: SelectorSettings) -> ScanSettings:
        return cls(settings.data, settings.d0, float(settings.beta), settings.split_seed,
                   settings.fit_seed, settings.max_fit, settings.max_rows)

    @classmethod
    def quick(cls, **overrides: Any) -> ScanSettings:
        return cls(**{"max_fit": 300, "d0": 48, **overrides})

    def protocol(self) -> dict[str, Any]:
        return {"job": "run-scan", "version": 1, "settings": asdict(self)}

    def grid(self) -> dict[str, list[str]]:
        prepared = load_prepared(self.data, None, self.split_seed, self.max_rows)
        X_fit = fitting_sample(prepared, self.max_fit, self.fit_seed,
                               (self.data, None, self.split_seed, self.max_rows))
        return scan_grid(X_fit)

    def cells(self) -> list[Cell]:
        d0 = min(self.d0, min(self.max_fit, _n_pretrain(self)) - 2)
        fn = f"{__name__}:scan_cell"
        common = {"data": self.data, "split_seed": self.split_seed, "max_rows": self.max_rows,
                  "max_fit": self.max_fit, "fit_seed": self.fit_seed, "d0": d0,
                  "beta": float(self.beta)}
        return [Cell(spec, fn, {**common, "context": spec, "family": family})
                for family, specs in self.grid().items() for spec in specs]


def _n_pretrain(settings: Any) -> int:
    prepared = load_prepared(settings.data, None, settings.split_seed, settings.max_rows)
    return int(prepared.X_pre.shape[0])


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


def scan_values(spec: str, X_fit: np.ndarray, d0: int, beta: float, cache=None) -> dict[str, Any]:
    """τ of one scanned strength, from its singular values alone."""
    from ..evaluation import tau as tau_of
    from ..spectral.values import spectrum_values

    values, _ = spectrum_values(spec, X_fit, d0, cache=cache)
    t = tau_of(values, beta=beta, d0=d0)
    return {"context": spec, "family": family_of(spec),
            "tau": float(t.tau) if math.isfinite(t.tau) else None,
            "abstain": bool(t.abstain), "d_hat": int(t.d)}


def choose_candidates(scan: Sequence[dict[str, Any]], n_features: int, *,
                      categorical: float) -> tuple[list[str], list[str]]:
    """The candidates (and notes) from the scan's rows {context, family, tau, abstain}: per
    family up to :data:`PER_FAMILY` strengths τ ranks, evenly spread (else the one closest to
    ranking), a masked KNN and RBF at the middle of those, SCARF on mostly categorical data."""
    from ..contexts import make_context
    from ..contexts.masked import n_hidden

    chosen: list[str] = []
    notes: list[str] = []
    middle: dict[str, str] = {}
    for family in ("knn", "rbf"):
        rows = [r for r in scan if r["family"] == family]
        if not rows:
            raise DataError(f"the τ scan has no {family} strength (every one failed)")
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
    F = int(n_features)
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
    return chosen, notes


def adaptive_candidates(X_fit: np.ndarray, d0: int, beta: float, *, categorical: float,
                        cache=None) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """The scan and the choice in this process (the driver runs the scan as :data:`SCAN`).

    Returns (candidates, the scan's rows {context, family, tau, abstain, d_hat}, notes).
    """
    scan = [scan_values(spec, X_fit, d0, beta, cache)
            for specs in scan_grid(X_fit).values() for spec in specs]
    candidates, notes = choose_candidates(scan, X_fit.shape[1], categorical=categorical)
    return candidates, scan, notes


# --- the τ scan as a study ------------------------------------------------------------------------
def scan_cell(*, data: str, split_seed: int, max_rows: int | None, max_fit: int, fit_seed: int,
              context: str, family: str, d0: int, beta: float) -> dict[str, Any]:
    """One strength of the scan: τ from the singular values alone (no eigenfunctions)."""
    start = time.perf_counter()
    prepared = load_prepared(data, None, split_seed, max_rows)
    key = (data, None, split_seed, max_rows)
    X_fit = fitting_sample(prepared, max_fit, fit_seed, key)
    cache = context_cache((*key, max_fit, fit_seed), X_fit, max_k=max(DEFAULT_KNN))
    row = scan_values(context, X_fit, d0, beta, cache)
    row["family"] = family
    row["seconds"] = time.perf_counter() - start
    return row


def summarize_scan(records: Sequence[dict[str, Any]], settings: ScanSettings,
                   run: Any = None) -> dict[str, Any]:
    """The scan's rows in grid order (failed strengths listed apart)."""
    rows = [r["result"] for r in records if r["status"] == "ok"]
    failed = [{"context": r["key"], "error": r["error"]} for r in records if r["status"] != "ok"]
    return {"rows": rows, "failed": failed}


def write_scan_outputs(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """``scan.json``: every scanned strength with its τ."""
    path = Path(out_dir) / "scan.json"
    write_text(path, json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    return [path]


SCAN = Study("τ scan", ScanSettings, summarize_scan, write_scan_outputs)


# --- the cell -----------------------------------------------------------------------------------
def candidate_cell(*, data: str, split_seed: int, max_rows: int | None, max_fit: int,
                   fit_seed: int, context: str, d0: int, beta: float, alphas: list[float],
                   diagnostic_rows: int, lipschitz_rows: int, check_folds: int = 3,
                   check_rows: int = 1500) -> dict[str, Any]:
    """One candidate of the selector: :func:`~contextures.evaluation.scoring.score_context` with
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
class SelectionPlan:
    """The dataset facts, candidates, scan and notes of one run."""

    data: str
    name: str
    task: str | None
    n_rows: int
    n_pretrain: int
    n_fit: int
    n_train: int
    n_test: int
    d0: int
    n_features: int = 0
    categorical: float = 0.0
    has_target: bool = True
    candidates: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scan: list[dict[str, Any]] = field(default_factory=list)


def plan_selection(settings: SelectorSettings) -> SelectionPlan:
    """Load the data and fix d₀ and the fitting rows (every given spec checked first)."""
    from ..contexts import make_context

    for spec in settings.contexts:
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
    has_target = prepared.y_train is not None and prepared.task is not None
    if not has_target:
        notes.append("the data has no target: no probe, candidates ranked by τ only")
    return SelectionPlan(settings.data, prepared.name, prepared.task, prepared.n_rows, n_pre,
                         n_fit, int(prepared.X_train.shape[0]), int(prepared.X_test.shape[0]),
                         d0, int(prepared.X_pre.shape[1]), float(prepared.categorical_share),
                         has_target, list(settings.contexts), notes)


def estimate_seconds(plan: SelectionPlan, settings: SelectorSettings, *, n_scan: int,
                     n_candidates: int, workers: int = 1) -> _timeguard.Estimate:
    """The run's time from a timed dense eigendecomposition scaled by n³ (see _timeguard).

    A scanned strength costs one eigenvalues-only decomposition of n_fit × n_fit (about half of
    one with vectors); a candidate one with vectors plus its ``check_folds`` refits on
    (K − 1)/K of ``check_rows`` rows, and as much again for its probes and diagnostics. The
    cells are shared among the workers.
    """
    from ..spectral.threads import solver_threads

    rows = min(settings.check_rows, plan.n_fit)
    with solver_threads():   # timed with the thread count a solve in this process would use
        unit = _timeguard.dense_seconds(plan.n_fit)
        fold = _timeguard.dense_seconds(int(rows * (settings.check_folds - 1)
                                            / settings.check_folds))
    per_candidate = 2.0 * (unit + settings.check_folds * fold)
    seconds = (n_scan * 0.5 * unit + n_candidates * per_candidate) / max(1, workers)
    return _timeguard.Estimate(
        seconds, f"{n_scan} scanned strengths and {n_candidates} candidates on {plan.n_fit} "
                 f"fitting rows, from a dense eigendecomposition timed at 400 × 400 and scaled by "
                 f"n³ ({_timeguard.format_seconds(unit)} at n = {plan.n_fit})")


# --- ranking and the summary ----------------------------------------------------------------------
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

    plan: SelectionPlan
    settings: SelectorSettings
    rows: list[dict[str, Any]]
    recommendation: dict[str, Any]
    correlation: dict[str, Any]
    paper_correlation: dict[str, Any]
    failed: list[dict[str, Any]]
    elapsed_seconds: float
    data: dict[str, Any]

    def table(self) -> list[str]:
        return report.ranked_table_lines(self.rows, self.plan.task)


def summarize_selection(records: Sequence[dict[str, Any]], settings: SelectorSettings,
                        run: Any = None, *, plan: SelectionPlan,
                        started: float | None = None) -> Selection:
    """Rank the candidates, recommend, correlate τ with the errors (module docstring)."""
    failed = [{"context": r["key"], "error": r["error"]} for r in records if r["status"] != "ok"]
    results = [r["result"] for r in records if r["status"] == "ok"]
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


# --- the driver ---------------------------------------------------------------------------------
@dataclass
class SelectorResult:
    plan: SelectionPlan
    selection: Selection
    written: list[Path]

    @property
    def summary(self) -> dict[str, Any]:
        return self.selection.data

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.selection.rows

    @property
    def table(self) -> list[str]:
        return self.selection.table()


def run_selector(out_dir: str | Path, settings: SelectorSettings | None = None, *,
                 workers: int = 1, backend: str = "joblib", scheduler: str | None = None,
                 resume: str = "auto", progress: bool = True,
                 max_time: float | None = _timeguard.DEFAULT_MAX_TIME,
                 echo: Callable[[str], None] | None = None) -> SelectorResult:
    """Run the selector into ``out_dir`` (resumable; module docstring).

    ``settings.contexts`` empty: the τ scan (:data:`SCAN`, under ``out_dir/scan``) chooses the
    candidates. ``max_time`` (seconds, None: no limit): refuse a run estimated above it, with
    :class:`~contextures.exceptions.TimeBudgetError`, before any cell runs.
    """
    settings = settings or SelectorSettings()
    say = echo or (lambda _msg: None)
    start = time.perf_counter()
    plan = plan_selection(settings)
    out = Path(out_dir)
    grid_options = {"workers": workers, "backend": backend, "scheduler": scheduler,
                    "resume": resume, "progress": progress}
    scan_settings = ScanSettings.of(settings)
    n_scan = 0 if settings.contexts else sum(len(v) for v in scan_settings.grid().values())
    expected = len(settings.contexts) or 2 * PER_FAMILY + 2 + 2 * (
        plan.categorical >= SCARF_MIN_CATEGORICAL)
    estimate = estimate_seconds(plan, settings, n_scan=n_scan, n_candidates=expected,
                                workers=workers)
    say(f"{plan.name}: {plan.n_pretrain}/{plan.n_train}/{plan.n_test} rows "
        f"(pretrain/train/test), fitting on {plan.n_fit}"
        + (f" (a seeded subsample of the {plan.n_pretrain} pretrain rows)"
           if plan.n_fit < plan.n_pretrain else "")
        + f", d0 = {plan.d0}; estimated {estimate.text()}")
    if max_time is not None and estimate.seconds > max_time:
        raise TimeBudgetError(
            f"the run is estimated to take {estimate.text()}, over the time limit of "
            f"{_timeguard.format_seconds(max_time)}; --max-time 0 runs it anyway (cheaper: a "
            "smaller --max-fit or --d0, or fewer --context)")
    if not settings.contexts:
        scan = run_study(SCAN, scan_settings, out / "scan", echo=None, **grid_options).summary
        for failure in scan["failed"]:
            say(f"scanned strength {failure['context']} failed: {failure['error']}")
        candidates, notes = choose_candidates(scan["rows"], plan.n_features,
                                              categorical=plan.categorical)
        plan.scan, plan.notes = scan["rows"], plan.notes + notes
        settings = replace(settings, contexts=tuple(candidates))
        plan.candidates = list(candidates)
    say(f"{len(settings.contexts)} candidate contexts")
    study = Study("candidates", SelectorSettings,
                  partial(summarize_selection, plan=plan, started=start), write_selection_outputs)
    result = run_study(study, settings, out, echo=None, **grid_options)
    for failure in result.summary.failed:
        say(f"candidate {failure['context']} failed: {failure['error']}")
    return SelectorResult(plan, result.summary, result.written)
