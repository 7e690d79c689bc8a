"""Gaussian noise context: a = x + σ ε, ε ~ N(0, I), on standardised features.

q(a | x) = N(a; x, σ² I); the normalising constant cancels in q / P̂_A, so
log W[i, s] = −‖a_s − x_i‖² / (2σ²) − log P̂_A(a_s) (up to that constant). The operator is the
Monte-Carlo operator of :mod:`~contextures.contexts.montecarlo` over r = ``draws`` noisy copies of
every row (cost O(n · r·n · F) with BLAS, two passes).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_float, check_seed
from .base import register_context
from .montecarlo import LOG_ZERO, MonteCarloContext

SIGMA_RANGE = (1e-8, 1e8)
"""σ is checked to lie here: on standardised features a smaller σ makes every draw its own
origin's and a larger one erases the row, and beyond them σ², 1/σ² and the squared distances of
the draws leave float64's range (σ = 1e308 overflowed)."""


@register_context
class NoiseContext(MonteCarloContext):
    """a = x + σ ε (see the module docstring).

    Parameters
    ----------
    sigma : float in [1e-8, 1e8] (:data:`SIGMA_RANGE`)
    draws : int ≥ 2, noisy copies per row for the Monte-Carlo operator
    random_state : int or None, seed of the draws
    """

    spec_name = "noise"
    strength_param = "sigma"
    zero_density_possible = False

    def __init__(self, sigma: float = 0.1, draws: int = 8, random_state: int | None = 0):
        self.sigma = sigma
        self.draws = draws
        self.random_state = random_state

    def _check_params(self, who: str) -> None:
        self.sigma_ = check_float(self.sigma, "sigma", low=SIGMA_RANGE[0], high=SIGMA_RANGE[1],
                                  who=who)
        check_seed(self.random_state, who=who)

    def _draw(self, origins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.X_[origins] + self.sigma_ * rng.normal(size=(origins.size, self.X_.shape[1]))

    def _after_draws(self) -> None:
        self._a_norms = np.einsum("ij,ij->i", self.A_, self.A_)

    def _log_q(self, Xb: np.ndarray) -> np.ndarray:
        D = Xb @ self.A_.T
        D *= -2.0
        D += np.einsum("ij,ij->i", Xb, Xb)[:, None]
        D += self._a_norms[None, :]
        np.maximum(D, 0.0, out=D)
        D *= -0.5 / self.sigma_**2
        np.maximum(D, LOG_ZERO, out=D)   # an overflow to −inf is an impossible draw, not a NaN
        return D

    def _log_q_train(self, i0: int, i1: int) -> np.ndarray:
        return self._log_q(self.X_[i0:i1])

    def _log_q_new(self, X_new: np.ndarray) -> np.ndarray:
        return self._log_q(X_new)
