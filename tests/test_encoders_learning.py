"""End-to-end: every objective trained on a problem whose answer is known in closed form.

Each test also fits the same encoder untrained (one epoch at lr = 1e-12, see ``untrained``) and
asserts that this control fails the threshold the trained encoder passes, so a wrong objective
cannot pass by the extraction step alone. The problems make that possible: the inputs carry
coordinates the contexture ignores, and the lazy context keeps half of Ψ unsmoothed in Φ = PΨ.
"""

import numpy as np
import pytest
import torch

from _encoders_testlib import (
    MatrixContext,
    exact_eigenfunctions,
    hub_graph_problem,
    lazy_problem,
    two_cluster_graph,
    untrained,
    weighted_cca_r2,
    weighted_knn_graph,
)
from contextures.encoders import ContextureEncoder
from contextures.encoders import methods as methods_module
from contextures.evaluation import cca_r2
from contextures.exceptions import ParameterError

torch.set_default_dtype(torch.float32)

OBJECTIVES = ["kise", "svme", "nested", "laplacian", "vicreg", "contrastive"]


def small(context, objective, d, **kw):
    params = dict(n_components=d, hidden=48, depth=2, epochs=300, lr=1e-2, random_state=0,
                  output_dim=2 * d, n_threads=1)
    params.update(kw)
    return ContextureEncoder(context, objective=objective, **params)


def trained_and_control(enc, X, score, y=None):
    """(score of the trained encoder, score of its untrained control)."""
    fitted = enc.fit(X, y)
    assert fitted.n_components_resolved_ == enc.n_components
    control = untrained(enc).fit(X, y)
    return score(fitted), score(control)


@pytest.fixture(scope="module")
def lazy():
    X, P = lazy_problem()
    s2, mu = exact_eigenfunctions(P)
    return X, P, s2, mu


# --- the six span objectives, full batch and mini-batch ------------------------------------------


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_objective_learns_the_contexture_and_the_untrained_control_does_not(lazy, objective):
    X, P, s2, mu = lazy
    enc = small(MatrixContext(P), objective, 3, epochs=500 if objective == "svme" else 300)
    got, control = trained_and_control(enc, X, lambda e: cca_r2(e.transform(X), mu[:, :3]))
    assert got >= 0.95 > control
    np.testing.assert_allclose(enc.eigenvalues_, s2[:3], atol=0.04)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_minibatch_training_learns_the_contexture(lazy, objective):
    X, P, s2, mu = lazy
    enc = small(MatrixContext(P), objective, 3, batch_size=80,
                epochs=250 if objective == "svme" else 150)
    got, control = trained_and_control(enc, X, lambda e: cca_r2(e.transform(X), mu[:, :3]))
    assert got >= 0.95 > control


def test_nested_outputs_are_ordered_without_extraction(lazy):
    X, P, s2, mu = lazy
    enc = small(MatrixContext(P), "nested", 3, output_dim=3, epochs=400)

    def ordered(e):
        F = e.features(X)
        F = F - F.mean(0)
        return min(abs(np.corrcoef(F[:, i], mu[:, i])[0, 1]) for i in range(3))

    got, control = trained_and_control(enc, X, ordered)
    assert got >= 0.95 > control
    F = enc.features(X)
    np.testing.assert_allclose(((F - F.mean(0)) ** 2).mean(0), s2[:3], atol=0.04)  # = s_i²


# --- denoising ----------------------------------------------------------------------------------


def _denoising_optimum(X, P, pi=None):
    """Φ* = P Ψ*, Ψ* the top principal function of g(a) = E[X̃ | A = a] under P_A."""
    n = X.shape[0]
    pi = np.full(n, 1.0 / n) if pi is None else pi
    c = pi @ P                                       # P_A on the sample
    Xc = X - pi @ X
    g = (P.T @ (pi[:, None] * Xc)) / c[:, None]      # E[X̃ | A = x_j]
    w, V = np.linalg.eigh(g.T @ (c[:, None] * g))
    return P @ (g @ V[:, -1])


def test_denoising_learns_the_principal_function_of_the_conditional_mean(lazy):
    X, P, s2, mu = lazy
    phi_star = _denoising_optimum(X, P)
    enc = small(MatrixContext(P), "dae", 1, output_dim=1, epochs=400)
    got, control = trained_and_control(
        enc, X, lambda e: abs(np.corrcoef(e.features(X)[:, 0], phi_star)[0, 1]))
    assert got >= 0.98 > control


