"""The cache's neighbour lists of new rows give exactly the uncached transitions."""

import numpy as np
import pytest

from contextures.contexts import make_context
from contextures.contexts.cache import ContextCache


@pytest.mark.parametrize("k", [1, 4, 17])
def test_cached_masked_knn_transition_equals_the_direct_one(k):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5))
    X[10] = X[11]                                    # a duplicate: ties broken by index
    X_new = np.vstack([rng.standard_normal((30, 5)), X[:3]])   # new rows, some equal to training
    cache = ContextCache(X, max_k=40)
    spec = f"knn_mask(k={k},p=0.4,masks=6)"
    cached = make_context(spec).fit(X, cache=cache)
    direct = make_context(spec).fit(X)
    for _ in range(2):                               # the second call reads the stored lists
        a = cached.transition(X_new).toarray()
        b = direct.transition(X_new).toarray()
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    assert len(cache._queries) == len({tuple(c) for c in cached.visible_})


def test_query_lists_are_not_kept_beyond_the_byte_limit():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3))
    cache = ContextCache(X, max_k=10, max_bytes=100)
    idx = cache.query_neighbors(rng.standard_normal((20, 3)), 5)
    assert idx.shape == (20, 5)
    assert not cache._queries
