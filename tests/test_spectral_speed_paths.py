"""The fast paths of the spectral engine give the same answers as the plain ones.

- the principal-axes kd-tree (null directions dropped, threaded, tree-order queries)
  returns exactly the neighbour lists of a brute-force reference;
- float64 products of a reordered sparse engine (``GramProducts.products64``) equal the operator's;
- the dense Krylov run that keeps M V and Qᵀ V reports the residuals and right vectors that fresh
  products give.
"""

import numpy as np
import pytest

from contextures.contexts import make_context
from contextures.contexts import neighbors as nb
from contextures.contexts.neighbors import kneighbors
from contextures.spectral import solve_krylov
from contextures.spectral.products import GramProducts


def brute_reference(X, k):
    idx = []
    for i, q in enumerate(X):
        d = ((X - q) ** 2).sum(1)
        j = np.arange(len(X))
        d, j = d[j != i], j[j != i]
        idx.append(j[np.lexsort((j, d))[:k]])
    return np.array(idx)


def test_kd_tree_with_a_dependent_column_and_duplicates_is_exact():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4, size=(700, 3)).astype(float)   # many exact ties and duplicates
    X = np.hstack([base, base @ np.array([[1.0], [-2.0], [0.5]])])  # a null direction
    idx, d2 = kneighbors(X, 12, algorithm="kd_tree")
    np.testing.assert_array_equal(idx, brute_reference(X, 12))
    assert np.all(np.diff(d2, axis=1) >= 0)
    tree = nb._PrincipalKDTree(X, threads=1)
    assert tree.rotation.shape == (4, 3)


def test_threaded_queries_equal_one_thread():
    X = np.random.default_rng(1).standard_normal((1500, 5))
    a, da = kneighbors(X, 7, n_jobs=1)
    b, db = kneighbors(X, 7, n_jobs=2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(a, brute_reference(X, 7))
    Z = np.random.default_rng(2).standard_normal((600, 5))
    c, _ = kneighbors(X, 7, Z, n_jobs=2)
    c1, _ = kneighbors(X, 7, Z, algorithm="brute")
    np.testing.assert_array_equal(c, c1)


def test_reordered_float64_products_match_the_operator():
    X = np.random.default_rng(3).standard_normal((900, 4))
    op = make_context("knn(k=10)").fit(X).operator()
    engine = GramProducts(op, dtype=np.float32, reorder=True)
    assert engine.row_order is not None and engine.col_order is not None
    U = np.random.default_rng(4).standard_normal((900, 40))
    MU, QtU = engine.products64(U, columns=16)
    np.testing.assert_allclose(QtU, op.rmatmat(U), rtol=0, atol=1e-13)
    np.testing.assert_allclose(MU, op.gram_matmat(U), rtol=0, atol=1e-13)


@pytest.mark.parametrize("restarts", [False, True])
def test_tracked_dense_products_give_exact_residuals(restarts):
    X = np.random.default_rng(5).standard_normal((700, 3))
    op = make_context("rbf(gamma=0.5)").fit(X).operator()
    kwargs = {"max_basis": 48, "keep": 24, "block_size": 8} if restarts else {}
    result = solve_krylov(op, 12, tol=1e-9, random_state=0, precision="float64", **kwargs)
    assert any("kept during the iteration" in n for n in result.notes)
    if restarts:
        assert result.iterations > 0
    U, s = result.left_vectors, result.singular_values
    fresh = np.linalg.norm(op.gram_matmat(U) - U * s**2, axis=0)
    np.testing.assert_allclose(result.residuals, fresh, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.right_vectors, op.rmatmat(U) / s, rtol=0, atol=1e-10)
    w = np.linalg.eigvalsh(op.dense_gram())[::-1][1:13]
    np.testing.assert_allclose(s**2, w, rtol=0, atol=1e-10)
