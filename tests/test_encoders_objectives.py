"""Objectives: each loss against its formula, then each objective trained on a small problem whose
optimum is known in closed form (label context, two-cluster graph, low-rank / smooth contexts)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from _encoders_testlib import (
    LabelMatrixContext,
    MatrixContext,
    blobs_problem,
    exact_eigenfunctions,
    low_rank_problem,
    smooth_grid_problem,
    two_cluster_graph,
)
from contextures.contexts.operator import ContextOperator
from contextures.encoders import (
    ContextureEncoder,
    KISELoss,
    NestedLowRankLoss,
    SpectralContrastiveLoss,
    ThesisRegularizer,
    VICRegLoss,
)
from contextures.encoders.kernels import DenseKernelBlock, OperatorKernel
from contextures.evaluation import cca_r2

torch.set_default_dtype(torch.float32)


def small(context, objective, d, **kw):
    params = dict(n_components=d, hidden=48, depth=2, epochs=300, lr=3e-3, random_state=0,
                  output_dim=max(2 * d, 4), n_threads=1)
    params.update(kw)
    return ContextureEncoder(context, objective=objective, **params)


# --- the formulas -------------------------------------------------------------------------------


def test_contrastive_negative_term_matches_the_pairwise_sum():
    g = torch.Generator().manual_seed(0)
    za, zb = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g)
    a, b = za - za.mean(0), zb - zb.mean(0)
    pos = sum(float(a[i] @ b[i]) for i in range(7)) / 7
    neg = sum(float(a[i] @ b[j]) ** 2 for i in range(7) for j in range(7) if i != j) / 42
    assert float(SpectralContrastiveLoss()(za, zb)) == pytest.approx(-pos + 0.5 * neg, rel=1e-5)


def test_vicreg_terms():
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(1))
    loss = VICRegLoss(invariance=1.0, variance=0.0, covariance=0.0)
    assert float(loss(z, z)) == 0.0
    C = torch.cov(z.T)
    off = C - torch.diag(torch.diag(C))
    only_cov = VICRegLoss(0.0, 0.0, 1.0)(z, z)
    assert float(only_cov) == pytest.approx(2 * float((off ** 2).sum()) / 4, rel=1e-5)
    # unit-variance, decorrelated outputs pay no variance hinge
    w = torch.randn(400, 4, generator=torch.Generator().manual_seed(2))
    w = (w - w.mean(0)) / w.std(0)
    assert float(VICRegLoss(0.0, 1.0, 0.0)(w, w)) == 0.0
    assert float(VICRegLoss(0.0, 1.0, 0.0)(0.5 * w, 0.5 * w)) == pytest.approx(0.5, abs=1e-3)


def test_thesis_regularizer_normalised_combination():
    reg = ThesisRegularizer(c_std=3.0, c_cov=0.3)
    z = torch.randn(200, 3, generator=torch.Generator().manual_seed(3)) * 0.5
    std, cov = reg.terms(z)
    zc = z - z.mean(0)
    C = zc.T @ zc / 200
    assert float(std) == pytest.approx(float(torch.relu(1 - torch.sqrt(torch.diag(C) + 1e-4))
                                             .mean()), rel=1e-5)
    offd = C[~torch.eye(3, dtype=bool)]
    assert float(cov) == pytest.approx(float((offd ** 2).mean()), rel=1e-5)
    assert float(reg(torch.tensor(2.0), z)) == pytest.approx(
        (2.0 + 3.0 * float(std) + 0.3 * float(cov)) / 4.3, rel=1e-5)


def _dense_kernel(P):
    n = P.shape[0]
    c = P.sum(0)
    return n * (P / c) @ P.T      # k_X⁺ = M / (π_i π_j)^{1/2} with uniform π


def test_kise_loss_full_batch_is_the_spec_formula_and_operator_form_agrees():
    X, P = smooth_grid_problem(n=60)
    G = _dense_kernel(P)
    phi = torch.randn(60, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float32)
    zc = phi - phi.mean(0)
    Gt = torch.as_tensor(G, dtype=torch.float32)
    L = ((zc ** 2).sum(1).mean() - (Gt * (zc @ zc.T)).sum() / 60 ** 2) / 3
    kise = KISELoss(c_std=0.0, c_cov=0.0)
    assert float(kise(phi, DenseKernelBlock(Gt))) == pytest.approx(float(L), rel=1e-4)
    op = ContextOperator(sp.csr_matrix(P))
    assert float(kise(phi, OperatorKernel(op))) == pytest.approx(float(L), rel=1e-4)
    # gradients through the operator's custom autograd function agree with the dense block
    p1 = phi.clone().requires_grad_(True)
    p2 = phi.clone().requires_grad_(True)
    kise(p1, DenseKernelBlock(Gt)).backward()
    kise(p2, OperatorKernel(op)).backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-3, atol=1e-6)


def test_minibatch_kernel_form_is_unbiased_for_the_sample_form():
    X, P = smooth_grid_problem(n=40)
    G = _dense_kernel(P)
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(40, 2))
    exact = Z.T @ G @ Z / 40 ** 2
    total = np.zeros((2, 2))
    count = 0
    m = 6
    # every batch of 6 rows is too many to enumerate; average many random batches
    for _ in range(20000):
        rows = rng.choice(40, size=m, replace=False)
        blk = DenseKernelBlock(torch.as_tensor(G[np.ix_(rows, rows)]), population=40)
        total += blk.form(torch.as_tensor(Z[rows])).numpy()
        count += 1
    np.testing.assert_allclose(total / count, exact, atol=0.02 * np.abs(exact).max())
    # the subset operator form equals the dense debiased block
    op = ContextOperator(sp.csr_matrix(P))
    rows = np.array([1, 5, 7, 30, 31, 39])
    a = OperatorKernel(op, rows).form_numpy(Z[rows])
    b = DenseKernelBlock(torch.as_tensor(G[np.ix_(rows, rows)]), population=40).form(
        torch.as_tensor(Z[rows])).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_nested_loss_is_the_sum_over_prefixes():
    X, P = smooth_grid_problem(n=50)
    G = torch.as_tensor(_dense_kernel(P), dtype=torch.float64)
    phi = torch.randn(50, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    zc = phi - phi.mean(0)
    ref = 0.0
    for k in range(1, 5):
        Zk = zc[:, :k]
        ref += float(-2 * torch.trace(Zk.T @ G @ Zk) / 50 ** 2
                     + ((Zk.T @ Zk / 50) ** 2).sum())
    got = NestedLowRankLoss()(phi, DenseKernelBlock(G))
    assert float(got) == pytest.approx(ref / 4, rel=1e-10)


def test_nested_minimiser_is_the_scaled_ordered_eigenbasis():
    # On the sample, Φ = [s_1 μ_1, ..., s_d μ_d] gives a lower loss than any rotation of it.
    X, P = smooth_grid_problem(n=80)
    s2, mu = exact_eigenfunctions(P)
    G = torch.as_tensor(_dense_kernel(P))
    opt = torch.as_tensor(mu[:, :3] * np.sqrt(s2[:3]))
    loss = NestedLowRankLoss()
    best = float(loss(opt, DenseKernelBlock(G)))
    rng = np.random.default_rng(7)
    for _ in range(5):
        R, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        assert float(loss(opt @ torch.as_tensor(R), DenseKernelBlock(G))) > best + 1e-6


# --- learned spans against closed forms ---------------------------------------------------------


@pytest.fixture(scope="module")
def grid():
    X, P = smooth_grid_problem()
    s2, mu = exact_eigenfunctions(P)
    return X, P, s2, mu


@pytest.mark.parametrize("objective", ["vicreg", "contrastive"])
def test_two_view_objectives_learn_the_smooth_contexture(grid, objective):
    X, P, s2, mu = grid
    enc = small(MatrixContext(P), objective, 3).fit(X)
    assert enc.features_ == "t_psi"
    assert cca_r2(enc.transform(X), mu[:, :3]) > 0.95
    np.testing.assert_allclose(enc.eigenvalues_, s2[:3], atol=0.03)


@pytest.fixture(scope="module")
def low_rank():
    X, P, memb = low_rank_problem()
    s2, mu = exact_eigenfunctions(P)
    return X, P, memb, s2, mu


@pytest.mark.parametrize(("objective", "epochs"), [("kise", 300), ("svme", 500), ("nested", 300)])
def test_kernel_and_two_encoder_objectives_learn_a_low_rank_context(low_rank, objective, epochs):
    X, P, memb, s2, mu = low_rank
    assert s2[3] < 1e-10 < s2[2]          # rank 4: three non-trivial singular values
    enc = small(MatrixContext(P), objective, 3, epochs=epochs).fit(X)
    Z = enc.transform(X)
    # closed form: the top-3 span is the span of the centred memberships π_k(x)
    assert cca_r2(Z, memb - memb.mean(0)) > 0.97
    np.testing.assert_allclose(enc.eigenvalues_, s2[:3], atol=0.03)
    for i in range(3):     # extraction orders them: each matches its own eigenfunction
        assert abs(np.corrcoef(Z[:, i], mu[:, i])[0, 1]) > 0.95


def test_nested_outputs_are_ordered_without_extraction(grid):
    X, P, s2, mu = grid
    enc = small(MatrixContext(P), "nested", 3, output_dim=3, epochs=500).fit(X)
    F = enc.features(X)
    F = F - F.mean(0)
    for i in range(3):
        assert abs(np.corrcoef(F[:, i], mu[:, i])[0, 1]) > 0.97
    np.testing.assert_allclose((F ** 2).mean(0), s2[:3], atol=0.03)   # ‖φ̃_i‖² = s_i²


def test_supervised_learns_the_class_indicators_with_either_head():
    X, y = blobs_problem()
    ind = np.eye(3)[y]
    biased = small(LabelMatrixContext(), "supervised", 2).fit(X, y)
    assert cca_r2(biased.transform(X), ind - ind.mean(0)) > 0.99
    np.testing.assert_allclose(biased.eigenvalues_, [1.0, 1.0], atol=1e-3)   # s_1 = s_2 = 1
    unbiased = small(LabelMatrixContext(), "supervised(head_bias=false)", 2,
                     output_dim=3).fit(X, y)
    assert cca_r2(unbiased.transform(X), ind - ind.mean(0)) > 0.99


def test_supervised_unbalanced_vs_balanced_with_one_dimension():
    # classes of sizes 60/30/10 %: with d = d₁ = 1, the plain MSE head picks the top principal
    # direction of the one-hot vector (covariance diag(p) − ppᵀ); the balanced target A/√p has
    # covariance I − √p√pᵀ (all directions equal).
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=200, p=[0.6, 0.3, 0.1])
    X = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])[y] + rng.normal(size=(200, 2))
    p = np.bincount(y) / 200
    w, V = np.linalg.eigh(np.diag(p) - np.outer(p, p))
    top = V[:, -1][y]
    enc = small(LabelMatrixContext(), "supervised", 1, output_dim=1, epochs=400).fit(X, y)
    assert abs(np.corrcoef(enc.features(X)[:, 0], top)[0, 1]) > 0.99
    bal = small(LabelMatrixContext(balanced=True), "supervised", 1, output_dim=1,
                epochs=400).fit(X, y)
    assert bal.objective_ == "supervised"
    assert bal.modules_["loss"].balanced
    np.testing.assert_allclose(bal.modules_["loss"].target_scale.numpy(), 1 / np.sqrt(p),
                               rtol=1e-5)


def test_laplacian_finds_the_two_clusters_of_a_graph():
    X, P, pi, side = two_cluster_graph()
    s2, mu = exact_eigenfunctions(P, pi)
    enc = small(MatrixContext(P, weights=pi), "laplacian", 1, output_dim=4).fit(X)
    Z = enc.transform(X)[:, 0]
    assert abs(np.corrcoef(Z, side)[0, 1]) > 0.97
    assert abs(np.corrcoef(Z, mu[:, 0])[0, 1]) > 0.97
    assert enc.eigenvalues_[0] == pytest.approx(s2[0], abs=0.03)


def test_kise_on_a_weighted_graph():
    X, P, pi, side = two_cluster_graph()
    s2, mu = exact_eigenfunctions(P, pi)
    enc = small(MatrixContext(P, weights=pi), "kise", 1, output_dim=4).fit(X)
    assert abs(np.corrcoef(enc.transform(X)[:, 0], mu[:, 0])[0, 1]) > 0.97


def test_denoising_learns_the_principal_function_of_the_conditional_mean(grid):
    # Closed form of min E‖WΨ(A) + b − X‖² with a one-dimensional Ψ: Ψ* is the top principal
    # function of g(a) = E[X̃ | A = a] under P_A; the representation of x is Φ = TΨ*.
    X, P, s2, mu = grid
    n = X.shape[0]
    c = P.sum(0) / n                               # P_A on the sample
    Xc = X - X.mean(0)
    g = (P.T @ Xc) / (n * c)[:, None]               # E[X̃ | A = x_j]
    C = g.T @ (c[:, None] * g)
    w, V = np.linalg.eigh(C)
    phi_star = P @ (g @ V[:, -1])
    enc = small(MatrixContext(P), "dae", 1, output_dim=1, epochs=600).fit(X)
    assert abs(np.corrcoef(enc.features(X)[:, 0], phi_star)[0, 1]) > 0.99


# --- with the library's own contexts ------------------------------------------------------------


def test_real_label_context_supervised_balanced():
    from contextures.contexts import LabelContext

    X, y = blobs_problem()
    ind = np.eye(3)[y]
    enc = small(LabelContext(balanced=True), "supervised", 2).fit(X, y)
    assert enc.modules_["loss"].balanced          # taken from the context's balanced flag
    assert cca_r2(enc.transform(X), ind - ind.mean(0)) > 0.99
    np.testing.assert_allclose(enc.eigenvalues_, [1.0, 1.0], atol=1e-3)


def test_real_graph_context_laplacian():
    from contextures.contexts import GraphContext

    X, P, pi, side = two_cluster_graph()
    W = P * (pi * 1.0)[:, None]            # symmetric weights w(u, v) ∝ π_u P_uv
    enc = small(GraphContext(adjacency=W), "laplacian", 1, output_dim=4).fit(X)
    s2, mu = exact_eigenfunctions(P, pi)
    assert abs(np.corrcoef(enc.transform(X)[:, 0], mu[:, 0])[0, 1]) > 0.97
