"""The shift diagnostic on constructed cases where its answer is known exactly."""

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from contextures.evaluation.shift import (
    captured_variation,
    condition_number,
    feature_covariance,
    principal_angles,
    shift_diagnostic,
)
from contextures.spectral import Contexture


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(150, 3)), rng.normal(loc=2.0, size=(100, 3))])
    with threadpool_limits(1):
        model = Contexture("knn(k=15)", n_components=10, random_state=0).fit(X)
    assert model.n_components_resolved_ >= 3
    return X, model


def test_q_equal_to_p_gives_the_identity_and_zero_angles(fitted):
    X, model = fitted
    diag = shift_diagnostic(model, X, X, baseline=True)
    d = model.n_components_resolved_
    np.testing.assert_allclose(diag.covariance, np.eye(d), atol=1e-10)
    np.testing.assert_allclose(diag.mean, 0.0, atol=1e-10)
    assert diag.condition_number == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(diag.principal_angles, 0.0, atol=1e-6)
    np.testing.assert_allclose(diag.singular_values_target, model.singular_values_, atol=1e-12)
    assert diag.captured_target == pytest.approx(diag.captured_source)
    # the baseline (a subsample of P of Q's size = all of P) is the same fit
    np.testing.assert_allclose(diag.baseline_angles, 0.0, atol=1e-6)


def test_a_known_reweighting_gives_its_predicted_covariance(fitted):
    """Q = P's rows repeated c_i times, i.e. dQ/dP = w with w_i = n c_i / Σ c: the prediction
    E_P[w μ μᵀ] − m mᵀ, m = E_P[w μ], from the fitted eigenfunctions."""
    X, model = fitted
    counts = np.random.default_rng(1).integers(0, 4, size=X.shape[0])
    counts[:100] *= 3           # tilt towards the first cluster
    X_q = np.repeat(X, counts, axis=0)
    diag = shift_diagnostic(model, X, X_q, refit=False)
    mu = model.eigenfunctions_[:, model.components_resolved_]
    w = counts * X.shape[0] / counts.sum()
    m = (w[:, None] * mu).mean(axis=0)
    predicted = (w[:, None] * mu).T @ mu / X.shape[0] - np.outer(m, m)
    np.testing.assert_allclose(diag.mean, m, atol=1e-12)
    np.testing.assert_allclose(diag.covariance, predicted, atol=1e-12)
    lam = np.linalg.eigvalsh(predicted)
    assert diag.condition_number == pytest.approx(lam.max() / lam.min(), rel=1e-9)
    assert diag.condition_number > 1.05          # the tilt is visible
    assert diag.principal_angles is None


def test_principal_angles_of_known_subspaces():
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.normal(size=(200, 4)))
    Q -= Q.mean(axis=0)
    Q, _ = np.linalg.qr(Q)          # orthonormal, centred columns
    A = Q[:, :3]
    B = np.column_stack([Q[:, 0], Q[:, 1], math.cos(1.1) * Q[:, 2] + math.sin(1.1) * Q[:, 3]])
    C = np.column_stack([math.cos(0.3) * Q[:, 0] + math.sin(0.3) * Q[:, 3], Q[:, 1], Q[:, 2]])
    np.testing.assert_allclose(principal_angles(A, C), [0.0, 0.0, 0.3], atol=1e-10)
    # span(B) = span(q0, q1, cos 1.1 q2 + sin 1.1 q3): angles 0, 0, 1.1
    np.testing.assert_allclose(principal_angles(A, B), [0.0, 0.0, 1.1], atol=1e-10)
    # constants do not count: shifting a column does not move the space
    np.testing.assert_allclose(principal_angles(A + 5.0, A), 0.0, atol=1e-7)
    # an invertible mix of the columns is the same space
    np.testing.assert_allclose(principal_angles(A @ rng.normal(size=(3, 3)), A), 0.0,
                               atol=1e-7)


def test_helpers():
    F = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    mean, cov = feature_covariance(F)
    np.testing.assert_allclose(mean, 0.0)
    np.testing.assert_allclose(cov, np.diag([0.5, 2.0]))
    assert condition_number([2.0, 0.5]) == 4.0
    assert condition_number([1.0, 0.0]) == math.inf
    X = np.column_stack([F[:, 0] * 3 + 1, F[:, 1]])
    assert captured_variation(F, X) == pytest.approx(1.0)
    assert captured_variation(F[:, :1], X) == pytest.approx(4.5 / (4.5 + 2.0))


def test_a_shifted_target_moves_the_diagnostic(fitted):
    X, model = fitted
    X_q = X[100:250]                       # mostly the second cluster
    diag = shift_diagnostic(model, X, X_q)
    assert diag.condition_number > 2
    assert diag.principal_angles.max() > 0.1
    record = diag.record()
    assert set(record) >= {"covariance_eigenvalues", "condition_number", "principal_angles"}
