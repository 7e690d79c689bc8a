"""Evaluate contexts on a prepared dataset: spectrum, τ, decay rate and the exact encoder's probe.

:func:`evaluate_context` is what ``contextures evaluate`` runs for each context: it checks d₀
against the pretrain rows and scores the context with
:func:`~contextures.evaluation.scoring.score_context` (the one scoring function the main job and
the studies use too), whose record is the command's JSON.
"""

from __future__ import annotations

from ..exceptions import ParameterError
from ..validation import check_int
from .probes import DEFAULT_ALPHAS
from .scoring import ContextScore, score_context

ContextEvaluation = ContextScore
"""The result of :func:`evaluate_context` (a :class:`~contextures.evaluation.scoring.ContextScore`)."""


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


def evaluate_context(context, prepared, *, d0: int = 512, beta: float = 1.0,
                     probe: bool | None = None, alphas=DEFAULT_ALPHAS, random_state=0,
                     memory_budget=None, solver: str = "auto",
                     raw_probe: bool = False, complexity: bool = True,
                     X_fit=None) -> ContextScore:
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
    raw_probe : also probe all d₀ raw columns (the paper's err_{d*}).
    complexity : also compute the context complexity κ (``kappa`` in the record).
    X_fit : the rows the context is fitted on (default: all pretrain rows), e.g. a seeded
        subsample of them; the other rows get the stable extension.
    """
    n_pre = prepared.X_pre.shape[0] if X_fit is None else X_fit.shape[0]
    d0 = check_int(d0, "d0", low=2, high=max(2, n_pre - 2))
    return score_context(context, prepared, d0=d0, beta=beta, alphas=alphas, solver=solver,
                         random_state=random_state, probe=probe, raw_probe=raw_probe,
                         memory_budget=memory_budget, complexity=complexity, X_fit=X_fit)
