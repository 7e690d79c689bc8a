"""Extraction (spec §4.8): from any basis of a span to ordered eigenfunctions and s_i²."""

import numpy as np
import pytest
import scipy.sparse as sp

from _encoders_testlib import MatrixContext, exact_eigenfunctions, smooth_grid_problem
from contextures.contexts.operator import ContextOperator
from contextures.encoders.extraction import (
    finalize,
    kernel_matrices,
    solve_generalized,
    view_matrices,
)
from contextures.encoders.kernels import OperatorKernel
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
