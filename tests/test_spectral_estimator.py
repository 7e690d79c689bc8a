"""Contexture: fit/transform against the formulas of docs/theory.md §4 and §6, known spectra, sklearn conventions."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from contextures.contexts import make_context
from contextures.contexts.graph import GraphContext
from contextures.exceptions import ParameterError, SpecError
from contextures.spectral import Contexture


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(160, 3)), rng.normal(size=(120, 3)) * 0.7 + 2.0])
    X_new = rng.normal(size=(25, 3)) + rng.integers(0, 2, size=(25, 1)) * 2.0
    return X, X_new


def dense_reference(P):
    """docs/theory.md §4 by hand: M = P diag(c)^{-1} Pᵀ (uniform π), eigenvalues descending."""
    P = P.toarray() if sp.issparse(P) else np.asarray(P)
    c = P.sum(0)
    keep = c > 0
    M = P[:, keep] @ np.diag(1.0 / c[keep]) @ P[:, keep].T
    w, U = np.linalg.eigh(M)
    return w[::-1], U[:, ::-1], P, c


def knn_rows(X_train, X_query, k, exclude_self):
    nn = NearestNeighbors(n_neighbors=k + int(exclude_self)).fit(X_train)
    ind = nn.kneighbors(X_query, return_distance=False)
    if exclude_self:
        ind = ind[:, 1:]
    n = X_query.shape[0]
    return sp.csr_matrix((np.full(n * k, 1.0 / k), ind.ravel(), np.arange(0, n * k + 1, k)),
                         shape=(n, X_train.shape[0])).toarray()


def hand_extension(P_train, c, mu, s, P_new):
    """μ_i(x) = s_i⁻¹ Σ_j P⁺(x_j|x) ν_i(x_j), ν_i = s_i⁻¹ T*μ_i = s_i⁻¹ Pᵀ(π μ_i) / P_A."""
    n = P_train.shape[0]
    pi = np.full(n, 1.0 / n)
    P_A = P_train.T @ pi
    nu = (P_train.T @ (pi[:, None] * mu)) / np.where(P_A > 0, P_A, 1)[:, None] / s
    return P_new @ nu / s


@pytest.mark.parametrize("solver", ["auto", "dense", "krylov", "arpack"])
def test_knn_contexture_matches_spec_formulas(data, solver):
    X, X_new = data
    model = Contexture("knn(k=10)", n_components=6, solver=solver, random_state=0,
                       tol=1e-10, extension="raw").fit(X)
    w, _, P, c = dense_reference(knn_rows(X, X, 10, exclude_self=True))
    np.testing.assert_allclose(model.singular_values_ ** 2, w[1:7], atol=1e-8)
    np.testing.assert_allclose(model.spectrum_[0], 1.0)
    mu = model.eigenfunctions_
    np.testing.assert_allclose(mu.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(mu.var(0), 1, atol=1e-9)
    # training points: the fitted eigenfunctions (and they satisfy the extension identity)
    np.testing.assert_allclose(model.transform(X), mu)
    np.testing.assert_allclose(hand_extension(P, c, mu, model.singular_values_, P), mu,
                               atol=1e-7)
    # new points: the Nyström form, computed by hand
    P_new = knn_rows(X, X_new, 10, exclude_self=False)
    expected = hand_extension(P, c, mu, model.singular_values_, P_new)
    np.testing.assert_allclose(model.transform(X_new), expected, atol=1e-8)


def test_rbf_contexture_and_transform(data):
    X, X_new = data
    model = Contexture("rbf(gamma=0.8)", n_components=5, random_state=0, tol=1e-10,
                       extension="raw").fit(X)
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    K = np.exp(-0.8 * D)
    P = K / K.sum(1, keepdims=True)
    w, _, P, c = dense_reference(P)
    np.testing.assert_allclose(model.singular_values_ ** 2, w[1:6], atol=1e-9)
    Dn = ((X_new[:, None] - X[None]) ** 2).sum(-1)
    Kn = np.exp(-0.8 * Dn)
    P_new = Kn / Kn.sum(1, keepdims=True)
    expected = hand_extension(P, c, model.eigenfunctions_, model.singular_values_, P_new)
    np.testing.assert_allclose(model.transform(X_new), expected, atol=1e-8)
    # a copy of the training array with the same values is the training array
    np.testing.assert_allclose(model.transform(X.copy()), model.eigenfunctions_)


def test_label_context_spectrum():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = rng.integers(0, 4, size=200)
    model = Contexture("label", n_components=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(model.singular_values_, [1, 1, 1, 0, 0], atol=1e-10)
    assert model.solver_ == "svd_thin"
    mu = model.eigenfunctions_[:, :3]
    for c in range(4):
        np.testing.assert_allclose(mu[y == c], np.broadcast_to(mu[y == c][0], mu[y == c].shape),
                                   atol=1e-10)


def test_two_disconnected_cliques_give_s1_one():
    n1, n2 = 25, 15
    A = np.zeros((n1 + n2, n1 + n2))
    A[:n1, :n1] = 1
    A[n1:, n1:] = 1
    np.fill_diagonal(A, 0)
    X = np.arange(n1 + n2, dtype=float)[:, None]
    model = Contexture(GraphContext(adjacency=A), n_components=3, random_state=0).fit(X)
    assert model.singular_values_[0] == pytest.approx(1.0, abs=1e-10)
    assert model.singular_values_[1] < 0.2
    mu = model.eigenfunctions_[:, 0]
    assert len(np.unique(np.round(mu, 8))) == 2     # constant on each clique, not the constant


def test_sklearn_conventions(data):
    X, _ = data
    model = Contexture("knn(k=8)", n_components=4, solver="krylov", random_state=3,
                       memory_budget="2G", tol=1e-9)
    params = model.get_params()
    assert params == {"context": "knn(k=8)", "n_components": 4, "solver": "krylov",
                      "random_state": 3, "memory_budget": "2G", "tol": 1e-9,
                      "extension": "stable", "folds": 5, "check_rows": 4000, "n_jobs": None}
    twin = clone(model)
    assert twin.get_params() == params
    assert not hasattr(twin, "singular_values_")
    Z = twin.fit_transform(X)   # the in-sample values of the resolved components
    np.testing.assert_allclose(Z, twin.eigenfunctions_[:, twin.components_resolved_])
    model.set_params(n_components=3)
    assert model.fit(X).singular_values_.shape == (3,)
    np.testing.assert_allclose(model.singular_values_, twin.singular_values_[:3], atol=1e-8)
    for attr in ("residuals_", "context_", "n_features_in_", "fit_time_", "solver_",
                 "converged_", "result_"):
        assert hasattr(model, attr)
    assert model.context_.spec() == "knn(k=8)"
    assert model.converged_ and model.residuals_.max() < 1e-7


def test_context_object_is_not_modified(data):
    X, _ = data
    ctx = make_context("knn(k=5)")
    Contexture(ctx, n_components=2).fit(X)
    assert not hasattr(ctx, "neighbors_")


def test_subsample_and_nystrom_are_approximate(data):
    X, X_new = data
    n = X.shape[0]
    exact = Contexture("knn(k=10)", n_components=4, random_state=0, tol=1e-10).fit(X)
    whole = Contexture("knn(k=10)", n_components=4, solver=f"subsample(m={n})",
                       random_state=0, tol=1e-10).fit(X)
    np.testing.assert_allclose(whole.singular_values_, exact.singular_values_, atol=1e-8)
    np.testing.assert_allclose(np.abs(whole.eigenfunctions_), np.abs(exact.eigenfunctions_),
                               atol=1e-6)
    sub = Contexture("knn(k=10)", n_components=4, solver="subsample(m=150)",
                     random_state=0).fit(X)
    assert not sub.result_.exact and sub.solver_ == "subsample(m=150)"
    assert sub.eigenfunctions_.shape == (n, 4)
    assert sub.transform(X_new).shape == (X_new.shape[0], sub.n_components_resolved_)
    assert any("approximate" in note for note in sub.solver_notes_)
    nys = Contexture("knn(k=10)", n_components=4, solver="nystrom(m=100)", random_state=0).fit(X)
    assert not nys.result_.exact and nys.residuals_.shape == (4,)


def test_bad_input_is_typed(data):
    X, _ = data
    with pytest.raises(ParameterError, match=r"n = 5 .*d = 4"):
        Contexture("knn(k=2)", n_components=4).fit(X[:5])
    Xbad = X.copy()
    Xbad[3, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        Contexture("knn(k=2)", n_components=2).fit(Xbad)
    Xbad[3, 1] = np.inf
    with pytest.raises(ParameterError, match="infinit"):
        Contexture("knn(k=2)", n_components=2).fit(Xbad)
    with pytest.raises(SpecError, match="unknown solver"):
        Contexture("knn(k=2)", n_components=2, solver="magic").fit(X)
    with pytest.raises(SpecError):
        Contexture("knn(k=", n_components=2).fit(X)
    for bad in (0, -1, 1.5):
        with pytest.raises(ParameterError, match="n_components"):
            Contexture("knn(k=2)", n_components=bad).fit(X)
    with pytest.raises(ParameterError, match="tol"):
        Contexture("knn(k=2)", n_components=2, tol=0).fit(X)
    with pytest.raises(ParameterError, match="1D array"):
        Contexture("knn(k=2)", n_components=2).fit(X[:, 0])
    model = Contexture("knn(k=3)", n_components=2).fit(X)
    with pytest.raises(ParameterError, match="features"):
        model.transform(X[:, :2])
    with pytest.raises(ParameterError, match="labels|y"):
        Contexture("label", n_components=2).fit(X)
