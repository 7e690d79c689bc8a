"""SCARF context: each feature, independently with probability p, is replaced by the same feature
of a uniformly random *other* row (the empirical marginal of that feature, not a uniform draw on
[min, max]).

Density. For a training row x_i the sampler's exact conditional is

    q(a | x_i) = Π_f [ (1 − p)·1{a_f = x_if} + p · m_f^{(−i)}(a_f) ],
    m_f^{(−i)}(v) = (n·m_f(v) − 1{x_if = v}) / (n − 1),

with m_f(v) the frequency of value v in column f (the empirical marginal pmf). The leave-one-out
marginal m^{(−i)} is the "other row" rule; it differs from m_f by O(1/n), and for a new point x
(every row is "other") it is m_f itself, which is what ``transition`` uses. log q is
b_s + Σ_f g_sf·1{x_if = a_sf}: a per-draw base (no feature matches) plus a bonus per matching
feature, evaluated with :class:`~contextures.contexts._values.MatchSum`.

The operator is the Monte-Carlo operator of :mod:`~contextures.contexts.montecarlo` over
r = ``draws`` corrupted copies of every row (cost O(n · r·n · F) time, two passes, memory O(nnz)).
With continuous features a draw almost only matches its own origin row (and the rows its
replaced values came from), so P is very sparse and the association is strong.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_fraction, check_seed
from ._values import MatchSum, ValueCodes
from .base import register_context
from .montecarlo import MonteCarloContext, safe_log


def partners(origins: np.ndarray, n: int, shape: tuple[int, ...],
             rng: np.random.Generator) -> np.ndarray:
    """Uniformly random rows other than the origin (one per entry of ``shape``)."""
    other = rng.integers(n - 1, size=shape)
    o = origins.reshape((-1,) + (1,) * (len(shape) - 1))
    return other + (other >= o)


class PartnerCorruptionContext(MonteCarloContext):
    """Base of the contexts that replace features of a row by those of random partner rows
    (SCARF, cutmix): a probability ``p`` per feature, ``draws`` Monte-Carlo copies per row, a seed,
    and the value codes of the sample (:class:`~contextures.contexts._values.ValueCodes`)."""

    strength_param = "p"

    def __init__(self, p: float = 0.3, draws: int = 8, random_state: int | None = 0):
        self.p = p
        self.draws = draws
        self.random_state = random_state

    def _check_params(self, who: str) -> None:
        self.p_ = check_fraction(self.p, "p", who=who)
        check_seed(self.random_state, who=who)

    def _prepare(self) -> None:
        self._values = ValueCodes(self.X_)


@register_context
class ScarfContext(PartnerCorruptionContext):
    """SCARF corruption with the empirical marginal (see the module docstring).

    Parameters
    ----------
    p : float in [0, 1], probability of replacing each feature
    draws : int ≥ 2, corrupted copies per row for the Monte-Carlo operator
    random_state : int or None, seed of the draws
    """

    spec_name = "scarf"

    def _draw(self, origins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, F = self.X_.shape
        replace = rng.random((origins.size, F)) < self.p_
        source = partners(origins, n, (origins.size, F), rng)
        A = self.X_[origins].copy()
        rows, feats = np.nonzero(replace)
        A[rows, feats] = self.X_[source[rows, feats], feats]
        return A

    def _terms(self, new: bool) -> tuple[np.ndarray, MatchSum]:
        n, p = self.n_samples_, self.p_
        codes = self._draw_codes
        cnt = self._values.count_of(codes).astype(np.float64)
        if new:
            nomatch = p * cnt / n
            match = (1 - p) + p * cnt / n
        else:
            nomatch = p * cnt / (n - 1)
            match = (1 - p) + p * (cnt - 1) / (n - 1)
        base = safe_log(nomatch)
        bonus = safe_log(match) - base
        return base.sum(axis=1), MatchSum(self._values, codes, bonus)

    def _after_draws(self) -> None:
        self._draw_codes = self._values.encode(self.A_)
        self._train_terms = None
        self._new_terms = None

    def _log_q_train(self, i0: int, i1: int) -> np.ndarray:
        if self._train_terms is None:
            self._train_terms = self._terms(new=False)
        base, match = self._train_terms
        return base[None, :] + match(self._values.codes[i0:i1])

    def _log_q_new(self, X_new: np.ndarray) -> np.ndarray:
        if self._new_terms is None:
            self._new_terms = self._terms(new=True)
        base, match = self._new_terms
        return base[None, :] + match(self._values.encode(X_new))
