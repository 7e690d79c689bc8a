"""Association diagnostics of [ICML §5] (docs/theory.md §3): decay rate, kernel deviation, Lipschitz estimate.

- Decay rate λ: least squares fit of s_i² = exp(−λ i), i.e. of log s_i² = −λ i **without an
  intercept** (the fitted curve passes through s_0² = 1 at i = 0, as the model of docs/theory.md §3 does):
  λ = −Σ i log s_i² / Σ i² over the i with s_i > 0. Slow decay (small λ) = strong association.
- Kernel deviation: (1/n²) Σ_{i,j} |k_X⁺(x_i, x_j) − 1|, the distance of the dual kernel from the
  kernel of independence (k ≡ 1). Large = strong association.
- Lipschitz estimate: max over sampled k, i ≠ j of |k(x_k, x_i) − k(x_k, x_j)| / ‖x_i − x_j‖: how
  fast the kernel changes with its argument. Large = strong association.

The last two read the kernel from a :class:`~contextures.contexts.operator.ContextOperator`
(``kernel(rows, cols)``, never the whole n × n matrix unless the caller asks for all n points) on a
subsample whose size and seed the caller controls.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.utils import check_random_state

from .._memory import check_allocation
from ..exceptions import ParameterError
from ..validation import check_array, check_int, check_spectrum
from ._operators import operator_of

_BLOCK = 512


def decay_rate(singular_values, n: int | None = None) -> float:
    """λ of the least squares fit s_i² = exp(−λ i) (no intercept) over the first ``n`` values.

    Indices are the spectrum's own (i = 1 for s_1); values with s_i = 0 are left out (their
    logarithm is −∞). ``n=None`` uses every value given. Returns λ ≥ 0 since s_i ≤ 1.
    """
    s = check_spectrum(singular_values, sorted_=False)
    if n is not None:
        n = check_int(n, "n", low=1)
        s = s[:n]
    i = np.arange(1, s.size + 1, dtype=np.float64)
    keep = s > 0
    if not keep.any():
        raise ParameterError("decay_rate needs at least one positive singular value")
    i, log_sq = i[keep], 2.0 * np.log(s[keep])
    return float(-(i @ log_sq) / (i @ i))


def _pair_sample(n: int, n_sample: int | None, random_state) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row and column indices: all n when n_sample is None or ≥ n, else two independent draws."""
    if n_sample is None or n_sample >= n:
        everything = np.arange(n)
        return everything, everything, True
    n_sample = check_int(n_sample, "n_sample", low=1)
    rng = check_random_state(random_state)
    rows = np.sort(rng.choice(n, size=n_sample, replace=False))
    cols = np.sort(rng.choice(n, size=n_sample, replace=False))
    return rows, cols, False


def kernel_deviation(op, n_sample: int | None = 1000, random_state=None) -> float:
    """(1/n²) Σ_{i,j} |k_X⁺(x_i, x_j) − 1| on the sample of a context operator.

    Parameters
    ----------
    op : ContextOperator, a fitted context, or a square ndarray holding k_X⁺ on the sample.
    n_sample : int or None
        With n_sample < n, the sum runs over an independent draw of ``n_sample`` rows and one of
        ``n_sample`` columns (without replacement within each draw), so each entry of the block is a
        uniformly drawn pair (i, j) and the block mean is an unbiased estimate; ``None`` (or
        n_sample ≥ n) computes the exact double sum, in row blocks. With non-uniform sample weights
        π the pairs are weighted π_i π_j (the population version of the same quantity).
    random_state : seed of the draw.
    """
    if isinstance(op, np.ndarray):
        K = check_array(op, what="kernel", allow_1d=True)
        if K.shape[0] != K.shape[1]:
            raise ParameterError(f"a kernel matrix must be square, got shape {K.shape}")
        rows, cols, _ = _pair_sample(K.shape[0], n_sample, random_state)
        return float(np.abs(K[np.ix_(rows, cols)] - 1.0).mean())
    op = operator_of(op)
    n = op.n_samples
    rows, cols, _ = _pair_sample(n, n_sample, random_state)
    w_rows, w_cols = op.pi[rows], op.pi[cols]
    total = 0.0
    for r0 in range(0, rows.size, _BLOCK):
        r = rows[r0:r0 + _BLOCK]
        check_allocation(8.0 * r.size * cols.size, op.memory_budget, "a kernel block")
        block = np.abs(op.kernel(r, cols) - 1.0)
        total += float(w_rows[r0:r0 + _BLOCK] @ block @ w_cols)
    return total / float(w_rows.sum() * w_cols.sum())


def lipschitz_estimate(op, X, n_sample: int = 200, random_state=None) -> float:
    """max_{k, i ≠ j} |k_X⁺(x_k, x_i) − k_X⁺(x_k, x_j)| / ‖x_i − x_j‖ over a sample.

    ``n_sample`` anchors x_k and ``n_sample`` points x_i are drawn (independently, without
    replacement, all n when n_sample ≥ n); the maximum runs over every anchor and every pair of
    distinct points (pairs at distance 0 are skipped). Distances are Euclidean in ``X`` as given:
    pass the features the context was fitted on (e.g. standardised), in the sample's row order.
    Cost: n_sample³ operations.
    """
    op = operator_of(op)
    X = check_array(X, what="X", allow_1d=True)
    n = op.n_samples
    if X.shape[0] != n:
        raise ParameterError(f"X has {X.shape[0]} rows but the context operator has {n} samples")
    n_sample = check_int(n_sample, "n_sample", low=2)
    rng = check_random_state(random_state)
    if n_sample >= n:
        anchors = points = np.arange(n)
    else:
        anchors = np.sort(rng.choice(n, size=n_sample, replace=False))
        points = np.sort(rng.choice(n, size=n_sample, replace=False))
    check_allocation(8.0 * anchors.size * points.size * 2, op.memory_budget, "a kernel block")
    K = op.kernel(anchors, points)  # anchors × points
    Z = X[points]
    dist = cdist(Z, Z)
    best = 0.0
    for a in range(points.size):
        # max over anchors of |K[:, a] − K[:, b]| for every b, divided by ‖x_a − x_b‖
        diff = np.abs(K[:, a:a + 1] - K).max(axis=0)
        d = dist[a]
        ok = d > 1e-12 * max(1.0, float(d.max()))
        ok[a] = False
        if ok.any():
            best = max(best, float((diff[ok] / d[ok]).max()))
    return best
