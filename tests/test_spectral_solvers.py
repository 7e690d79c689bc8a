"""The spectral solvers against dense eigh of M = P diag(c)^{-1} Pᵀ, known spectra and bad input."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from _references import rbf_transition
from contextures.contexts.operator import ContextOperator, MatrixFreeTransition
from contextures.exceptions import (
    ConvergenceWarning,
    MemoryBudgetError,
    ParameterError,
    SpecError,
)
from contextures.spectral import (
    choose_solver,
    solve,
    solve_dense,
    solve_krylov,
    solve_nystrom,
    solve_svd_thin,
)


def knn_transition(X, k):
    n = X.shape[0]
    ind = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)[1][:, 1:]
    return sp.csr_matrix((np.full(n * k, 1.0 / k), ind.ravel(), np.arange(0, n * k + 1, k)),
                         shape=(n, n))


class DenseAsMatrixFree(MatrixFreeTransition):
    block_rows = 37

    def __init__(self, P):
        super().__init__(P.shape)
        self._P = P

    def row_block(self, i0, i1):
        return self._P[i0:i1]


def reference(P, sample_weight=None):
    """Eigenvalues (descending) and eigenvectors of M from the dense formula of docs/theory.md §4."""
    P = P.toarray() if sp.issparse(P) else np.asarray(P)
    n = P.shape[0]
    pi = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / sample_weight.sum()
    c = P.T @ pi
    keep = c > 0
    Q = np.sqrt(pi)[:, None] * P[:, keep] / np.sqrt(c[keep])
    w, U = np.linalg.eigh(Q @ Q.T)
    return w[::-1], U[:, ::-1]


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(150, 3)), rng.normal(size=(100, 3)) + 2.5])


@pytest.fixture(scope="module")
def knn_P(X):
    return knn_transition(X, 8)


def check_against_reference(result, P, d, sample_weight=None, atol=1e-8):
    w, U = reference(P, sample_weight)
    assert w[0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result.eigenvalues, w[1:d + 1], atol=atol)
    n = P.shape[0]
    pi = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / sample_weight.sum()
    mu = result.eigenfunctions
    np.testing.assert_allclose(pi @ mu, 0.0, atol=1e-9)
    np.testing.assert_allclose(pi @ mu**2, 1.0, atol=1e-9)
    np.testing.assert_allclose(result.left_vectors.T @ result.left_vectors, np.eye(d), atol=1e-9)
    assert result.max_residual < 1e-6
    # simple eigenvalues: the vectors agree with the reference up to sign
    gaps = np.abs(np.diff(w[: d + 2]))
    for i in range(d):
        if min(gaps[i], gaps[i + 1]) > 1e-4:
            assert abs(result.left_vectors[:, i] @ U[:, i + 1]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("solver", ["dense", "krylov", "arpack", "nystrom(m=250)"])
def test_sparse_knn_solvers_agree_with_dense_eigh(knn_P, solver):
    op = ContextOperator(knn_P)
    options = "krylov(block_size=4,keep=20,max_basis=60,tol=1e-10)" if solver == "krylov" else solver
    result = solve(op, 12, options, random_state=0, tol=1e-10)
    check_against_reference(result, knn_P, 12)
    assert result.solver.startswith(solver.split("(")[0])


@pytest.mark.parametrize("kind", ["dense", "matrix_free"])
def test_rbf_solvers_agree_with_dense_eigh(X, kind):
    P = rbf_transition(X[:180], gamma=2.0)
    op = ContextOperator(P if kind == "dense" else DenseAsMatrixFree(P))
    for solver in ("dense", "krylov(tol=1e-11)" if kind == "dense" else "matrix_free(tol=1e-11)"):
        result = solve(op, 10, solver, random_state=1)
        check_against_reference(result, P, 10)


def test_float32_krylov_is_refined_to_float64_accuracy(X):
    P = knn_transition(X, 6)
    op = ContextOperator(P)
    result = solve_krylov(op, 10, precision="float32", tol=1e-5, random_state=0)
    w, _ = reference(P)
    np.testing.assert_allclose(result.eigenvalues, w[1:11], atol=1e-8)
    assert any("float64 refinement" in note for note in result.notes)
    U = result.left_vectors
    np.testing.assert_allclose(U.T @ U, np.eye(10), atol=1e-12)


def test_reordered_products_give_the_same_spectrum(X):
    P = knn_transition(X, 8)
    op = ContextOperator(P)
    a = solve_krylov(op, 8, reorder=True, tol=1e-10, random_state=0)
    b = solve_krylov(op, 8, reorder=False, tol=1e-10, random_state=0)
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, atol=1e-10)
    np.testing.assert_allclose(np.abs(a.left_vectors.T @ b.left_vectors).diagonal()[:4], 1, atol=1e-6)


def test_weighted_graph_operator(X):
    rng = np.random.default_rng(3)
    A = knn_transition(X, 5).toarray()
    W = A + A.T
    W *= rng.uniform(0.5, 2.0, size=W.shape)
    W = np.triu(W, 1) + np.triu(W, 1).T
    deg = W.sum(1)
    P = sp.csr_matrix(W / deg[:, None])
    op = ContextOperator(P, sample_weight=deg)
    for solver in ("dense", "krylov(tol=1e-11)"):
        result = solve(op, 6, solver, random_state=0)
        check_against_reference(result, P, 6, sample_weight=deg)


def two_cliques(n1=30, n2=20):
    n = n1 + n2
    A = np.zeros((n, n))
    A[:n1, :n1] = 1
    A[n1:, n1:] = 1
    np.fill_diagonal(A, 0)
    return A / A.sum(1, keepdims=True)


@pytest.mark.parametrize("solver", ["dense", "krylov(block_size=4,tol=1e-12)", "arpack"])
def test_two_disconnected_cliques_give_s1_equal_one(solver):
    P = two_cliques()
    op = ContextOperator(sp.csr_matrix(P))
    result = solve(op, 3, solver, random_state=0)
    assert result.singular_values[0] == pytest.approx(1.0, abs=1e-10)
    assert result.singular_values[1] < 0.1
    mu = result.eigenfunctions[:, 0]
    # the second constant-on-components function, orthogonal to the constant: ±(√(n2/n1), −√(n1/n2))
    np.testing.assert_allclose(np.abs(mu[:30]), np.sqrt(20 / 30), atol=1e-8)
    np.testing.assert_allclose(np.abs(mu[30:]), np.sqrt(30 / 20), atol=1e-8)
    assert np.sign(mu[0]) != np.sign(mu[-1])


def label_operator(y, n_classes):
    n = y.size
    P = sp.csr_matrix((np.ones(n), y, np.arange(n + 1)), shape=(n, n_classes))
    return ContextOperator(P)


@pytest.mark.parametrize("solver", ["auto", "svd_thin", "dense"])
def test_label_context_spectrum_is_ones_then_zeros(solver):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=120)
    op = label_operator(y, 4)
    result = solve(op, 6, solver, random_state=0)
    np.testing.assert_allclose(result.singular_values, [1, 1, 1, 0, 0, 0], atol=1e-10)
    if solver == "auto":
        assert result.solver == "svd_thin"
    U = result.left_vectors
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(np.sqrt(op.pi) @ U, 0, atol=1e-10)
    # the first three eigenfunctions are functions of the class
    for i in range(3):
        for c in range(4):
            vals = result.eigenfunctions[y == c, i]
            np.testing.assert_allclose(vals, vals[0], atol=1e-10)


def test_feature_operator_thin_svd():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(200, 5))
    F -= F.mean(0)
    F = F @ np.linalg.inv(np.linalg.cholesky(F.T @ F / 200)).T * 0.5
    F = np.column_stack([np.ones(200), F])
    op = ContextOperator(F, features=True)
    result = solve_svd_thin(op, 3)
    np.testing.assert_allclose(result.singular_values, 0.5, atol=1e-10)
    dense = solve_dense(op, 3)
    np.testing.assert_allclose(dense.singular_values, 0.5, atol=1e-10)


def test_nystrom_is_marked_approximate_and_reports_residuals(knn_P):
    op = ContextOperator(knn_P)
    exact = solve_dense(op, 5)
    approx = solve_nystrom(op, 5, m=60, random_state=0)
    assert not approx.exact
    assert any("approximate" in note for note in approx.notes)
    assert approx.residuals.shape == (5,)
    assert approx.max_residual > 1e-8     # the error is real and reported
    assert np.all(np.abs(approx.eigenvalues - exact.eigenvalues) < 0.5)
    full = solve_nystrom(op, 5, m=op.n_samples, random_state=0)
    np.testing.assert_allclose(full.eigenvalues, exact.eigenvalues, atol=1e-8)


def test_non_convergence_warns_and_returns_residuals(knn_P):
    op = ContextOperator(knn_P)
    with pytest.warns(ConvergenceWarning, match="not converged"):
        result = solve_krylov(op, 10, block_size=2, keep=12, max_basis=16, max_restarts=0,
                              tol=1e-13, random_state=0)
    assert not result.converged
    assert result.residuals.shape == (10,)
    assert result.max_residual > 1e-13
    assert any("not converged" in note for note in result.notes)


def test_signs_and_seeds_are_deterministic(knn_P):
    op = ContextOperator(knn_P)
    a = solve(op, 5, "krylov(tol=1e-10)", random_state=3)
    b = solve(op, 5, "krylov(tol=1e-10)", random_state=4)
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, atol=1e-10)
    top = np.argmax(np.abs(a.left_vectors), axis=0)
    assert np.all(a.left_vectors[top, np.arange(5)] > 0)


def test_extension_weights_reproduce_training_eigenfunctions(X):
    P = rbf_transition(X[:100], gamma=1.0)
    op = ContextOperator(P)
    result = solve(op, 6, "krylov(tol=1e-11)", random_state=0)
    W = op.extension_weights(result.right_vectors, result.singular_values)
    np.testing.assert_allclose(P @ W, result.eigenfunctions, atol=1e-8)


def test_auto_choices_and_reasons(X, knn_P):
    assert choose_solver(ContextOperator(knn_P), 5)[0] == "dense"
    y = np.arange(300) % 3
    assert choose_solver(label_operator(y, 3), 2)[0] == "svd_thin"
    rng = np.random.default_rng(0)
    big = knn_transition(rng.normal(size=(2500, 3)), 10)
    name, why = choose_solver(ContextOperator(big), 20)
    assert name == "krylov" and "nnz" in why
    mf = ContextOperator(DenseAsMatrixFree(rbf_transition(X[:50], 1.0)))
    assert choose_solver(mf, 3)[0] == "matrix_free"
    result = solve(ContextOperator(knn_P), 4, random_state=0)
    assert result.solver == "dense"
    assert result.notes[0].startswith("auto: dense")


def test_requests_over_the_budget_fall_back_and_say_so(knn_P):
    op = ContextOperator(knn_P)
    budget = 16 * 250 * 250 - 1         # dense M does not fit, a Krylov basis does
    with pytest.warns(UserWarning, match="over the memory budget"):
        result = solve(op, 4, "dense", memory_budget=budget, random_state=0)
    assert result.solver == "krylov"
    assert any("fallback" in note for note in result.notes)
    auto = solve(op, 4, memory_budget=budget, random_state=0)
    assert auto.solver == "krylov"
    with pytest.raises(MemoryBudgetError):
        solve_dense(op, 4, memory_budget=budget)
    with pytest.raises(MemoryBudgetError, match="no solver fits"):
        solve(op, 4, "krylov", memory_budget=1000)


def test_bad_input_is_typed(knn_P):
    op = ContextOperator(knn_P)
    with pytest.raises(SpecError, match="unknown solver"):
        solve(op, 3, "lanczos")
    with pytest.raises(SpecError, match="unknown option"):
        solve(op, 3, "krylov(blocks=3)")
    with pytest.raises(SpecError):
        solve(op, 3, "krylov(")
    for bad in (0, -2, 2.5, "3", True):
        with pytest.raises(ParameterError, match="n_components"):
            solve(op, bad)
    with pytest.raises(ParameterError, match="d \\+ 2"):
        solve(op, 249)
    with pytest.raises(ParameterError, match="Contexture"):
        solve(op, 3, "subsample(m=100)")


def test_components_up_to_n_minus_one_are_exact():
    rng = np.random.default_rng(5)
    P = rbf_transition(rng.normal(size=(12, 2)), 0.5)
    op = ContextOperator(P)
    w, _ = reference(P)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = solve(op, 10, "krylov", random_state=0)   # too small for Krylov: dense, noted
    np.testing.assert_allclose(result.eigenvalues, w[1:11], atol=1e-10)
    assert any("solved densely" in note for note in result.notes)


def many_cliques(sizes):
    n = sum(sizes)
    A = np.zeros((n, n))
    start = 0
    for size in sizes:
        A[start:start + size, start:start + size] = 1
        start += size
    np.fill_diagonal(A, 0)
    return A / A.sum(1, keepdims=True), np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_more_components_than_the_block_size(precision):
    """40 components: eigenvalue 1 has multiplicity 39 > block size; deflated explicitly."""
    rng = np.random.default_rng(0)
    P, labels = many_cliques(rng.integers(4, 9, size=40))
    # perturb within cliques so that the non-unit eigenvalues are distinct
    P = P * rng.uniform(0.5, 1.5, size=P.shape)
    P /= P.sum(1, keepdims=True)
    op = ContextOperator(sp.csr_matrix(P))
    result = solve_krylov(op, 45, block_size=4, precision=precision, tol=1e-10, random_state=0)
    w, _ = reference(P)
    atol = 1e-8 if precision == "float64" else 1e-6
    np.testing.assert_allclose(result.eigenvalues, w[1:46], atol=atol)
    assert np.all(result.singular_values[:39] == 1.0)
    assert any("40 connected components" in note for note in result.notes)
    mu = result.eigenfunctions[:, :39]
    for c in range(40):            # the unit ones are functions of the component
        block = mu[labels == c]
        np.testing.assert_allclose(block, np.broadcast_to(block[0], block.shape), atol=1e-12)
    np.testing.assert_allclose(result.left_vectors.T @ result.left_vectors, np.eye(45),
                               atol=1e-9)
    np.testing.assert_allclose(np.sqrt(op.pi) @ result.left_vectors, 0, atol=1e-12)
    few = solve_krylov(op, 10, random_state=0)
    np.testing.assert_allclose(few.singular_values, 1.0)
    assert few.max_residual < 1e-12
