"""Monte-Carlo contexts (SCARF, noise, cutmix): exact densities, consistency, the reported error."""

import itertools

import numpy as np
import pytest

from contextures.contexts import make_context
from contextures.contexts.montecarlo import THRESHOLD
from contextures.exceptions import ParameterError


def scarf_q(X, A, p, new=None):
    """q(a_s | x) of the sampler: leave-one-out marginal for training rows, full for new ones."""
    n = len(X)
    Q = X if new is None else new
    out = np.ones((len(Q), len(A)))
    for f in range(X.shape[1]):
        vals, cnt = np.unique(X[:, f], return_counts=True)
        pos = np.minimum(np.searchsorted(vals, A[:, f]), vals.size - 1)
        c = np.where(vals[pos] == A[:, f], cnt[pos], 0)
        match = Q[:, f][:, None] == A[:, f][None, :]
        marg = (c[None, :] - match) / (n - 1) if new is None else c[None, :] / n
        out *= (1 - p) * match + p * marg
    return out


def cutmix_q(X, A, p, new=None):
    n = len(X)
    Q = X if new is None else new
    out = np.zeros((len(Q), len(A)))
    for i, x in enumerate(Q):
        for other, z in enumerate(X):
            if new is None and other == i:
                continue
            out[i] += np.prod((1 - p) * (A == x) + p * (A == z), axis=1)
    return out / ((n - 1) if new is None else n)


def reference_P(q, q_train):
    """Rows ∝ q / P̂_A with P̂_A the mean of the training densities, thresholded like the code."""
    W = q / q_train.mean(0)
    W[W < THRESHOLD * W.max(1, keepdims=True)] = 0
    return W / W.sum(1, keepdims=True)


def datasets():
    rng = np.random.default_rng(0)
    cont = rng.normal(size=(24, 4))
    disc = rng.integers(0, 3, size=(24, 4)).astype(float)
    mixed = np.column_stack([rng.normal(size=24), rng.integers(0, 2, 24), rng.normal(size=24),
                             rng.integers(0, 3, 24)]).astype(float)
    return {"continuous": cont, "discrete": disc, "mixed": mixed}


@pytest.mark.parametrize("name", ["continuous", "discrete", "mixed"])
@pytest.mark.parametrize("p", [0.3, 0.8, 1.0])
def test_scarf_and_cutmix_use_their_exact_densities(name, p):
    X = datasets()[name]
    new = np.vstack([X[:2], X[3] * 0 + X[5]])  # training rows and a duplicate, as new points
    for spec, qfun in ((f"scarf(p={p},draws=3)", scarf_q), (f"cutmix(p={p},draws=3)", cutmix_q)):
        ctx = make_context(spec).fit(X)
        q = qfun(X, ctx.A_, p)
        op = ctx.operator()
        np.testing.assert_allclose(op.P.toarray(), reference_P(q, q), atol=1e-12, err_msg=spec)
        T = ctx.transition(new).toarray()
        np.testing.assert_allclose(T, reference_P(qfun(X, ctx.A_, p, new=new), q), atol=1e-12,
                                   err_msg=spec)
        assert op.exact is False and op.error is not None and op.error >= 0


def exact_scarf_gram(X, p):
    """M = K / n with K_ij = Σ_a q(a|x_i) q(a|x_j) / P_A(a), enumerating every a."""
    values = [np.unique(X[:, f]) for f in range(X.shape[1])]
    A = np.array(list(itertools.product(*values)), dtype=float)
    q = scarf_q(X, A, p)
    pa = q.mean(0)
    return (q / pa) @ q.T / len(X)


def test_scarf_monte_carlo_converges_to_the_exact_operator():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 3, size=(40, 3)).astype(float)
    M = exact_scarf_gram(X, 0.4)
    errors, reported = [], []
    for r in (2, 8, 64):
        op = make_context(f"scarf(p=0.4,draws={r},random_state=2)").fit(X).operator()
        errors.append(np.linalg.norm(op.dense_gram() - M, 2))
        reported.append(op.error)
    assert errors[0] > errors[1] > errors[2]
    assert reported[0] > reported[1] > reported[2]
    assert errors[2] < 0.35 * errors[0]
    # the reported error has the right order of magnitude
    for e, r in zip(errors, reported, strict=True):
        assert 0.1 * e < r < 10 * e


