"""KNN and masked KNN contexts against dense references; the neighbour rules (ties, duplicates, k ≥ n)."""

import numpy as np
import pytest
import scipy.sparse as sp

from contextures.contexts import ContextCache, make_context
from contextures.contexts.masked import feature_masks, n_hidden
from contextures.contexts.neighbors import NeighborLists, choose_algorithm, kneighbors
from contextures.exceptions import ParameterError


def reference_neighbors(X, k, queries=None):
    """Brute force: sort by (exact squared distance, index), self excluded by index."""
    Q = X if queries is None else queries
    out = []
    for i, q in enumerate(Q):
        d = ((X - q) ** 2).sum(1)
        idx = np.arange(len(X))
        if queries is None:
            d, idx = d[idx != i], idx[idx != i]
        order = np.lexsort((idx, d))
        out.append(idx[order[:k]])
    return np.array(out)


def dense_knn_P(X, k, queries=None):
    nb = reference_neighbors(X, k, queries)
    P = np.zeros((len(nb), len(X)))
    for i, row in enumerate(nb):
        P[i, row] = 1.0 / k
    return P


def spec_gram(P):
    """M = P diag(c)^{-1} Pᵀ / n for uniform π (docs/theory.md §4, unreached columns dropped)."""
    c = P.sum(0)
    keep = c > 0
    return (P[:, keep] / c[keep]) @ P[:, keep].T


@pytest.fixture
def grid():
    # integer grid: many exact distance ties
    return np.array([[a, b] for a in range(7) for b in range(6)], dtype=float)


def test_operator_matches_dense_reference():
    X = np.random.default_rng(0).normal(size=(80, 5))
    ctx = make_context("knn(k=7)").fit(X)
    op = ctx.operator()
    P = dense_knn_P(X, 7)
    assert sp.issparse(op.P) and op.P.nnz == 80 * 7
    np.testing.assert_allclose(op.P.toarray(), P, atol=0)
    np.testing.assert_allclose(np.asarray(op.P.sum(1)).ravel(), 1.0)
    np.testing.assert_allclose(op.dense_gram(), spec_gram(P), atol=1e-13)
    w = np.linalg.eigvalsh(op.dense_gram())
    assert w[-1] == pytest.approx(1.0, abs=1e-12)


def test_ties_are_broken_by_index(grid):
    for k in (1, 3, 4, 8, 13):
        idx, d2 = kneighbors(grid, k)
        np.testing.assert_array_equal(idx, reference_neighbors(grid, k))
        assert np.all(np.diff(d2, axis=1) >= 0)
    # the four grid neighbours of an interior point sit at distance 1: lowest indices first
    idx, _ = kneighbors(grid, 2)
    i = 2 * 6 + 2
    assert list(idx[i]) == [i - 6, i - 1]


def test_search_algorithms_agree(grid):
    a, _ = kneighbors(grid, 9, algorithm="kd_tree")
    b, _ = kneighbors(grid, 9, algorithm="brute")
    np.testing.assert_array_equal(a, b)
    assert choose_algorithm(3) == "kd_tree" and choose_algorithm(30) == "brute"


