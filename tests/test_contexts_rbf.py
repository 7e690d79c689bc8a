"""RBF and masked RBF contexts: dense references, the median heuristic, matrix-free blocks."""

import numpy as np
import pytest

from contextures.contexts import ContextCache, make_context
from contextures.contexts.distances import median_squared_distance
from contextures.contexts.masked import feature_masks, n_hidden
from contextures.exceptions import ParameterError


def dense_rbf_P(X, gamma, queries=None):
    Q = X if queries is None else queries
    D = ((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-gamma * D)
    return K / K.sum(1, keepdims=True)


def spec_gram(P):
    c = P.sum(0)
    return (P / c) @ P.T


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(90, 4))


def test_dense_operator_matches_reference(X):
    ctx = make_context("rbf(gamma=0.7)").fit(X)
    op = ctx.operator()
    assert op.kind == "dense"
    P = dense_rbf_P(X, 0.7)
    np.testing.assert_allclose(op.P, P, atol=1e-14)
    np.testing.assert_allclose(op.P.sum(1), 1.0, atol=1e-14)
    np.testing.assert_allclose(op.dense_gram(), spec_gram(P), atol=1e-13)
    # new points, and the training points themselves (x included in its own row)
    new = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(ctx.transition(new), dense_rbf_P(X, 0.7, new), atol=1e-14)
    np.testing.assert_allclose(ctx.transition(X), P, atol=1e-13)


def test_large_gamma_does_not_underflow(X):
    op = make_context("rbf(gamma=1e4)").fit(X).operator()
    assert np.isfinite(op.P).all()
    np.testing.assert_allclose(np.diag(op.P), 1.0)  # each point its own context
    T = make_context("rbf(gamma=1e4)").fit(X).transition(X[:3] + 5.0)  # far from everything
    assert np.isfinite(T).all() and np.allclose(T.sum(1), 1.0)


def test_median_heuristic(X):
    ctx = make_context("rbf").fit(X)
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    med = np.median(D[np.triu_indices(90, 1)])
    assert ctx.gamma_ == pytest.approx(1.0 / med, rel=1e-12)
    # on at most 2000 random points, seeded: reproducible
    big = np.random.default_rng(2).normal(size=(2500, 2))
    assert median_squared_distance(big) == median_squared_distance(big)
    dup = np.zeros((10, 2))
    with pytest.raises(ParameterError, match="median"):
        make_context("rbf").fit(dup)


def test_matrix_free_agrees_with_dense(X):
    ctx = make_context("rbf(gamma=0.3)").fit(X)
    dense = ctx.operator()
    free = ctx.operator(memory_budget=3 * 8 * 90 * 90 - 1)  # does not fit: row blocks
    assert free.kind == "matrix_free"
    free.P.block_rows = 16
    V = np.random.default_rng(3).normal(size=(90, 3))
    np.testing.assert_allclose(free.gram_matmat(V), dense.gram_matmat(V), atol=1e-13)
    np.testing.assert_allclose(free.P.dense(), dense.P, atol=1e-14)


def test_sampling_follows_the_rows(X):
    ctx = make_context("rbf(gamma=2)").fit(X)
    j = ctx.sample_indices(np.zeros(4000, dtype=int), random_state=0)
    freq = np.bincount(j, minlength=90) / 4000
    P0 = dense_rbf_P(X, 2.0)[0]
    assert np.abs(freq - P0).max() < 0.03
    assert ctx.sample(np.array([1, 2]), random_state=0).shape == (2, 4)


def test_cache_reuses_distances(X):
    cache = ContextCache(X)
    for g in (0.1, 1.0):
        a = make_context(f"rbf(gamma={g})").fit(X, cache=cache).operator().P
        np.testing.assert_allclose(a, dense_rbf_P(X, g), atol=1e-14)
    assert cache.sq_distances() is cache.sq_distances()  # computed once
    assert make_context("rbf").fit(X, cache=cache).gamma_ == make_context("rbf").fit(X).gamma_


def test_rbf_mask_is_the_average_over_masks(X):
    ctx = make_context("rbf_mask(gamma=0.5,p=0.25,masks=3,random_state=1)").fit(X)
    visible = feature_masks(4, 0.25, 3, 1)
    ref = np.mean([dense_rbf_P(X[:, v], 0.5) for v in visible], axis=0)
    op = ctx.operator()
    np.testing.assert_allclose(op.P, ref, atol=1e-14)
    np.testing.assert_allclose(op.dense_gram(), spec_gram(ref), atol=1e-13)
    new = np.random.default_rng(4).normal(size=(3, 4))
    T_ref = np.mean([dense_rbf_P(X[:, v], 0.5, new[:, v]) for v in visible], axis=0)
    np.testing.assert_allclose(ctx.transition(new), T_ref, atol=1e-14)
    free = ctx.operator(memory_budget=4 * 8 * 90 * 90 - 1)
    assert free.kind == "matrix_free"
    V = np.random.default_rng(5).normal(size=(90, 2))
    np.testing.assert_allclose(free.gram_matmat(V), op.gram_matmat(V), atol=1e-13)
    cache = ContextCache(X)
    cached = make_context("rbf_mask(gamma=0.5,p=0.25,masks=3,random_state=1)").fit(X, cache=cache)
    np.testing.assert_allclose(cached.operator().P, ref, atol=1e-14)


def test_rbf_mask_median_and_rules(X):
    ctx = make_context("rbf_mask(p=0.5,masks=2)").fit(X)
    base = make_context("rbf").fit(X).gamma_
    assert ctx.gamma_ == pytest.approx(base * 4 / (4 - n_hidden(4, 0.5)))
    plain = make_context("rbf(gamma=0.4)").fit(X).operator().P
    no_mask = make_context("rbf_mask(gamma=0.4,p=0,masks=2)").fit(X).operator().P
    np.testing.assert_allclose(no_mask, plain, atol=1e-14)
    for bad in ("rbf_mask(p=-0.1)", "rbf_mask(masks=0)", "rbf_mask(gamma=0)",
                "rbf(gamma=0)", "rbf(gamma=-1)", "rbf(gamma=wide)"):
        with pytest.raises(ParameterError):
            make_context(bad).fit(X)
