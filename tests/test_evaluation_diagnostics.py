"""Decay rate, kernel deviation and Lipschitz estimate against closed forms and dense references."""

import numpy as np
import pytest
import scipy.sparse as sp

from _references import rbf_transition
from contextures.contexts.operator import ContextOperator
from contextures.evaluation import decay_rate, kernel_deviation, lipschitz_estimate
from contextures.exceptions import ParameterError


def dense_kernel(op):
    return op.dense_gram() / np.sqrt(np.outer(op.pi, op.pi))


# --- decay rate ------------------------------------------------------------------------------
def test_decay_rate_recovers_an_exact_exponential():
    i = np.arange(1, 51)
    assert decay_rate(np.exp(-0.15 * i)) == pytest.approx(0.3, rel=1e-12)  # s² = exp(−0.3 i)


def test_decay_rate_has_no_intercept():
    # s_i² = 0.5 exp(−0.3 i): the no-intercept fit absorbs log 0.5 into λ
    i = np.arange(1, 21, dtype=float)
    s = np.sqrt(0.5 * np.exp(-0.3 * i))
    expected = 0.3 - np.log(0.5) * i.sum() / (i @ i)
    assert decay_rate(s) == pytest.approx(expected, rel=1e-12)


def test_decay_rate_uses_first_n_and_skips_zeros():
    i = np.arange(1, 11)
    s = np.concatenate([np.exp(-0.1 * i), np.full(5, 0.9 * np.exp(-1.0))])
    s_sorted = np.sort(s)[::-1]
    assert decay_rate(np.exp(-0.1 * i), n=10) == pytest.approx(0.2)
    assert decay_rate(np.concatenate([np.exp(-0.1 * i), [0.0, 0.0]])) == pytest.approx(0.2)
    assert decay_rate(s_sorted, n=3) == pytest.approx(decay_rate(s_sorted[:3]))
    assert decay_rate(np.ones(5)) == 0.0


def test_decay_rate_bad_input():
    with pytest.raises(ParameterError, match="positive singular value"):
        decay_rate([0.0, 0.0])
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        decay_rate([1.5, 0.2])


# --- kernel deviation ------------------------------------------------------------------------
def test_kernel_deviation_exact_matches_dense(sample):
    op = ContextOperator(rbf_transition(sample, 0.7))
    K = dense_kernel(op)
    assert kernel_deviation(op, n_sample=None) == pytest.approx(np.abs(K - 1).mean(), rel=1e-12)
    assert kernel_deviation(K, n_sample=None) == pytest.approx(np.abs(K - 1).mean(), rel=1e-12)


def test_kernel_deviation_closed_forms():
    n = 30
    independent = ContextOperator(np.full((n, n), 1.0 / n))  # k ≡ 1
    assert kernel_deviation(independent, n_sample=None) == pytest.approx(0.0, abs=1e-12)
    identity = ContextOperator(sp.identity(n, format="csr"))  # k(x_i, x_j) = n δ_ij
    assert kernel_deviation(identity, n_sample=None) == pytest.approx(2 * (n - 1) / n)


def test_kernel_deviation_subsample_is_unbiased(sample):
    op = ContextOperator(rbf_transition(sample, 2.0))
    exact = kernel_deviation(op, n_sample=None)
    draws = [kernel_deviation(op, n_sample=8, random_state=seed) for seed in range(400)]
    assert np.mean(draws) == pytest.approx(exact, rel=0.03)
    assert kernel_deviation(op, 8, random_state=5) == kernel_deviation(op, 8, random_state=5)


def test_kernel_deviation_weighted(sample):
    w = np.random.default_rng(3).uniform(0.5, 2, size=40)
    op = ContextOperator(rbf_transition(sample), sample_weight=w)
    pi = op.pi
    expected = pi @ np.abs(dense_kernel(op) - 1) @ pi
    assert kernel_deviation(op, n_sample=None) == pytest.approx(expected, rel=1e-12)


# --- Lipschitz estimate ----------------------------------------------------------------------
def brute_lipschitz(K, X):
    n = X.shape[0]
    best = 0.0
    for i in range(n):
        for j in range(n):
            d = np.linalg.norm(X[i] - X[j])
            if i != j and d > 0:
                best = max(best, np.abs(K[:, i] - K[:, j]).max() / d)
    return best


def test_lipschitz_matches_brute_force(sample):
    op = ContextOperator(rbf_transition(sample, 0.5))
    expected = brute_lipschitz(dense_kernel(op), sample)
    assert lipschitz_estimate(op, sample, n_sample=40) == pytest.approx(expected, rel=1e-10)
    sub = lipschitz_estimate(op, sample, n_sample=15, random_state=0)
    assert 0 < sub <= expected * (1 + 1e-12)


def test_lipschitz_of_independence_is_zero(sample):
    op = ContextOperator(np.full((40, 40), 1 / 40))
    assert lipschitz_estimate(op, sample, n_sample=40) == pytest.approx(0.0, abs=1e-9)


def test_stronger_association_has_larger_diagnostics(sample):
    weak = ContextOperator(rbf_transition(sample, 0.05))
    strong = ContextOperator(rbf_transition(sample, 5.0))
    assert kernel_deviation(strong, None) > kernel_deviation(weak, None)
    assert lipschitz_estimate(strong, sample, 40) > lipschitz_estimate(weak, sample, 40)


def test_lipschitz_bad_input(sample):
    op = ContextOperator(rbf_transition(sample))
    with pytest.raises(ParameterError, match="rows"):
        lipschitz_estimate(op, sample[:10])
    bad = sample.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        lipschitz_estimate(op, bad)
    with pytest.raises(ParameterError, match="ContextOperator"):
        kernel_deviation("knn")
