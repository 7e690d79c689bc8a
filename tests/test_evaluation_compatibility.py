"""ρ(f) on constructed eigenfunctions whose answer is known in closed form (docs/theory.md §2)."""

import numpy as np
import pytest

from contextures.evaluation import compatibility
from contextures.exceptions import ParameterError


def orthonormal_functions(n, d, seed=0, weights=None):
    """n × d functions with zero mean and identity covariance under π (uniform by default)."""
    rng = np.random.default_rng(seed)
    pi = np.full(n, 1 / n) if weights is None else weights / weights.sum()
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    Q, _ = np.linalg.qr(np.sqrt(pi)[:, None] * Z)
    return Q[:, 1:] / np.sqrt(pi)[:, None]


def test_rho_closed_form():
    mu = orthonormal_functions(500, 4)
    s = np.array([0.95, 0.8, 0.5, 0.1])
    c = np.array([1.0, -2.0, 0.5, 3.0])
    r = compatibility(7.0 + mu @ c, mu, s)
    assert r.rho == pytest.approx(np.sqrt((s**2 @ c**2) / (c @ c)), rel=1e-12)
    assert r.captured_fraction == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(r.coefficients[:, 0], c, atol=1e-12)


def test_single_eigenfunction_gives_its_singular_value():
    mu = orthonormal_functions(200, 3, seed=1)
    s = [0.9, 0.6, 0.3]
    for i in range(3):
        assert compatibility(mu[:, i], mu, s).rho == pytest.approx(s[i], rel=1e-12)


def test_uncaptured_part_only_lowers_the_captured_fraction():
    mu_all = orthonormal_functions(400, 5, seed=2)
    mu, other = mu_all[:, :3], mu_all[:, 3:]
    s = np.array([0.9, 0.7, 0.4])
    c = np.array([1.0, 1.0, 2.0])
    g = other @ np.array([1.5, -1.0])  # orthogonal to μ_1..μ_3 and to constants
    r = compatibility(mu @ c + g, mu, s)
    assert r.rho == pytest.approx(np.sqrt((s**2 @ c**2) / (c @ c)), rel=1e-12)
    assert r.captured_fraction == pytest.approx((c @ c) / (c @ c + 1.5**2 + 1.0), rel=1e-12)


def test_multi_output_and_weights():
    w = np.random.default_rng(4).uniform(0.2, 3.0, size=300)
    mu = orthonormal_functions(300, 3, seed=3, weights=w)
    s = np.array([0.9, 0.5, 0.2])
    C = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    r = compatibility(mu @ C, mu, s, sample_weight=w)
    energy = (C**2).sum(1)
    assert r.rho == pytest.approx(np.sqrt(s**2 @ energy / energy.sum()), rel=1e-12)


def test_label_context_target_is_fully_compatible():
    # a label context: s = 1 on the C − 1 class-indicator directions, so ρ(one-hot) = 1
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, size=300)
    Y = np.eye(3)[y]
    mu = orthonormal_functions_from(Y)
    assert compatibility(Y, mu, [1.0, 1.0]).rho == pytest.approx(1.0, rel=1e-12)


def orthonormal_functions_from(Y):
    n = Y.shape[0]
    Yc = Y - Y.mean(0)
    U, sv, _ = np.linalg.svd(Yc, full_matrices=False)
    return U[:, sv > 1e-10] * np.sqrt(n)


def test_bad_input():
    mu = orthonormal_functions(50, 2)
    with pytest.raises(ParameterError, match="constant"):
        compatibility(np.ones(50), mu, [0.5, 0.4])
    with pytest.raises(ParameterError, match="row counts differ"):
        compatibility(np.arange(40.0), mu, [0.5, 0.4])
    with pytest.raises(ParameterError, match="must match"):
        compatibility(np.arange(50.0), mu, [0.5])
    with pytest.raises(ParameterError, match="NaN"):
        compatibility(np.r_[np.nan, np.arange(49.0)], mu, [0.5, 0.4])
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        compatibility(np.arange(50.0), mu, [1.5, 0.4])
    other = orthonormal_functions(50, 4)
    g = other[:, 3] - mu @ (mu.T @ other[:, 3]) / 50
    with pytest.raises(ParameterError, match="orthogonal"):
        compatibility(g, mu, [0.5, 0.4])
