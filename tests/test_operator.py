"""ContextOperator: Q = D_π^{1/2} P D_c^{-1/2} against the dense formulas of docs/theory.md §4."""

import numpy as np
import pytest
import scipy.sparse as sp

from _references import rbf_transition
from contextures.contexts.operator import ContextOperator, MatrixFreeTransition
from contextures.exceptions import MemoryBudgetError


class DenseAsMatrixFree(MatrixFreeTransition):
    block_rows = 7

    def __init__(self, P):
        super().__init__(P.shape)
        self._P = P

    def row_block(self, i0, i1):
        return self._P[i0:i1]


def test_uniform_weights_give_the_reference_matrix(sample):
    P = rbf_transition(sample)
    op = ContextOperator(P)
    M_spec = P @ np.diag(1 / P.sum(0)) @ P.T
    np.testing.assert_allclose(op.dense_gram(), M_spec, atol=1e-13)
    w = np.linalg.eigvalsh(op.dense_gram())
    assert w[-1] == pytest.approx(1.0, abs=1e-12)
    assert w.min() > -1e-12


def test_sparse_dense_and_matrix_free_agree(sample):
    P = rbf_transition(sample)
    P[P < 0.02] = 0
    P /= P.sum(1, keepdims=True)
    ops = [ContextOperator(P), ContextOperator(sp.csr_matrix(P)),
           ContextOperator(DenseAsMatrixFree(P))]
    V = np.random.default_rng(1).normal(size=(ops[0].shape[1], 4))
    U = np.random.default_rng(2).normal(size=(40, 4))
    for op in ops[1:]:
        np.testing.assert_allclose(op.matmat(V), ops[0].matmat(V), atol=1e-12)
        np.testing.assert_allclose(op.rmatmat(U), ops[0].rmatmat(U), atol=1e-12)
        np.testing.assert_allclose(op.dense_gram(), ops[0].dense_gram(), atol=1e-12)
        np.testing.assert_allclose(op.kernel([1, 2], [3, 5, 7]), ops[0].kernel([1, 2], [3, 5, 7]),
                                   atol=1e-10)


def test_unreached_columns_are_dropped():
    P = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    op = ContextOperator(sp.csr_matrix(P))
    assert op.shape == (3, 2)
    assert list(op.kept_columns) == [0, 1]
    np.testing.assert_allclose(np.linalg.eigvalsh(op.dense_gram())[-1], 1.0)


def test_weighted_sample_top_vector_is_sqrt_pi():
    W = np.array([[0, 2, 1, 0], [2, 0, 1, 0], [1, 1, 0, 3], [0, 0, 3, 0]], dtype=float)
    d = W.sum(1)
    op = ContextOperator(sp.csr_matrix(W / d[:, None]), sample_weight=d / d.sum())
    M = op.dense_gram()
    np.testing.assert_allclose(M @ np.sqrt(d / d.sum()), np.sqrt(d / d.sum()), atol=1e-12)
    # graph convention: Q Qᵀ is the square of the normalised adjacency D^{-1/2} W D^{-1/2}
    A = W / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(M, A @ A, atol=1e-12)


def test_extension_reproduces_training_eigenfunctions(sample):
    P = rbf_transition(sample, gamma=0.5)
    op = ContextOperator(P)
    U, S, Vt = np.linalg.svd(op.dense_q())
    mu = op.eigenfunctions_from_left(U[:, 1:6])
    W = op.extension_weights(Vt[1:6].T, S[1:6])
    np.testing.assert_allclose(P @ W, mu, atol=1e-10)
    np.testing.assert_allclose(mu.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(mu.var(0), 1, atol=1e-10)


def test_kernel_is_n_times_m_for_uniform_weights(sample):
    P = rbf_transition(sample)
    op = ContextOperator(P)
    np.testing.assert_allclose(op.kernel(np.arange(40), np.arange(40)), 40 * op.dense_gram(),
                               atol=1e-10)


def test_feature_mode_is_a_linear_kernel():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(30, 2))
    F -= F.mean(0)
    F = np.column_stack([np.ones(30), F])
    op = ContextOperator(F, features=True)
    np.testing.assert_allclose(op.kernel(np.arange(30), np.arange(30)), F @ F.T, atol=1e-12)


def test_dense_gram_checks_the_budget():
    P = sp.identity(5000, format="csr")
    op = ContextOperator(P, memory_budget=1024**2)
    with pytest.raises(MemoryBudgetError, match="5000×5000"):
        op.dense_gram()
