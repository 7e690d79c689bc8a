"""Seeded row selection: stratified subsamples (row caps) and pretrain/train/test splits.

Stratification allocates a part of size m among classes of sizes n_c by largest remainder:
class c gets floor(m n_c / n) rows plus one more for the classes with the largest fractional
parts (ties broken by the seed) until the sizes add up to m. Each class keeps its share up to
rounding, so every class with n_c ≥ 1/f rows appears in a part of fraction f, and smaller
classes may be missing from some part. Rows inside a class are drawn uniformly by the seed.
Returned indices are sorted, so a part keeps the table's row order.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DataError, ParameterError

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def _quotas(counts: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Largest-remainder allocation of m rows among classes with ``counts`` rows (sum = m)."""
    n = int(counts.sum())
    exact = counts * (m / n)
    quota = np.floor(exact).astype(np.int64)
    short = m - int(quota.sum())
    if short > 0:
        remainder = exact - quota
        # Random tie-break: sort by (-remainder, random key).
        order = np.lexsort((rng.random(len(counts)), -remainder))
        eligible = [c for c in order if quota[c] < counts[c]]
        for c in eligible[:short]:
            quota[c] += 1
    return quota


def _take(groups: list[np.ndarray], quota: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Take ``quota[c]`` rows from the (already shuffled) group c; return taken rows and rests."""
    taken = [g[:q] for g, q in zip(groups, quota, strict=True)]
    rest = [g[q:] for g, q in zip(groups, quota, strict=True)]
    return np.concatenate(taken) if taken else np.empty(0, np.int64), rest


def _groups(labels: np.ndarray | None, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices grouped by class (one group when unstratified), each shuffled by ``rng``."""
    if labels is None:
        return [rng.permutation(n)]
    _, codes = np.unique(labels, return_inverse=True)
    return [rng.permutation(np.flatnonzero(codes == c)) for c in range(codes.max() + 1)]


def subsample_indices(n: int, m: int, *, labels: np.ndarray | None = None,
                      random_state: int = 0) -> np.ndarray:
    """Sorted indices of m of n rows, stratified by ``labels`` when given (seeded)."""
    random_state = _seed(random_state, "the row-cap seed")
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    groups = _groups(labels, n, rng)
    quota = _quotas(np.array([len(g) for g in groups]), m, rng)
    taken, _ = _take(groups, quota)
    return np.sort(taken)


def fit_rows(n_pretrain: int, n_fit: int | None, fit_seed: int) -> np.ndarray:
    """Sorted pretrain rows the contexts are fitted on: all, or a seeded uniform subsample.

    The subsample is not stratified: the contexts are label-free, so labels play no part.
    """
    if n_fit is None or n_fit >= n_pretrain:
        return np.arange(n_pretrain)
    if n_fit < 4:
        raise ParameterError(f"n_fit must be at least 4, got {n_fit}")
    rng = np.random.default_rng(fit_seed)
    return np.sort(rng.choice(n_pretrain, size=n_fit, replace=False))


def part_sizes(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Sizes of the parts: round(f_i n) for all but the first part, which takes the rest."""
    sizes = [int(round(f * n)) for f in fractions[1:]]
    sizes = [max(1, s) for s in sizes]
    first = n - sum(sizes)
    if first < 1:
        raise DataError(f"{n} rows are too few to split into fractions {tuple(fractions)}")
    return [first, *sizes]


def _seed(value, name: str) -> int:
    """A split or row-cap seed: a non-negative integer (numpy refuses negative seeds)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ParameterError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def validate_fractions(fractions) -> tuple[float, ...]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ParameterError(f"split fractions must be numbers, got {fractions!r}") from None
    if len(values) != 3 or any(not np.isfinite(f) or f <= 0 for f in values) \
            or abs(sum(values) - 1.0) > 1e-6:
        raise ParameterError(f"split fractions must be three positive numbers (pretrain, "
                             f"train, test) summing to 1, got {fractions!r}")
    return values


def split_indices(n: int, *, labels: np.ndarray | None = None, seed: int = 0,
                  fractions=DEFAULT_FRACTIONS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pretrain / downstream-train / test row indices (sorted, disjoint, covering range(n)).

    Sizes are :func:`part_sizes`; with ``labels`` each part is stratified by largest remainder
    (module docstring). The same (n, labels, seed, fractions) always gives the same indices.
    """
    fractions = validate_fractions(fractions)
    seed = _seed(seed, "the split seed")
    if n < 3:
        raise DataError(f"{n} rows are too few to split into pretrain, train and test parts")
    n_pre, n_train, n_test = part_sizes(n, fractions)
    rng = np.random.default_rng(seed)
    groups = _groups(labels, n, rng)
    counts = np.array([len(g) for g in groups])
    test, groups = _take(groups, _quotas(counts, n_test, rng))
    counts = np.array([len(g) for g in groups])
    train, groups = _take(groups, _quotas(counts, n_train, rng))
    pre = np.concatenate(groups)
    assert len(pre) == n_pre
    return np.sort(pre), np.sort(train), np.sort(test)