def test_noise_monte_carlo_converges_in_one_dimension():
    rng = np.random.default_rng(3)
    X = np.sort(rng.normal(size=(25, 1)), axis=0)
    sigma = 0.4
    grid = np.linspace(X.min() - 6 * sigma, X.max() + 6 * sigma, 20001)
    q = np.exp(-((grid[None, :] - X) ** 2) / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)
    pa = q.mean(0)
    M = (q / pa) @ q.T * (grid[1] - grid[0]) / len(X)
    errors, reported = [], []
    for r in (2, 16, 128):
        op = make_context(f"noise(sigma={sigma},draws={r},random_state=4)").fit(X).operator()
        errors.append(np.linalg.norm(op.dense_gram() - M, 2))
        reported.append(op.error)
    assert errors[0] > errors[1] > errors[2]
    assert reported[0] > reported[2]
    assert errors[2] < 0.25 * errors[0]


def test_noise_transition_far_from_the_sample():
    X = np.random.default_rng(11).normal(size=(30, 2))
    ctx = make_context("noise(sigma=0.1,draws=2)").fit(X)
    T = ctx.transition(np.array([[40.0, 40.0]])).toarray()  # density tiny but positive
    assert np.isfinite(T).all() and T.sum() == pytest.approx(1.0)
    far = np.argmax(T[0])
    assert np.allclose(ctx.A_[far], ctx.A_[np.argmin(((ctx.A_ - 40.0) ** 2).sum(1))])


def test_scarf_samples_from_the_empirical_marginal():
    rng = np.random.default_rng(5)
    n = 200
    X = np.column_stack([rng.normal(size=n), np.where(rng.random(n) < 0.9, 0.0, 5.0),
                         rng.exponential(size=n)])
    ctx = make_context("scarf(p=0.5)").fit(X)
    rows = np.repeat(np.arange(n), 40)
    A = ctx.sample(rows, random_state=6)
    for f in range(3):
        assert set(A[:, f]) <= set(X[:, f])  # values of that feature in the data, never new ones
    changed = A != X[rows]
    assert changed[:, 0].mean() == pytest.approx(0.5 * (1 - 1 / n), abs=0.02)
    # feature 1 is 90 % zeros: a replacement is 0 about 90 % of the time (uniform on
    # [min, max] would almost never give exactly 0 or 5)
    replaced_from_five = (X[rows, 1] == 5.0)
    assert np.mean(A[replaced_from_five, 1] == 0.0) == pytest.approx(0.5 * 0.9, abs=0.05)
    assert set(np.unique(ctx.A_[:, 1])) <= {0.0, 5.0}


def test_cutmix_takes_features_from_one_partner():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 6))
    ctx = make_context("cutmix(p=0.5)").fit(X)
    rows = np.repeat(np.arange(30), 20)
    A = ctx.sample(rows, random_state=8)
    for a, i in zip(A, rows, strict=True):
        own = a == X[i]
        if own.all():
            continue
        partner = [j for j in range(30) if j != i and np.all(own | (a == X[j]))]
        assert len(partner) >= 1  # one other row supplies every replaced feature


def test_cutmix_refuses_an_intractable_exact_density():
    X = np.random.default_rng(9).integers(0, 2, size=(300, 8)).astype(float)
    ctx = make_context("cutmix(p=0.3,draws=4)").fit(X)
    ctx.max_candidates = 1e4
    with pytest.raises(ParameterError, match="encoder"):
        ctx.operator()
    assert ctx.sample(np.arange(3), random_state=0).shape == (3, 8)  # sampling still works


def test_monte_carlo_parameter_errors():
    X = np.random.default_rng(10).normal(size=(20, 3))
    for bad in ("scarf(p=1.2)", "scarf(p=-0.5)", "cutmix(p=2)", "noise(sigma=0)",
                "noise(sigma=-1)", "scarf(draws=1)", "noise(draws=0)", "scarf(random_state=x)"):
        with pytest.raises(ParameterError):
            make_context(bad).fit(X)
    ctx = make_context("scarf(p=0)").fit(X)
    assert np.allclose(ctx.operator().dense_gram(), np.eye(20))  # nothing replaced: identity
    with pytest.raises(ParameterError, match="density 0"):
        ctx.transition(X + 1.0)
