"""Evaluate contexts on a prepared dataset: spectrum, τ, decay rate and the exact encoder's probe.

:func:`evaluate_context` is what ``contextures evaluate`` runs for each context (spec §7A, one
context): fit the exact contexture (:class:`~contextures.spectral.Contexture`) on the pretrain rows
with D₀ components, score its spectrum with τ (:func:`~contextures.evaluation.tau.tau`) and the
decay rate, and — when the data has a target — extend the eigenfunctions to the downstream-train
and test rows (``transform``) and run the one-pass ridge probe over d = 1..D₀
(:func:`~contextures.evaluation.probes.ridge_probe_curve`; ridge strength chosen on a split of the
downstream-train rows, error on the test rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

from ..contexts.base import make_context
from ..exceptions import DataError, ParameterError
from ._validation import check_int, check_positive
from .diagnostics import decay_rate
from .probes import DEFAULT_ALPHAS, ProbeCurve, ridge_probe_curve
from .tau import TauResult, tau


def effective_d0(d0: int, n_pretrain: int) -> tuple[int, str | None]:
    """D₀ capped at n − 2 (n pretrain rows: n − 1 non-trivial singular values exist, and τ needs
    s_{d+1} up to d = D₀ − 1), with the note to print when the cap applies."""
    d0 = check_int(d0, "d0", low=2)
    cap = n_pretrain - 2
    if cap < 2:
        raise ParameterError(f"the pretrain split has {n_pretrain} rows: too few to evaluate a "
                             "context (τ needs at least 2 singular values, so n ≥ 4)")
    if d0 > cap:
        return cap, (f"d0 = {d0} lowered to n − 2 = {cap} (the pretrain split has "
                     f"{n_pretrain} rows)")
    return d0, None


@dataclass
class ContextEvaluation:
    """The evaluation of one context; :meth:`as_json` gives the record of ``contextures evaluate``.

    ``tau_result.d`` is the predicted dimension argmin_d τ_d (``d_star`` in JSON); ``probe`` is the
    ridge probe curve (None without a target), whose own best d and error are ``error_d`` and
    ``error`` in JSON (err_{d*} = min_d err_d on the test rows, the paper's reading).
    """

    context: str
    singular_values: np.ndarray
    tau_result: TauResult
    decay_rate: float
    probe: ProbeCurve | None
    solver: str
    fit_time: float
    notes: list[str] = field(default_factory=list)
    resolved: np.ndarray | None = None

    def _components(self, k: int) -> int:
        """The number of components up to the k-th probed (resolved) column."""
        return int(k if self.resolved is None else self.resolved[k - 1] + 1)

    @property
    def error(self) -> float | None:
        return None if self.probe is None else self.probe.error

    @property
    def error_d(self) -> int | None:
        """d of the best probe: the components up to its last column (the probe uses only the
        resolved ones among them)."""
        return None if self.probe is None else self._components(self.probe.d_star)

    @property
    def curve_tracking(self) -> float | None:
        """Spearman rank correlation of τ_d and err_d over the d where both are finite.

        Close to 1: the τ_d curve orders the dimensions as the probe does ([ICML §5.2] finds this
        for weak and moderate association, not for strong). None without a probe or with fewer
        than 3 usable d.
        """
        if self.probe is None:
            return None
        curve = np.asarray(self.tau_result.curve, dtype=float)
        errors = np.asarray(self.probe.errors, dtype=float)
        at = np.array([self._components(k) - 1 for k in range(1, errors.size + 1)], dtype=int)
        keep = at < curve.size
        curve, errors = curve[at[keep]], errors[keep]
        ok = np.isfinite(curve) & np.isfinite(errors)
        if ok.sum() < 3 or np.ptp(curve[ok]) == 0 or np.ptp(errors[ok]) == 0:
            return None
        rho = spearmanr(curve[ok], errors[ok]).statistic
        return float(rho) if np.isfinite(rho) else None

    def as_json(self) -> dict:
        """``{"context", "tau", "d_star", "abstain", "decay_rate", "error", "error_d",
        "tau_curve_vs_error_spearman"}``; a
        non-finite τ (every τ_d infinite) is written as null."""
        t = self.tau_result.tau
        return {
            "context": self.context,
            "tau": t if math.isfinite(t) else None,
            "d_star": int(self.tau_result.d),
            "abstain": bool(self.tau_result.abstain),
            "decay_rate": float(self.decay_rate),
            "error": self.error,
            "error_d": self.error_d,
            "tau_curve_vs_error_spearman": self.curve_tracking,
        }


def evaluate_context(context, prepared, *, d0: int = 512, beta: float = 1.0,
                     probe: bool | None = None, alphas=DEFAULT_ALPHAS, random_state=0,
                     memory_budget=None, solver: str = "auto") -> ContextEvaluation:
    """Spectrum, τ, decay rate and (with a target) the ridge probe of one context.

    Parameters
    ----------
    context : a context spec or Context; a spec string is kept as given as the result's label
        (the canonical ``Context.spec()`` drops default parameters: ``knn(k=30)`` → ``knn``).
    prepared : a :class:`~contextures.datasets.prepare.Prepared` (pretrain / train / test arrays).
    d0 : components to fit and τ's cut-off; must be ≤ n_pretrain − 2 (see :func:`effective_d0`).
    beta : τ's β.
    probe : True to require the probe (an error without a target), False to skip it, None to run
        it when the data has a target.
    alphas, random_state : ridge strengths, and the seed of the solver and of the validation split.
    """
    from ..spectral import Contexture  # the spectral engine imports contexts; keep this lazy

    beta = check_positive(beta, "beta")
    ctx = make_context(context)
    n_pre = prepared.X_pre.shape[0]
    d0 = check_int(d0, "d0", low=2, high=max(2, n_pre - 2))
    has_target = prepared.y_train is not None and prepared.y_test is not None
    if probe and not has_target:
        raise DataError(f"a probe needs a target, and dataset {prepared.name!r} has none")
    run_probe = has_target if probe is None else bool(probe)
    y_fit = None
    if ctx.needs_labels:
        if prepared.y_pre is None:
            raise DataError(f"context {ctx.spec()} needs labels and dataset "
                            f"{prepared.name!r} has no target")
        y_fit = prepared.y_pre
    model = Contexture(ctx, n_components=d0, solver=solver, random_state=random_state,
                       memory_budget=memory_budget).fit(prepared.X_pre, y_fit)
    s = np.asarray(model.singular_values_)
    result = tau(s, beta=beta, d0=d0)
    positive = s[s > 0]
    lam = decay_rate(s) if positive.size else float("nan")
    curve = None
    notes = list(getattr(model, "solver_notes_", []))
    resolved = np.asarray(model.components_resolved_)
    if run_probe and resolved.size == 0:
        notes.append("no component is resolved on held-out rows, so there is no probe")
    elif run_probe:
        F_train = model.transform(prepared.X_train)
        F_test = model.transform(prepared.X_test)
        curve = ridge_probe_curve(F_train, prepared.y_train, None, None, F_test, prepared.y_test,
                                  task=prepared.task, alphas=alphas, random_state=random_state)
    if not getattr(model, "converged_", True):
        notes.append("the eigensolver did not reach its tolerance")
    label = context.strip() if isinstance(context, str) else ctx.spec()
    return ContextEvaluation(context=label, singular_values=s, tau_result=result,
                             decay_rate=lam, probe=curve, solver=str(model.solver_),
                             fit_time=float(getattr(model, "fit_time_", float("nan"))),
                             notes=notes, resolved=resolved)