# --- supervised: unequal classes with d < C − 1, and regression ---------------------------------


@pytest.fixture(scope="module")
def classes():
    # four classes of sizes 45/25/18/12 %, centres on a circle in the first two coordinates;
    # four distractor coordinates of larger scale that the labels ignore
    rng = np.random.default_rng(0)
    n = 400
    y = rng.choice(4, size=n, p=[0.45, 0.25, 0.18, 0.12])
    angles = np.pi / 2 * np.arange(4)
    X = np.column_stack([3 * np.cos(angles)[y], 3 * np.sin(angles)[y]])
    X = np.column_stack([X + 0.5 * rng.normal(size=(n, 2)), 3 * rng.normal(size=(n, 4))])
    return X, y


def test_supervised_plain_head_learns_the_top_principal_directions_of_the_one_hot(classes):
    # the plain target A has covariance diag(p) − ppᵀ; with d = 2 < C − 1 = 3 the head picks its
    # top two principal directions (distinct eigenvalues for unequal classes)
    X, y = classes
    p = np.bincount(y) / len(y)
    w, V = np.linalg.eigh(np.diag(p) - np.outer(p, p))
    assert w[-1] - w[-2] > 0.02 and w[-2] - w[-3] > 0.02
    top = V[:, -2:][y]
    enc = small("label", "supervised", 2, output_dim=2, epochs=400)
    got, control = trained_and_control(enc, X, lambda e: cca_r2(e.features(X), top), y)
    assert got >= 0.98 > control


