"""Exact contextures of mixed contexts: minimax weights and concatenation (docs/theory.md §7).

Minimax weights. For a convex combination mix(A_1,…,A_r) the thesis re-weights the contexts
each epoch of training: with L_i the loss of context i, z-scored across contexts to ẑ_i,

    w_i ← w_i · exp(η ẑ_i),   then w ← w / Σ w,

which up-weights the context the encoder currently fits worst. The exact analogue used here: the
encoder is the exact top-d contexture of M_w = Σ w_i M_i, and the loss of context i is the shared
population objective of SVME/KISE at that encoder (docs/theory.md §8),

    L_i = Σ_j (‖φ_j‖² − ⟨φ_j, T_i T_i* φ_j⟩) = d − ‖Q_iᵀ U‖_F²,

with U the unit left singular vectors (μ_j = U_j / √π). ``rounds`` re-weighting steps are run
from equal weights; every step's weights are kept in the history.

Concatenation. concat(A,B,…) has no operator; its exact counterpart is the concatenation of the
components' exact eigenfunctions (each already zero-mean, unit-variance on the sample).
"""

from __future__ import annotations

import numpy as np

from .result import SpectralResult
from .select import solve


def component_losses(component_ops, left_vectors: np.ndarray) -> np.ndarray:
    """L_i = d − ‖Q_iᵀ U‖_F² for each component operator Q_i at orthonormal U (n × d)."""
    d = left_vectors.shape[1]
    return np.array([d - float(np.sum(op.rmatmat(left_vectors) ** 2)) for op in component_ops])


def minimax_weights(mixture, n_components: int, *, eta: float | None = None,
                    rounds: int | None = None, solver="auto", tol: float | None = None,
                    random_state=None, memory_budget=None) -> tuple[np.ndarray, list, SpectralResult]:
    """Resolve the minimax weights of a fitted ``mix(…, weights=minimax)`` context.

    Returns the final weights, the history of weights (one row per round, starting from equal
    weights) with the losses of each round, and the spectral result at the final weights.
    The mixture is left with the final weights set.
    """
    ops = mixture.component_operators_
    eta = float(mixture.eta if eta is None else eta)
    rounds = int(mixture.rounds if rounds is None else rounds)
    w = np.full(len(ops), 1.0 / len(ops))
    history: list[dict] = []
    result = None
    for _ in range(rounds + 1):
        mixture.set_weights(w)
        result = solve(mixture.operator(memory_budget), n_components, solver, tol=tol,
                       random_state=random_state, memory_budget=memory_budget)
        losses = component_losses(ops, result.left_vectors)
        history.append({"weights": w.tolist(), "losses": losses.tolist()})
        spread = losses.std()
        if len(history) > rounds or spread <= 1e-12 * max(1.0, abs(losses).max()):
            break
        z = (losses - losses.mean()) / spread
        w = w * np.exp(eta * z)
        w = w / w.sum()
    mixture.set_weights(w, [h["weights"] for h in history])
    return w, history, result
