"""One way to score a candidate context: :func:`score_context`.

``contextures evaluate``, the main job (the context selector) and the correlation study all
score a context with this one function, so they agree on every convention:

1. **Spectrum.** Fit :class:`~contextures.spectral.Contexture` with d₀ components on the fitting
   rows (the pretrain rows, or a subsample of them): s_1..s_{d₀}, exact.
2. **τ and d̂** from the singular values alone (:func:`~contextures.evaluation.tau.tau`), and the
   decay rate; optionally the diagnostics of the context's kernel (kernel deviation, Lipschitz).
3. **Stable features.** The components the sample resolves, extended to the downstream-train
   and test rows by the stable extension (``Contexture.transform``); the downstream rows never
   enter the context.
4. **Probe.** The one-pass ridge probe on the first k stable columns, k = 1..K: α chosen per k by
   a ``cv_folds``-fold cross-validation of the downstream-train rows (5; None: one 80/20 split),
   probe refit on all of them, error on the test rows. Two readings of the same curve:

   - ``err_at_d_val``, ``d_val``: k chosen on the *cross-validated* curve, its test error (the
     label-honest choice: no test label decides anything);
   - ``err``, ``d_star``: min over k of the test error (the paper's reading, err_{d*}).

   d's are reported as component counts (the index of the last component the probe used), so
   they compare with d̂.
5. **Context complexity (optional, ``complexity=True``; on by default with ``diagnostics``).**
   κ² = max_j k(x_j, x_j) over the fitting rows and the mean of that diagonal
   (:func:`~contextures.evaluation.complexity.context_complexity`): ``kappa`` and
   ``kernel_trace`` in the record. It costs one pass over the rows of P.
6. **Paper protocol (optional, ``raw_probe=True``).** The probe on all d₀ raw Nyström columns,
   α chosen on one 80/20 split of downstream-train, as the paper computes err_{d*}: ``raw_err``,
   ``raw_d_star``.

**Targets.** A regression target is standardised with the downstream-train mean and standard
deviation, so an error reads as a fraction of the target's variance (1 = predicting the mean);
classification errors are the one-hot MSE and the accuracy of the arg-max class.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _progress
from .._progress import say
from ..contexts.base import make_context
from ..datasets.streamed import is_streamed
from ..exceptions import DataError
from ..validation import check_positive
from .diagnostics import decay_rate, kernel_deviation, lipschitz_estimate
from .probes import DEFAULT_ALPHAS, ProbeCurve, ridge_probe_curve
from .tau import TauResult, tau

PROBE_ANNOUNCE_ROWS = 20_000
"""From this many downstream rows the probe step says so on stderr (inside a reporting block)."""


def standardised_targets(y_train, y_test, task: str | None):
    """(y_train, y_test, (mean, std)) with regression targets standardised on y_train."""
    if task != "regression" or y_train is None or y_test is None:
        return y_train, y_test, None
    y_train = np.asarray(y_train, dtype=float)
    y_test = np.asarray(y_test, dtype=float)
    mean, std = float(np.mean(y_train)), float(np.std(y_train))
    std = std if std > 0 else 1.0
    return (y_train - mean) / std, (y_test - mean) / std, (mean, std)


@dataclass
class ContextScore:
    """Everything :func:`score_context` measured for one context (module docstring)."""

    context: str
    singular_values: np.ndarray
    tau_result: TauResult
    decay_rate: float
    resolved: np.ndarray
    probe: ProbeCurve | None = None
    raw_probe: ProbeCurve | None = None
    kernel_deviation: float | None = None
    lipschitz: float | None = None
    complexity: Any = None
    """The :class:`~contextures.evaluation.complexity.ContextComplexity` (κ), when computed."""
    solver: str = ""
    exact_operator: bool = True
    operator_error: float | None = None
    n_fit: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)
    """The fitted :class:`~contextures.spectral.Contexture`."""

    def components(self, k: int) -> int:
        """The component count up to the k-th stable column."""
        return int(self.resolved[k - 1] + 1)

    @property
    def n_resolved(self) -> int:
        return int(self.resolved.size)

    @property
    def err(self) -> float | None:
        return None if self.probe is None else float(self.probe.error)

    @property
    def d_star(self) -> int | None:
        return None if self.probe is None else self.components(self.probe.d_star)

    @property
    def err_at_d_val(self) -> float | None:
        return None if self.probe is None else float(self.probe.error_at_d_val)

    @property
    def d_val(self) -> int | None:
        return None if self.probe is None else self.components(self.probe.d_val)

    @property
    def err_at_d_hat(self) -> float | None:
        """Test error of the probe on the stable columns among the first d̂ components."""
        if self.probe is None:
            return None
        k = int(np.searchsorted(self.resolved, self.tau_result.d, side="left"))
        return float(self.probe.errors[k - 1]) if k >= 1 else None

    @property
    def accuracy_at_d_val(self) -> float | None:
        if self.probe is None or self.probe.accuracy is None:
            return None
        return float(self.probe.accuracy[self.probe.d_val - 1])

    @property
    def curve_tracking(self) -> float | None:
        """Spearman correlation of τ_d and err_d over the stable columns where both are finite
        (close to 1: τ_d orders the dimensions as the probe does)."""
        from scipy.stats import spearmanr

        if self.probe is None:
            return None
        curve = np.asarray(self.tau_result.curve, dtype=float)
        errors = np.asarray(self.probe.errors, dtype=float)
        at = self.resolved[:errors.size]
        keep = at < curve.size
        t, e = curve[at[keep]], errors[keep]
        ok = np.isfinite(t) & np.isfinite(e)
        if ok.sum() < 3 or np.ptp(t[ok]) == 0 or np.ptp(e[ok]) == 0:
            return None
        rho = spearmanr(t[ok], e[ok]).statistic
        return float(rho) if np.isfinite(rho) else None

    def record(self) -> dict:
        """A JSON-ready record (names shared by ``evaluate``, the selector and the studies)."""
        t = self.tau_result.tau

        def num(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x

        raw = self.raw_probe
        return {
            "context": self.context,
            "tau": num(float(t)),
            "d_hat": int(self.tau_result.d),
            "abstain": bool(self.tau_result.abstain),
            "decay_rate": num(float(self.decay_rate)),
            "s1": float(self.singular_values[0]),
            "n_resolved": self.n_resolved,
            "err": num(self.err),
            "d_star": self.d_star,
            "err_at_d_val": num(self.err_at_d_val),
            "d_val": self.d_val,
            "err_at_d_hat": num(self.err_at_d_hat),
            "accuracy_at_d_val": self.accuracy_at_d_val,
            "raw_err": None if raw is None else num(float(raw.error)),
            "raw_d_star": None if raw is None else int(raw.d_star),
            "raw_err_at_d_val": None if raw is None else num(float(raw.error_at_d_val)),
            "kernel_deviation": num(self.kernel_deviation),
            "lipschitz": num(self.lipschitz),
            "kappa": None if self.complexity is None else num(float(self.complexity.kappa)),
            "kernel_trace": None if self.complexity is None else
            num(float(self.complexity.mean_diagonal)),
            "tau_curve_vs_error_spearman": self.curve_tracking,
            "solver": self.solver,
            "n_fit": self.n_fit,
        }


def _streamed_probe(model, prepared, y_train, y_test, label: str, *, alphas, random_state,
                    cv_folds) -> ProbeCurve:
    """The probe of downstream rows streamed from their file: each block transformed as it is
    read (:mod:`~contextures.datasets.streamed`) and probed by
    :func:`~contextures.evaluation.probe_stream.ridge_probe_curve_streamed`."""
    from .probe_stream import ridge_probe_curve_streamed

    if cv_folds is None:
        raise DataError("streamed downstream rows are probed with a K-fold cross-validation: "
                        "cv_folds must be set")
    source = prepared.X_train.source
    with _progress.task(f"{label}: streaming and probing the downstream rows", source.n_rows(),
                        "rows") as progress:
        def features():
            for part, X in source.blocks():
                yield part, model.transform(X)
                progress.update(advance=X.shape[0])

        return ridge_probe_curve_streamed(features(), y_train, y_test, task=prepared.task,
                                          alphas=alphas, random_state=random_state,
                                          cv_folds=cv_folds)


def score_context(context, prepared, *, d0: int, beta: float = 1.0, alphas=DEFAULT_ALPHAS,
                  X_fit: np.ndarray | None = None, cache=None, solver: str = "auto",
                  random_state: int = 0, probe: bool | None = None, raw_probe: bool = False,
                  diagnostics: bool = False, complexity: bool | None = None,
                  diagnostic_rows: int = 1000,
                  lipschitz_rows: int = 200, memory_budget=None, n_jobs: int | None = None,
                  folds: int = 5, check_rows: int = 4000,
                  cv_folds: int | None = 5) -> ContextScore:
    """Score one context on a :class:`~contextures.datasets.prepare.Prepared` dataset.

    ``X_fit`` are the fitting rows (default: ``prepared.X_pre``; label contexts need the
    pretrain rows and their labels); ``cache`` a ContextCache of them; ``probe`` True requires a
    target, False skips the probe, None runs it when there is one. ``complexity`` computes κ
    (None: when ``diagnostics`` is on).
    """
    from ..spectral import Contexture  # the spectral engine imports contexts; keep this lazy

    beta = check_positive(beta, "beta")
    ctx = make_context(context)
    has_target = prepared.y_train is not None and prepared.y_test is not None
    if probe and not has_target:
        raise DataError(f"a probe needs a target, and dataset {prepared.name!r} has none")
    run_probe = has_target if probe is None else bool(probe)
    if run_probe and raw_probe and is_streamed(prepared.X_train):   # refused before any work
        raise DataError("the probe of the raw Nyström columns (raw_probe) needs the "
                        "downstream rows in memory, and these are streamed from the file")
    X = prepared.X_pre if X_fit is None else X_fit
    y_fit = None
    if ctx.needs_labels:
        if getattr(prepared, "y_pre", None) is None or X_fit is not None:
            raise DataError(f"context {ctx.spec()} needs labels on the fitting rows")
        y_fit = prepared.y_pre
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    model = Contexture(ctx, n_components=d0, solver=solver, random_state=random_state,
                       memory_budget=memory_budget, n_jobs=n_jobs, folds=folds,
                       check_rows=check_rows)
    model.fit(X, y_fit, cache=cache, keep_operator=diagnostics)
    seconds["fit"] = time.perf_counter() - t0
    s = np.asarray(model.singular_values_)
    result = tau(s, beta=beta, d0=d0)
    lam = decay_rate(s) if (s > 0).any() else float("nan")
    label = context.strip() if isinstance(context, str) else ctx.spec()
    notes = list(model.solver_notes_)
    if not model.converged_:
        notes.append("the eigensolver did not reach its tolerance")
    op_exact, op_error = True, None
    score = ContextScore(context=label, singular_values=s, tau_result=result, decay_rate=lam,
                         resolved=np.asarray(model.components_resolved_), solver=model.solver_,
                         n_fit=int(X.shape[0]), notes=notes, seconds=seconds, model=model)
    if diagnostics:
        t1 = time.perf_counter()
        op = model.operator_ if model.operator_ is not None else model.context_.operator(
            memory_budget)
        op_exact, op_error = bool(getattr(op, "exact", True)), getattr(op, "error", None)
        score.kernel_deviation = float(kernel_deviation(op, n_sample=diagnostic_rows,
                                                        random_state=0))
        score.lipschitz = float(lipschitz_estimate(op, X, n_sample=lipschitz_rows,
                                                   random_state=0))
        seconds["diagnostics"] = time.perf_counter() - t1
    score.exact_operator, score.operator_error = op_exact, op_error
    if diagnostics if complexity is None else complexity:
        from .complexity import context_complexity

        t1 = time.perf_counter()
        op = model.operator_ if model.operator_ is not None else model.context_.operator(
            memory_budget)
        score.complexity = context_complexity(op)
        seconds["complexity"] = time.perf_counter() - t1
    if run_probe:
        t2 = time.perf_counter()
        y_train, y_test, _ = standardised_targets(prepared.y_train, prepared.y_test,
                                                  prepared.task)
        if score.n_resolved == 0:
            notes.append("no component is resolved on held-out rows, so there is no probe")
        else:
            n_down = prepared.X_train.shape[0] + prepared.X_test.shape[0]
            if n_down >= PROBE_ANNOUNCE_ROWS:
                say(f"{label}: extending {score.n_resolved} components to {n_down} downstream "
                    "rows and probing them")
            if is_streamed(prepared.X_train):
                score.probe = _streamed_probe(model, prepared, y_train, y_test, label,
                                              alphas=alphas, random_state=random_state,
                                              cv_folds=cv_folds)
            else:
                score.probe = ridge_probe_curve(model.transform(prepared.X_train), y_train,
                                                None, None, model.transform(prepared.X_test),
                                                y_test, task=prepared.task, alphas=alphas,
                                                random_state=random_state, cv_folds=cv_folds)
        if raw_probe:
            from ..spectral.extension import extend

            W = model.extension_weights_
            score.raw_probe = ridge_probe_curve(extend(model.context_, prepared.X_train, W),
                                                y_train, None, None,
                                                extend(model.context_, prepared.X_test, W),
                                                y_test, task=prepared.task, alphas=alphas,
                                                random_state=random_state)
        seconds["probe"] = time.perf_counter() - t2
    seconds["total"] = time.perf_counter() - t0
    return score
