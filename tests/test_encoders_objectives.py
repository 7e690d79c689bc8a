"""Every loss against a value computed by hand on a tiny case, with uniform and non-uniform
weights; the batch estimates of the kernel objectives against their exact expectation over every
possible batch; the two-hop edge sampler against its closed-form law."""

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from _encoders_testlib import smooth_grid_problem
from contextures.contexts.operator import ContextOperator, MatrixFreeTransition
from contextures.encoders import (
    KISELoss,
    LaplacianLoss,
    NestedLowRankLoss,
    ReconstructionLoss,
    SpectralContrastiveLoss,
    SupervisedLoss,
    SVMELoss,
    ThesisRegularizer,
    VICRegLoss,
)
from contextures.encoders.kernels import DenseKernelBlock, OperatorKernel, unbiased_square
from contextures.encoders.pipeline import ContextSampler

torch.set_default_dtype(torch.float32)


def t(rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


# --- the regulariser ----------------------------------------------------------------------------


def test_thesis_regularizer_by_hand():
    # columns (0, 1, 2) and (0, 2, 1): means 1, unbiased variances (1 + 0 + 1)/2 = 1 and
    # (1 + 1 + 0)/2 = 1, covariance ((−1)(−1) + 0·1 + 1·0)/2 = 1/2 (divisor m − 1 = 2).
    z = t([[0, 0], [1, 2], [2, 1]])
    reg = ThesisRegularizer(c_std=3.0, c_cov=0.3)
    std, cov = reg.terms(z)
    assert float(std) == pytest.approx(max(0.0, 1 - math.sqrt(1 + 1e-4)), abs=1e-12)
    assert float(cov) == pytest.approx(0.25, rel=1e-12)        # mean of 0.5², 0.5²
    assert float(reg(t(2.0), z)) == pytest.approx((2.0 + 0.3 * 0.25) / 4.3, rel=1e-12)
    # halved outputs: variances 1/4, hinge 1 − sqrt(1/4 + 1e-4) per column
    std, cov = reg.terms(0.5 * z)
    assert float(std) == pytest.approx(1 - math.sqrt(0.25 + 1e-4), rel=1e-12)
    assert float(cov) == pytest.approx(0.125 ** 2, rel=1e-12)


def test_thesis_regularizer_weighted_covariance():
    # w = (1/2, 1/4, 1/4) on (0, 2, 4): mean 1.5, Σ w (z − 1.5)² = 2.75, divided by
    # 1 − Σ w² = 0.625 (the weighted unbiased covariance): C = 4.4.
    reg = ThesisRegularizer(c_std=1.0, c_cov=0.0)
    std, _ = reg.terms(t([[0], [2], [4]]) * 0.1, t([0.5, 0.25, 0.25]))
    assert float(std) == pytest.approx(1 - math.sqrt(0.044 + 1e-4), rel=1e-12)


# --- supervised ---------------------------------------------------------------------------------


def _supervised(balanced=False, prior=None):
    loss = SupervisedLoss(1, 2, balanced=balanced, class_prior=prior).double()
    with torch.no_grad():
        loss.head.weight.copy_(t([[1.0], [-1.0]]))
        loss.head.bias.copy_(t([0.0, 0.5]))
    return loss


@torch.no_grad()
def test_supervised_loss_by_hand():
    phi = t([[1.0], [2.0]])
    target = t([[1.0, 0.0], [0.0, 1.0]])
    # predictions (1, −0.5) and (2, −1.5); residuals (0, −0.5) → 0.25 and (2, −2.5) → 10.25
    assert float(_supervised()(phi, target)) == pytest.approx((0.25 + 10.25) / 2, rel=1e-12)
    assert float(_supervised()(phi, target, t([3.0, 1.0]))) == pytest.approx(
        0.75 * 0.25 + 0.25 * 10.25, rel=1e-12)
    # balanced with P_A = (1/4, 3/4): targets (2, 0) and (0, 1/√0.75)
    bal = _supervised(True, torch.tensor([0.25, 0.75]))
    r0 = (1 - 2) ** 2 + (-0.5) ** 2
    r1 = 2 ** 2 + (-1.5 - 1 / math.sqrt(0.75)) ** 2
    assert float(bal(phi, target)) == pytest.approx((r0 + r1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="class prior"):
        SupervisedLoss(1, 2, balanced=True)


# --- spectral contrastive -----------------------------------------------------------------------


def test_contrastive_loss_by_hand():
    # already centred views; ⟨a_i, b_k⟩ = [[1, 0, −1], [0, −1, 1], [−1, 1, 0]]:
    # positive mean (1 − 1 + 0)/3 = 0; the six negatives squared sum to 4, mean 2/3.
    za = t([[1, 0], [-1, 1], [0, -1]])
    zb = t([[1, 1], [0, -1], [-1, 0]])
    assert float(SpectralContrastiveLoss()(za, zb)) == pytest.approx(0.5 * 2 / 3, rel=1e-12)


def test_contrastive_loss_weighted_pairwise():
    g = torch.Generator().manual_seed(0)
    za = torch.randn(6, 3, generator=g, dtype=torch.float64)
    zb = torch.randn(6, 3, generator=g, dtype=torch.float64)
    w = torch.tensor([0.3, 0.1, 0.05, 0.25, 0.2, 0.1], dtype=torch.float64)
    a = za - (w[:, None] * za).sum(0)
    b = zb - (w[:, None] * zb).sum(0)
    pos = sum(float(w[i] * (a[i] @ b[i])) for i in range(6))
    num = sum(float(w[i] * w[k] * (a[i] @ b[k]) ** 2) for i in range(6) for k in range(6) if i != k)
    den = sum(float(w[i] * w[k]) for i in range(6) for k in range(6) if i != k)
    assert float(SpectralContrastiveLoss()(za, zb, w)) == pytest.approx(-pos + 0.5 * num / den,
                                                                       rel=1e-10)


# --- VICReg -------------------------------------------------------------------------------------


def test_vicreg_terms_by_hand():
    z = t([[0, 0], [1, 2], [2, 1]])            # variances 1, 1; covariance 1/2
    zb = t([[1, 0], [1, 0], [2, 1]])          # differences (−1, 0), (0, 2), (0, 0)
    assert float(VICRegLoss(1.0, 0.0, 0.0)(z, zb)) == pytest.approx((1 + 4 + 0) / 3 / 2)
    assert float(VICRegLoss(0.0, 0.0, 1.0)(z, z)) == pytest.approx(2 * (2 * 0.25) / 2)
    assert float(VICRegLoss(0.0, 1.0, 0.0)(z, z)) == 0.0
    assert float(VICRegLoss(0.0, 1.0, 0.0)(0.5 * z, 0.5 * z)) == pytest.approx(
        1 - math.sqrt(0.25 + 1e-4), rel=1e-12)


def test_vicreg_weighted_invariance_and_variance():
    z = t([[0.0], [2.0], [4.0]])
    w = t([0.5, 0.25, 0.25])
    # invariance Σ w_i (a_i − b_i)² / d with differences (1, 0, 2)
    assert float(VICRegLoss(1.0, 0.0, 0.0)(z, z + t([[1.0], [0.0], [2.0]]), w)) == \
        pytest.approx(0.5 * 1 + 0.25 * 4, rel=1e-12)
    # weighted unbiased variance of 0.1·(0, 2, 4) under w: 0.044 (see the regulariser test)
    assert float(VICRegLoss(0.0, 1.0, 0.0)(0.1 * z, 0.1 * z, w)) == pytest.approx(
        1 - math.sqrt(0.044 + 1e-4), rel=1e-12)


# --- SVME, KISE, Laplacian ----------------------------------------------------------------------


def test_svme_loss_by_hand():
    # centred Φ (−1, 1), centred Ψ (−2, 2): gaps (1, −1), mean square 1, d = 1
    loss = SVMELoss(c_std=0.0, c_cov=0.0)
    assert float(loss(t([[1.0], [3.0]]), t([[0.0], [4.0]]))) == pytest.approx(1.0)
    # weights (3/4, 1/4): weighted means 1.5 and 1; gaps −0.5 + 1 = 0.5 and 1.5 − 3 = −1.5
    assert float(loss(t([[1.0], [3.0]]), t([[0.0], [4.0]]), t([3.0, 1.0]))) == pytest.approx(
        0.75 * 0.25 + 0.25 * 2.25)


G3 = [[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]]


def test_kise_loss_by_hand_full_and_batch():
    # centred z = (−1, 0, 1): (1/m) Σ z² = 2/3, zᵀGz = 4, so L = 2/3 − 4/9 = 2/9.
    phi = t([[0.0], [1.0], [2.0]])
    kise = KISELoss(c_std=0.0, c_cov=0.0)
    assert float(kise(phi, DenseKernelBlock(t(G3)))) == pytest.approx(2 / 9, rel=1e-12)
    # the same rows as a batch of m = 3 out of N = 6 uniform rows (p = 1/6): the norm term
    # (N/m) Σ p z² = 2/3; the off-diagonal pairs sum to 4 − Σ G_ii z_i² = 0, the diagonal
    # enters as (N/m) Σ p² G_ii z_i² = 2 · 4/36.
    assert float(kise(phi, DenseKernelBlock(t(G3), population=6))) == pytest.approx(
        2 / 3 - 8 / 36, rel=1e-12)


def test_laplacian_loss_by_hand():
    lap = LaplacianLoss(c_std=0.0, c_cov=0.0)
    nodes = t([[0.0], [1.0]])
    assert float(lap(t([[0.0], [1.0]]), t([[1.0], [1.0]]), nodes)) == pytest.approx(0.25)
    assert float(lap(t([[0.0], [1.0]]), t([[1.0], [1.0]]), nodes, t([3.0, 1.0]))) == \
        pytest.approx(0.5 * 0.75)


# --- reconstruction -----------------------------------------------------------------------------


@torch.no_grad()
def test_reconstruction_loss_by_hand():
    loss = ReconstructionLoss(1, 2).double()
    with torch.no_grad():
        loss.decoder.weight.copy_(t([[1.0], [2.0]]))
        loss.decoder.bias.copy_(t([0.0, -1.0]))
    psi = t([[1.0], [0.0]])
    x = t([[1.0, 1.0], [0.0, 0.0]])
    # predictions (1, 1) and (0, −1): squared residuals (0, 0) and (0, 1)
    assert float(loss(psi, x)) == pytest.approx(0.25)
    assert float(loss(psi, x, weights=t([1.0, 3.0]))) == pytest.approx(0.75 * 1 / 2)
    loss.masked_only = True
    assert float(loss(psi, x, mask=t([[1.0, 0.0], [0.0, 1.0]]))) == pytest.approx(1 / 2)
    assert float(loss(psi, x, mask=t([[1.0, 0.0], [0.0, 1.0]]), weights=t([1.0, 3.0]))) == \
        pytest.approx(0.75 * 1 / (0.25 + 0.75))


# --- nested -------------------------------------------------------------------------------------


def test_nested_loss_by_hand():
    # centred outputs, G = 3·I on m = 3 rows: A = C = ZᵀZ/3 = diag(2/3, 2);
    # prefix 1: −2·2/3 + (2/3)² = −8/9; prefix 2: −2(2/3 + 2) + (2/3)² + 2² = −8/9.
    z = t([[-1.0, 1.0], [0.0, -2.0], [1.0, 1.0]])
    got = NestedLowRankLoss()(z, DenseKernelBlock(3.0 * torch.eye(3, dtype=torch.float64)))
    assert float(got) == pytest.approx(-8 / 9, rel=1e-12)


def test_nested_minimiser_is_the_scaled_ordered_eigenbasis():
    from _encoders_testlib import exact_eigenfunctions

    X, P = smooth_grid_problem(n=80)
    s2, mu = exact_eigenfunctions(P)
    G = torch.as_tensor(80 * (P / P.sum(0)) @ P.T)
    opt = torch.as_tensor(mu[:, :3] * np.sqrt(s2[:3]))
    best = float(NestedLowRankLoss()(opt, DenseKernelBlock(G)))
    rng = np.random.default_rng(7)
    for _ in range(5):
        R, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        assert float(NestedLowRankLoss()(opt @ torch.as_tensor(R), DenseKernelBlock(G))) > \
            best + 1e-6


# --- batch estimates: exact expectation over every batch ----------------------------------------


def _tiny_weighted_kernel(N=7, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.random((N, N)) ** 3
    P /= P.sum(1, keepdims=True)
    pi = rng.random(N) + 0.2
    pi /= pi.sum()
    op = ContextOperator(sp.csr_matrix(P), sample_weight=pi)
    G = op.kernel(np.arange(N), np.arange(N))
    Z = rng.normal(size=(N, 2))
    return op, G, pi, Z


@pytest.mark.parametrize("m", [2, 3, 5])
def test_batch_estimates_are_unbiased_for_non_uniform_weights(m):
    op, G, pi, Z = _tiny_weighted_kernel()
    N = len(pi)
    exact_form = Z.T @ (np.outer(pi, pi) * G) @ Z
    C = Z.T @ (pi[:, None] * Z)
    exact_norm = float(pi @ (Z ** 2).sum(1))
    batches = list(itertools.combinations(range(N), m))
    forms, op_forms, squares, norms, vstat = [], [], [], [], []
    for rows in map(np.array, batches):
        p = torch.as_tensor(pi[rows])
        blk = DenseKernelBlock(torch.as_tensor(G[np.ix_(rows, rows)]), pi=p, population=N)
        forms.append(blk.form(torch.as_tensor(Z[rows])).numpy())
        op_forms.append(OperatorKernel(op, rows, population=N).form_numpy(Z[rows]))
        squares.append(unbiased_square(torch.as_tensor(Z[rows]), p, blk.pair_factor,
                                       blk.diag_factor).numpy())
        norms.append(float(blk.linear_weights @ (torch.as_tensor(Z[rows]) ** 2).sum(1)))
        w = pi[rows] / pi[rows].sum()                           # the plain V-statistic
        vstat.append(Z[rows].T @ (np.outer(w, w) * G[np.ix_(rows, rows)]) @ Z[rows])
    np.testing.assert_allclose(np.mean(forms, 0), exact_form, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.mean(op_forms, 0), exact_form, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.mean(squares, 0), C * C, rtol=1e-10, atol=1e-12)
    assert np.mean(norms) == pytest.approx(exact_norm, rel=1e-12)
    # the V-statistic over-weights the diagonal: it is biased at m < N
    assert np.abs(np.mean(vstat, 0) - exact_form).max() > 0.05 * np.abs(exact_form).max()


def test_whole_sample_forms_are_exact():
    op, G, pi, Z = _tiny_weighted_kernel()
    exact = Z.T @ (np.outer(pi, pi) * G) @ Z
    np.testing.assert_allclose(OperatorKernel(op).form_numpy(Z), exact, rtol=1e-12)
    blk = DenseKernelBlock(torch.as_tensor(G), pi=torch.as_tensor(pi))
    np.testing.assert_allclose(blk.form(torch.as_tensor(Z)).numpy(), exact, rtol=1e-12)


def test_operator_kernel_gradients_match_the_dense_block():
    X, P = smooth_grid_problem(n=60)
    op = ContextOperator(sp.csr_matrix(P))
    G = torch.as_tensor(op.kernel(np.arange(60), np.arange(60)), dtype=torch.float32)
    phi = torch.randn(60, 3, generator=torch.Generator().manual_seed(4))
    kise = KISELoss(c_std=0.0, c_cov=0.0)
    rows = np.arange(0, 60, 2)
    p1 = phi[rows].clone().requires_grad_(True)
    p2 = phi[rows].clone().requires_grad_(True)
    a = kise(p1, DenseKernelBlock(G[np.ix_(rows, rows)], population=60))
    b = kise(p2, OperatorKernel(op, rows, population=60))
    assert float(a.detach()) == pytest.approx(float(b.detach()), rel=1e-4)
    a.backward()
    b.backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-3, atol=1e-6)


# --- the edge samplers --------------------------------------------------------------------------


class _Dense:
    value_space = "input"
    access = "kernel"

    def __init__(self, P, pi):
        self.P, self.pi = P, pi

    def operator(self, memory_budget=None):
        return ContextOperator(self.P, sample_weight=self.pi)

    def spec(self):
        return "dense_test"

    def sample_indices(self, indices, random_state=None):    # not used: P is dense
        raise AssertionError


class _MatrixFree(MatrixFreeTransition):
    block_rows = 4

    def __init__(self, P):
        super().__init__(P.shape)
        self.dense = P

    def row_block(self, i0, i1):
        return self.dense[i0:i1]


@pytest.mark.parametrize("kind", ["dense", "dense_over_budget", "sparse", "matrix_free"])
def test_two_hop_draws_have_the_dual_kernel_as_law(kind):
    # u ~ π, a ~ P(·|u), v ~ π_v P(a|v) / c_a: P(u, v) = π_u π_v k_X⁺(u, v).
    rng = np.random.default_rng(0)
    n = 6
    P = rng.random((n, n)) ** 3
    P[P < 0.05] = 0.0
    P /= P.sum(1, keepdims=True)
    pi = rng.random(n) + 0.1
    pi /= pi.sum()
    PP = {"dense": P, "dense_over_budget": P, "sparse": sp.csr_matrix(P),
          "matrix_free": _MatrixFree(P)}[kind]
    # over budget: no n × n tables, the columns of P are read per draw
    budget = 100 if kind == "dense_over_budget" else None
    sampler = ContextSampler(_Dense(PP, pi), np.zeros((n, 1)), memory_budget=budget)
    sampler.operator()
    draws = 200_000
    u = rng.choice(n, size=draws, p=pi)
    if kind == "dense":
        a = sampler.value_indices(u, rng)
    else:
        cdf = np.cumsum(P, axis=1)
        a = np.minimum((cdf[u] < rng.random(draws)[:, None]).sum(1), n - 1)
    v = sampler.reverse_value_indices(a, rng)
    joint = np.zeros((n, n))
    np.add.at(joint, (u, v), 1.0 / draws)
    op = ContextOperator(P, sample_weight=pi)
    expected = np.outer(pi, pi) * op.kernel(np.arange(n), np.arange(n))
    np.testing.assert_allclose(joint, expected, atol=4e-3)
    assert sampler.is_reversible() is False
    W = P * pi[:, None]
    sym = (W + W.T) / 2
    rev = ContextSampler(_Dense(sym / sym.sum(1, keepdims=True), sym.sum(1)), np.zeros((n, 1)))
    assert rev.is_reversible() is True
