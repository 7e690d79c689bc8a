"""Extraction: from any basis of a span to ordered eigenfunctions and s_i², the noise floor that
decides which of them the sample resolves, and the view estimates under P_X."""

import numpy as np
import pytest
import scipy.sparse as sp

from _encoders_testlib import MatrixContext, exact_eigenfunctions, smooth_grid_problem
from contextures.contexts.operator import ContextOperator
from contextures.encoders.extraction import (
    finalize,
    kernel_matrices,
    noise_floor,
    resolve,
    solve_generalized,
    view_matrices,
)
from contextures.encoders.kernels import OperatorKernel, kernel_diagonal
from contextures.exceptions import ParameterError


@pytest.fixture(scope="module")
def grid():
    X, P = smooth_grid_problem(n=150)
    s2, mu = exact_eigenfunctions(P)
    return X, P, s2, mu, ContextOperator(sp.csr_matrix(P))


def test_exact_span_gives_exact_eigenpairs(grid):
    X, P, s2, mu, op = grid
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    Phi = (mu[:, :6] @ A) + 3.0                     # any basis of the span, any offset
    mean, C, B = kernel_matrices(Phi, OperatorKernel(op))
    lam, V, rank = solve_generalized(B, C, 4)
    np.testing.assert_allclose(lam, s2[:4], atol=1e-6)   # the ridge is 1e-8 relative
    ex = finalize(mean, V, lam, C, B, len(X), "kernel", rank, train_features=Phi)
    Z = ex.apply(Phi)
    for i in range(4):
        assert abs(np.corrcoef(Z[:, i], mu[:, i])[0, 1]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(Z.var(0), 1.0, rtol=1e-8)
    # signs are fixed: the largest-magnitude entry of every function is positive
    assert np.all(Z[np.abs(Z).argmax(0), np.arange(4)] > 0)


def test_ritz_values_are_lower_bounds_with_a_perturbed_span(grid):
    X, P, s2, mu, op = grid
    rng = np.random.default_rng(1)
    Phi = np.column_stack([mu[:, :5] + 0.2 * rng.normal(size=(150, 5)), rng.normal(size=(150, 3))])
    mean, C, B = kernel_matrices(Phi, OperatorKernel(op))
    lam, V, _ = solve_generalized(B, C, 5)
    assert np.all(lam <= s2[:5] + 1e-10)
    assert np.all(np.diff(lam) <= 1e-12)


def test_subsample_estimate_is_close(grid):
    X, P, s2, mu, op = grid
    rows = np.sort(np.random.default_rng(2).choice(150, 100, replace=False))
    Phi = mu[:, :3] @ np.random.default_rng(3).normal(size=(3, 3))
    mean, C, B = kernel_matrices(Phi[rows], OperatorKernel(op, rows))
    lam, _, _ = solve_generalized(B, C, 3)
    np.testing.assert_allclose(lam, s2[:3], atol=0.05)


def test_collapsed_outputs_are_refused(grid):
    X, P, s2, mu, op = grid
    Phi = np.column_stack([mu[:, 0], 2 * mu[:, 0], mu[:, 0] - 1])
    mean, C, B = kernel_matrices(Phi, OperatorKernel(op))
    with pytest.raises(ParameterError, match="collapsed"):
        solve_generalized(B, C, 2)
    with pytest.raises(ParameterError, match="constant"):
        solve_generalized(np.zeros((2, 2)), np.zeros((2, 2)), 1)


def test_views_estimate_in_context_space(grid):
    # Ψ = the right singular functions ν_i on the values: two independent views per row give
    # B_Ψ = ⟨ψ, T*T ψ⟩ and C_Ψ = Cov_{P_A}[ψ]; the eigenvalues are s_i².
    X, P, s2, mu, op = grid
    n = len(X)
    c = P.sum(0) / n
    nu = (P.T @ mu[:, :3]) / (n * c)[:, None] / np.sqrt(s2[:3])   # ν_i = T*μ_i / s_i
    ctx = MatrixContext(P).fit(X)
    rng = np.random.default_rng(4)
    rows = np.tile(np.arange(n), 200)
    ja = ctx.sample_indices(rows, rng)
    jb = ctx.sample_indices(rows, rng)
    mean, C, B = view_matrices(nu[ja][None], nu[jb][None])
    lam, _, _ = solve_generalized(B, C, 3)
    np.testing.assert_allclose(lam, s2[:3], atol=0.02)


def test_noise_floor_is_the_self_pair_share():
    # ε = Σ w_i² k(x_i, x_i), with the lower bound Σ w_i² (k ≥ 1) when the diagonal is unknown
    w = np.array([1.0, 1.0, 2.0])
    assert noise_floor(w, np.array([2.0, 4.0, 3.0])) == pytest.approx((2 + 4 + 4 * 3) / 16)
    assert noise_floor(w) == pytest.approx(6 / 16)
    assert noise_floor(np.ones(10)) == pytest.approx(0.1)


def test_noise_floor_of_a_lazy_context_is_about_its_self_loop_squared(grid):
    # P = β I + (1 − β) S: every row keeps mass β on itself, k(x, x) ≥ β² n, ε ≥ β²
    X, P, s2, mu, op = grid
    n = len(X)
    lazy = 0.5 * np.eye(n) + 0.5 * P
    op_lazy = ContextOperator(sp.csr_matrix(lazy))
    eps = noise_floor(np.ones(n), kernel_diagonal(op_lazy))
    assert 0.25 <= eps <= 0.3
    s2_lazy = np.linalg.eigvalsh(op_lazy.dense_gram())[::-1][1:]
    assert np.sum(s2_lazy > eps) < n // 4          # the bulk at ≈ β² is below the floor


def test_resolve_keeps_the_leading_components_above_the_floor(grid):
    X, P, s2, mu, op = grid
    Phi = mu[:, :6] @ np.random.default_rng(5).normal(size=(6, 6))
    mean, C, B = kernel_matrices(Phi, OperatorKernel(op))
    lam, V, rank, k = resolve(B, C, 6, floor=0.5 * (s2[2] + s2[3]))
    np.testing.assert_allclose(lam, s2[:6], atol=1e-4)         # every estimate is kept
    assert k == 3 and V.shape == (6, 3) and rank == 6
    ex = finalize(mean, V, lam, C, B, len(X), "kernel", rank, train_features=Phi, floor=0.1)
    assert ex.n_resolved == 3 and ex.n_components == 6 and ex.apply(Phi).shape == (150, 3)
    with pytest.raises(ParameterError, match="noise floor"):
        resolve(B, C, 6, floor=1.0)


def test_weighted_view_matrices_match_the_weighted_sums():
    rng = np.random.default_rng(6)
    za, zb = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    w = np.array([0.4, 0.1, 0.2, 0.2, 0.1])
    mean, C, B = view_matrices(za, zb, w)
    om = np.concatenate([w, w]) / 2                      # r = 2 view pairs per row
    A, Bv = za.reshape(10, 3), zb.reshape(10, 3)
    ref_mean = 0.5 * (om @ A + om @ Bv)
    np.testing.assert_allclose(mean, ref_mean)
    a, b = A - ref_mean, Bv - ref_mean
    ref_C = 0.5 * sum(om[i] * (np.outer(a[i], a[i]) + np.outer(b[i], b[i])) for i in range(10))
    ref_B = sum(om[i] * np.outer(a[i], b[i]) for i in range(10))
    np.testing.assert_allclose(C, ref_C, atol=1e-12)
    np.testing.assert_allclose(B, 0.5 * (ref_B + ref_B.T), atol=1e-12)
    np.testing.assert_allclose(view_matrices(za, zb)[1], view_matrices(za, zb, np.ones(5))[1])


def test_subsample_extraction_is_unbiased_under_a_non_uniform_p_x():
    # the exact μ_1..μ_3 of a weighted graph, B_Φ from m = 40 of 240 rows: the Horvitz–Thompson
    # estimate (centred on the P_X mean of all rows) averages to diag(s²); the batch V-statistic
    # is far above it
    from _encoders_testlib import hub_graph_problem

    X, P, pi = hub_graph_problem()
    op = ContextOperator(sp.csr_matrix(P), sample_weight=pi)
    s2, mu = exact_eigenfunctions(P, pi)
    Z = mu[:, :3]
    rng = np.random.default_rng(8)
    ht, vstat = [], []
    for _ in range(600):
        rows = np.sort(rng.choice(240, 40, replace=False))
        ht.append(np.diag(kernel_matrices(Z[rows], OperatorKernel(op, rows), mean=np.zeros(3))[2]))
        own = OperatorKernel(op, rows, population=40, mass=pi[rows].sum())
        vstat.append(np.diag(kernel_matrices(Z[rows], own, mean=np.zeros(3))[2]))
    np.testing.assert_allclose(np.mean(ht, 0), s2[:3], atol=0.03)
    assert np.all(np.mean(vstat, 0) > s2[:3] + 0.1)