def test_duplicates_are_neighbours_self_is_excluded():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(6, 3))
    X = np.repeat(base, 5, axis=0)  # rows 5t..5t+4 are identical
    ctx = make_context("knn(k=4)").fit(X)
    for i in range(len(X)):
        group = set(range(5 * (i // 5), 5 * (i // 5) + 5)) - {i}
        assert set(ctx.neighbors_[i]) == group  # the 4 duplicates, never i itself
    # more duplicates than k: the lowest indices among them win
    ctx = make_context("knn(k=2)").fit(X)
    assert list(ctx.neighbors_[4]) == [0, 1]
    assert list(ctx.neighbors_[0]) == [1, 2]
    # all points identical: any k ≤ n − 1 works, neighbours are the other indices in order
    Z = np.zeros((9, 2))
    ctx = make_context("knn(k=8)").fit(Z)
    assert list(ctx.neighbors_[3]) == [0, 1, 2, 4, 5, 6, 7, 8]


def test_k_rule():
    X = np.random.default_rng(2).normal(size=(10, 2))
    make_context("knn(k=9)").fit(X)  # n − 1 is allowed
    with pytest.raises(ParameterError, match="n = 10"):
        make_context("knn(k=10)").fit(X)
    with pytest.raises(ParameterError, match="at least 1"):
        make_context("knn(k=0)").fit(X)
    with pytest.raises(ParameterError, match="integer"):
        make_context("knn(k=2.5)").fit(X)


def test_include_self():
    X = np.random.default_rng(3).normal(size=(30, 3))
    ctx = make_context("knn(k=4,include_self=true)").fit(X)
    np.testing.assert_array_equal(ctx.neighbors_[:, 0], np.arange(30))
    np.testing.assert_array_equal(ctx.neighbors_[:, 1:], reference_neighbors(X, 3))
    one = make_context("knn(k=1,include_self=true)").fit(X).operator()
    np.testing.assert_allclose(one.P.toarray(), np.eye(30))


def test_transition_new_points():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 4))
    new = np.vstack([rng.normal(size=(5, 4)), X[7]])  # the last one duplicates a training row
    ctx = make_context("knn(k=6)").fit(X)
    T = ctx.transition(new)
    # points that are not training rows take their k nearest
    np.testing.assert_allclose(T.toarray()[:5], dense_knn_P(X, 6, new[:5]))
    # a new point equal to a training row is that row: it leaves itself out, as the fitted row
    assert T[5, 7] == 0
    np.testing.assert_allclose(T.toarray()[5], ctx.operator().P.toarray()[7])
    # and nearby, the row counts among the point's neighbours (the KNN order changes there)
    assert ctx.transition(X[7:8] + 1e-9)[0, 7] == pytest.approx(1 / 6)
    with pytest.raises(ParameterError, match="features"):
        ctx.transition(rng.normal(size=(2, 3)))


def test_sampling_draws_neighbours():
    X = np.random.default_rng(5).normal(size=(40, 3))
    ctx = make_context("knn(k=5)").fit(X)
    rows = np.repeat(np.arange(40), 50)
    j = ctx.sample_indices(rows, random_state=0)
    for i in range(40):
        assert set(j[rows == i]) <= set(ctx.neighbors_[i])
    a = ctx.sample(np.array([3, 3]), random_state=1)
    assert a.shape == (2, 3) and all(any(np.array_equal(r, x) for x in X) for r in a)


def test_cache_gives_the_same_operator():
    X = np.random.default_rng(6).normal(size=(120, 4))
    cache = ContextCache(X, max_k=40)
    for k in (3, 15, 40):
        a = make_context(f"knn(k={k})").fit(X, cache=cache).operator().P
        b = make_context(f"knn(k={k})").fit(X).operator().P
        assert (a != b).nnz == 0
    assert cache.neighbors(10).max_k == 40  # one search, sliced afterwards
    with pytest.raises(ParameterError, match="different X"):
        make_context("knn(k=3)").fit(X[:-1], cache=cache)
    lists = NeighborLists.compute(X, 10)
    np.testing.assert_array_equal(lists.first(4), reference_neighbors(X, 4))


def test_knn_mask_is_the_average_over_masks():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 6))
    ctx = make_context("knn_mask(k=5,p=0.5,masks=4,random_state=3)").fit(X)
    visible = feature_masks(6, 0.5, 4, 3)
    assert all(v.size == 3 for v in visible)
    ref = np.mean([dense_knn_P(X[:, v], 5) for v in visible], axis=0)
    op = ctx.operator()
    np.testing.assert_allclose(op.P.toarray(), ref, atol=1e-15)
    np.testing.assert_allclose(op.dense_gram(), spec_gram(ref), atol=1e-13)
    new = rng.normal(size=(4, 6))
    T_ref = np.mean([dense_knn_P(X[:, v], 5, new[:, v]) for v in visible], axis=0)
    np.testing.assert_allclose(ctx.transition(new).toarray(), T_ref, atol=1e-15)
    j = ctx.sample_indices(np.zeros(200, dtype=int), random_state=0)
    assert set(j) <= set(np.flatnonzero(ref[0]))


def test_mask_rules():
    assert n_hidden(10, 0.2) == 2 and n_hidden(10, 0.25) == 3  # halves round up
    assert n_hidden(5, 1.0) == 4  # one feature always stays visible
    X = np.random.default_rng(8).normal(size=(40, 5))
    plain = make_context("knn(k=4)").fit(X).operator().P
    no_mask = make_context("knn_mask(k=4,p=0,masks=3)").fit(X).operator().P
    assert abs(plain - no_mask).max() < 1e-15
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        make_context("knn_mask(p=1.5)").fit(X)
    with pytest.raises(ParameterError, match="masks"):
        make_context("knn_mask(k=3,masks=0)").fit(X)
    with pytest.raises(ParameterError, match="n = 40"):
        make_context("knn_mask(k=40)").fit(X)
