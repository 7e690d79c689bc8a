"""CCA R², mutual-KNN, linear CKA and the ratio trace bound."""

import numpy as np
import pytest
import scipy.sparse as sp

from _references import rbf_transition
from contextures.contexts.operator import ContextOperator
from contextures.evaluation import (
    canonical_correlations,
    cca_r2,
    linear_cka,
    mutual_knn,
    ratio_trace,
)
from contextures.exceptions import ParameterError


@pytest.fixture
def rep():
    return np.random.default_rng(0).normal(size=(600, 6))


def invertible(rng, p):
    return rng.normal(size=(p, p)) + 3 * np.eye(p)


def test_cca_is_one_for_an_invertible_linear_map(rep):
    rng = np.random.default_rng(1)
    B = rep @ invertible(rng, 6) + 5.0
    assert cca_r2(rep, B) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(canonical_correlations(rep, B), 1.0, atol=1e-10)
    # a sub-span and a rank-deficient copy
    assert cca_r2(rep[:, :3], B) == pytest.approx(1.0, abs=1e-10)
    deficient = np.column_stack([rep, rep[:, 0] + rep[:, 1]])
    assert canonical_correlations(deficient, B).size == 6
    assert cca_r2(deficient, B) == pytest.approx(1.0, abs=1e-10)


def test_cca_near_zero_for_independent_noise():
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(20000, 5)), rng.normal(size=(20000, 5))
    assert cca_r2(A, B) < 5e-3  # ≈ 5/20000 in expectation


def test_cca_known_correlation():
    # B = ρ A + sqrt(1 − ρ²) noise: canonical correlations ≈ ρ
    rng = np.random.default_rng(3)
    A = rng.normal(size=(50000, 2))
    B = 0.6 * A + 0.8 * rng.normal(size=A.shape)
    assert cca_r2(A, B) == pytest.approx(0.36, abs=0.01)


def test_mutual_knn_is_one_after_whitening(rep):
    rng = np.random.default_rng(4)
    B = rep @ invertible(rng, 6) - 2.0  # not an isometry: whitening makes it one
    assert mutual_knn(rep, B, k=10) == pytest.approx(1.0, abs=1e-12)


def test_mutual_knn_near_chance_for_noise():
    rng = np.random.default_rng(5)
    n, k = 2000, 10
    value = mutual_knn(rng.normal(size=(n, 4)), rng.normal(size=(n, 4)), k=k)
    assert value == pytest.approx(k / (n - 1), abs=0.01)


def test_mutual_knn_with_duplicate_rows():
    rng = np.random.default_rng(6)
    A = rng.normal(size=(100, 3))
    A[1] = A[0]
    assert 0.9 <= mutual_knn(A, A * 2, k=5) <= 1.0


def test_linear_cka(rep):
    rng = np.random.default_rng(7)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(rep, 3.0 * rep @ rotation + 1.0) == pytest.approx(1.0, rel=1e-12)
    A, B = rng.normal(size=(20000, 4)), rng.normal(size=(20000, 4))
    assert linear_cka(A, B) < 5e-3
    assert linear_cka(rep, rep[:, :3]) == pytest.approx(np.sqrt(3 / 6), abs=0.05)


@pytest.mark.parametrize("fn", [cca_r2, mutual_knn, linear_cka])
def test_alignment_bad_input(fn, rep):
    with pytest.raises(ParameterError, match="row counts differ"):
        fn(rep, rep[:100])
    bad = rep.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        fn(rep, bad)
    with pytest.raises(ParameterError, match="constant"):
        fn(rep, np.ones((600, 2)))


def test_mutual_knn_k_too_large():
    A = np.random.default_rng(8).normal(size=(10, 2))
    with pytest.raises(ParameterError, match="k must be"):
        mutual_knn(A, A, k=10)


# --- ratio trace ------------------------------------------------------------------------------
@pytest.fixture(params=["dense-uniform", "dense-weighted", "sparse-knn"])
def operator(request):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(60, 2))
    if request.param == "sparse-knn":
        D = ((X[:, None] - X[None]) ** 2).sum(-1)
        np.fill_diagonal(D, np.inf)
        nn = np.argsort(D, axis=1)[:, :5]
        P = sp.csr_matrix((np.full(300, 0.2), (np.repeat(np.arange(60), 5), nn.ravel())),
                          shape=(60, 60))
        return ContextOperator(P)
    w = rng.uniform(0.3, 2.0, size=60) if request.param == "dense-weighted" else None
    return ContextOperator(rbf_transition(X, 2.0), sample_weight=w)


def top_eigenfunctions(op, d):
    U, s, _ = np.linalg.svd(op.dense_q())
    assert s[0] == pytest.approx(1.0)
    return op.eigenfunctions_from_left(U[:, 1:d + 1]), s[1:d + 1]


def test_ratio_trace_equals_the_bound_for_the_contexture(operator):
    d = 5
    mu, s = top_eigenfunctions(operator, d)
    bound = float((s**2).sum())
    assert ratio_trace(mu, operator) == pytest.approx(bound, rel=1e-10)
    rng = np.random.default_rng(10)
    Phi = mu @ invertible(rng, d) + 7.0  # same span: same ratio trace
    assert ratio_trace(Phi, operator) == pytest.approx(bound, rel=1e-8)


def test_ratio_trace_matches_the_definition_and_bound(operator):
    rng = np.random.default_rng(11)
    Phi = rng.normal(size=(60, 4))
    # Tr(C⁻¹ B) from the definitions: C = Cov_π Φ, B = Cov_{P_A} T*Φ
    pi = operator.pi
    Pd = operator.P.toarray() if sp.issparse(operator.P) else operator.P
    c = Pd.T @ pi
    Pd, c = Pd[:, c > 0], c[c > 0]  # context values no sample reaches are dropped
    Phit = Phi - pi @ Phi
    C = Phit.T @ (pi[:, None] * Phit)
    TstarPhi = (Pd * pi[:, None]).T @ Phit / c[:, None]
    B = TstarPhi.T @ (c[:, None] * TstarPhi)
    expected = np.trace(np.linalg.solve(C, B))
    value = ratio_trace(Phi, operator)
    assert value == pytest.approx(expected, rel=1e-9)
    _, s = top_eigenfunctions(operator, 4)
    assert value <= (s**2).sum() + 1e-12


def test_ratio_trace_bad_input(operator):
    with pytest.raises(ParameterError, match="rows"):
        ratio_trace(np.ones((10, 2)), operator)
    with pytest.raises(ParameterError, match="constant"):
        ratio_trace(np.ones((60, 2)), operator)