def test_supervised_balanced_learns_the_contexture_with_d_below_c_minus_1(classes):
    # label(balanced=true): the target A/√p has covariance I − √p√pᵀ, all C − 1 = 3 directions
    # equal: any 2 of them are the contexture (s_1 = s_2 = s_3 = 1). The learned span must lie in
    # the span of the class indicators, and the fitted head must leave C − 1 − d = 1 of the
    # target's variance: a wrong scale of the target (1/p, or none) leaves another value.
    X, y = classes
    ind = np.eye(4)[y]
    enc = small("label(balanced=true)", "supervised", 2, output_dim=2, epochs=400)
    got, control = trained_and_control(enc, X, lambda e: cca_r2(e.features(X), ind), y)
    assert got >= 0.98 > control
    assert enc.modules_["loss"].balanced
    p = np.bincount(y) / len(y)
    np.testing.assert_allclose(enc.modules_["loss"].target_scale.numpy(), 1 / np.sqrt(p),
                               rtol=1e-5)
    assert enc.history_["train"][-1] == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(enc.eigenvalues_, [1.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("spec", ["label", "label(balanced=true)"])
def test_supervised_regression_trains_on_the_whitened_targets(spec):
    # y = (f₁, 10 f₁ + f₂/2): raw targets are dominated by f₁; the label context whitens them, so
    # both directions have s = 1 and the loss with d = 1 < 2 leaves exactly 1 of the whitened
    # variance 2. Raw targets would leave ≈ 0.25 · var(f₂) of a total ≈ 100.
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(300, 5))
    f1, f2 = np.sin(2 * X[:, 0]), np.cos(3 * X[:, 1])
    y = np.column_stack([f1, 10 * f1 + 0.5 * f2])
    enc = small(spec, "supervised", 1, output_dim=1, epochs=400)
    got, control = trained_and_control(enc, X, lambda e: cca_r2(e.features(X), y), y)
    assert got >= 0.97 > control
    assert enc.history_["train"][-1] == pytest.approx(1.0, abs=0.03)
    targets = enc.modules_["loss"].head.out_features
    assert targets == 3                      # the constant and the two whitened directions


# --- non-uniform P_X ----------------------------------------------------------------------------


def test_kise_minibatch_on_a_weighted_knn_graph_matches_full_batch():
    from contextures.contexts import GraphContext

    X, W = weighted_knn_graph(n=800)
    deg = np.asarray(W.sum(1)).ravel()
    P = (W.multiply(1 / deg[:, None])).toarray()
    s2, mu = exact_eigenfunctions(P, deg / deg.sum())

    def score(e):
        return cca_r2(e.transform(X), mu[:, :4])

    base = dict(hidden=64, output_dim=16)
    full = small(GraphContext(adjacency=W), "kise", 4, epochs=600, **base).fit(X)
    batch = small(GraphContext(adjacency=W), "kise", 4, batch_size=64, epochs=100, lr=3e-3,
                  **base)
    got, control = trained_and_control(batch, X, score)
    assert score(full) >= 0.95
    assert got >= score(full) - 0.05 > control


@pytest.fixture(scope="module")
def hubs():
    X, P, pi = hub_graph_problem()
    s2, mu = exact_eigenfunctions(P, pi)
    s2u, mu_uniform = exact_eigenfunctions(P)
    return X, P, pi, mu, mu_uniform


def test_contrastive_uses_p_x_and_ignoring_it_fails(hubs, monkeypatch):
    X, P, pi, mu, mu_uniform = hubs
    assert weighted_cca_r2(mu[:, :3], mu_uniform[:, :3], pi) < 0.9   # P_X matters here

    def score(e):
        return weighted_cca_r2(e.transform(X), mu[:, :3], pi)

    enc = small(MatrixContext(P, weights=pi), "contrastive", 3, epochs=400)
    got, control = trained_and_control(enc, X, score)
    assert got >= 0.985 > control
    # the same objective with P_X replaced by a uniform law learns another span
    monkeypatch.setattr(methods_module.Method, "_weights", lambda *args: None)
    assert score(small(MatrixContext(P, weights=pi), "contrastive", 3, epochs=400).fit(X)) < 0.985


@pytest.mark.parametrize("objective", ["kise", "svme", "laplacian"])
def test_phi_objectives_on_a_weighted_graph(hubs, objective):
    X, P, pi, mu, mu_uniform = hubs
    enc = small(MatrixContext(P, weights=pi), objective, 3,
                epochs=800 if objective == "svme" else 400)
    got, control = trained_and_control(enc, X, lambda e: weighted_cca_r2(e.transform(X),
                                                                         mu[:, :3], pi))
    assert got >= 0.95 > control


def test_denoising_with_p_x(hubs, monkeypatch):
    X, P, pi, mu, mu_uniform = hubs
    phi_star = _denoising_optimum(X, P, pi)
    assert weighted_cca_r2(phi_star, _denoising_optimum(X, P), pi) < 0.6   # P_X matters here

    def score(e):
        return weighted_cca_r2(e.features(X), phi_star, pi)

    enc = small(MatrixContext(P, weights=pi), "dae", 1, output_dim=1, epochs=1000)
    got, control = trained_and_control(enc, X, score)
    assert got >= 0.97 > control
    monkeypatch.setattr(methods_module.Method, "_weights", lambda *args: None)
    assert score(small(MatrixContext(P, weights=pi), "dae", 1, output_dim=1,
                       epochs=1000).fit(X)) < 0.97


# --- Laplacian eigenmaps: two hops for every context, one hop only when reversible ---------------


def test_laplacian_on_rbf_median_learns_the_contexture():
    from contextures.contexts import RBFContext

    # anisotropic Gaussian points: s² ≈ 0.31, 0.15, 0.098, 0.076 then 0.029 (a clear gap at 4)
    X = np.random.default_rng(0).normal(size=(400, 3)) * np.array([2.0, 1.3, 0.8])
    P = np.asarray(RBFContext("median").fit(X).operator().P)
    s2, mu = exact_eigenfunctions(P)
    assert s2[3] > 2 * s2[4]
    enc = small("rbf(gamma=median)", "laplacian", 4, output_dim=8, hidden=64, epochs=800)
    got, control = trained_and_control(enc, X, lambda e: cca_r2(e.transform(X), mu[:, :4]))
    assert got >= 0.95 > control
    with pytest.raises(ParameterError, match="reversible"):
        small("rbf(gamma=median)", "laplacian(hops=1)", 4, epochs=1).fit(X)


def test_one_hop_laplacian_on_a_reversible_graph():
    from contextures.contexts import GraphContext

    X, P, pi, side = two_cluster_graph()
    X = np.column_stack([X, np.random.default_rng(0).normal(size=(len(X), 4)) * 5])
    s2, mu = exact_eigenfunctions(P, pi)
    W = P * pi[:, None]
    enc = small(GraphContext(adjacency=W), "laplacian(hops=1)", 1, output_dim=4)
    got, control = trained_and_control(
        enc, X, lambda e: abs(np.corrcoef(e.transform(X)[:, 0], mu[:, 0])[0, 1]))
    assert got >= 0.97 > control
