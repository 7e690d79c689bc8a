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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from .. import _timeguard
from ..exceptions import DataError, ParameterError, TimeBudgetError
from ..runner import Cell
from ..runner.study import Study, run_study
from .encoding import context_cache, current_blas_threads
from .selector_scan import (
    DEFAULT_KNN,
    PER_FAMILY,
    SCAN,
    SCARF_MIN_CATEGORICAL,
    FitRows,
    ScanSettings,
    choose_candidates,
    fitting_rows,
)
from .selector_summary import Selection, summarize_selection, write_selection_outputs
from .strengths import family_of

DENSE_FIT_MAX = 3000   # one dense eigh up to here: faster than Krylov for d₀ = 512
DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3)


@dataclass(frozen=True)
class SelectorSettings(FitRows):
    """Settings of the context selector (its protocol is recorded in ``grid.json``): the fitting
    rows, d₀ and β of :class:`~contextures.experiments.selector_scan.FitRows`, then the probe's
    α grid, the diagnostics' sample sizes, the resolution check and the candidates.

    ``contexts``: the candidates; empty means "choose them with the τ scan" (the driver then
    runs :data:`SCAN` first and fills them in).
    """

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
        config = self.record()
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
        common = {**self.rows(), "d0": d0,
                  "beta": float(self.beta), "alphas": [float(a) for a in self.alphas],
                  "diagnostic_rows": self.diagnostic_rows,
                  "lipschitz_rows": self.lipschitz_rows, "check_folds": self.check_folds,
                  "check_rows": self.check_rows}
        return [Cell(spec, fn, {**common, "context": spec}) for spec in self.contexts]


# --- the cell -----------------------------------------------------------------------------------
def candidate_cell(*, data: str, split_seed: int, max_rows: int | None, max_fit: int,
                   fit_seed: int, context: str, d0: int, beta: float, alphas: list[float],
                   diagnostic_rows: int, lipschitz_rows: int, check_folds: int = 3,
                   check_rows: int = 1500, stream: bool = False) -> dict[str, Any]:
    """One candidate of the selector: :func:`~contextures.evaluation.scoring.score_context` with
    diagnostics, as a record (plus the curves the figures draw)."""
    from ..evaluation.scoring import score_context

    start = time.perf_counter()
    prepared, X_fit, key = fitting_rows(data=data, split_seed=split_seed, max_rows=max_rows,
                                        max_fit=max_fit, fit_seed=fit_seed, stream=stream)
    cache = context_cache(key, X_fit, max_k=max(DEFAULT_KNN))
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
    prepared = settings.prepared()
    n_pre = int(prepared.n_pretrain)
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
    fold_rows = rows * (settings.check_folds - 1) / settings.check_folds
    with solver_threads():   # timed with the thread count a solve in this process would use
        unit = _timeguard.dense_seconds(plan.n_fit)
    fold = unit * (fold_rows / plan.n_fit) ** 3   # the same n³ scaling, without a second probe
    per_candidate = 2.0 * (unit + settings.check_folds * fold)
    seconds = (n_scan * 0.5 * unit + n_candidates * per_candidate) / max(1, workers)
    return _timeguard.Estimate(
        seconds, f"{n_scan} scanned strengths and {n_candidates} candidates on {plan.n_fit} "
                 f"fitting rows, from a dense eigendecomposition timed at 400 × 400 and scaled by "
                 f"n³ ({_timeguard.format_seconds(unit)} at n = {plan.n_fit})")


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
