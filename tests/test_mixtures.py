"""Mixing contexts (docs/theory.md §7): convolution, convex combination, concatenation, minimax weights."""

import numpy as np
import pytest
from sklearn.base import clone

from contextures.contexts import ContextOperator, make_context
from contextures.contexts.mixtures import ConvolutionContext, MixtureContext
from contextures.exceptions import ParameterError, SpecError
from contextures.spectral.mixing import component_losses, minimax_weights


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y


def spectrum(op: ContextOperator, d: int) -> np.ndarray:
    """s_1..s_d from the dense M (s_0 = 1 dropped)."""
    w = np.sort(np.linalg.eigvalsh(op.dense_gram()))[::-1]
    return np.sqrt(np.clip(w[1:d + 1], 0, None))


@pytest.mark.parametrize("first, second", [
    ("knn(k=8)", "rbf(gamma=0.5)"),
    ("rbf(gamma=2)", "knn(k=5)"),
    ("knn_mask(k=10,p=0.34,masks=3)", "knn(k=4)"),
    ("scarf(p=0.4,draws=3)", "knn(k=6)"),
])
def test_convolution_weakens_association(data, first, second):
    X, _ = data
    conv = make_context(f"conv({first},{second})").fit(X)
    s_conv = spectrum(conv.operator(), 20)
    a = conv.first_
    op_a = a.operator()
    s_first = spectrum(op_a, 20)
    assert np.all(s_conv <= s_first + 1e-10)
    # T₂ taken under the distribution of A₁: the values of A₁ weighted by c = P_Aᵀπ
    c = np.asarray(op_a.P.T @ op_a.pi).ravel()
    rows = conv.second_rows_
    keep = c > 0
    P2 = rows[keep] if not hasattr(rows, "tocsr") else rows.tocsr()[np.flatnonzero(keep)]
    op_b = ContextOperator(P2, sample_weight=c[keep])
    s_second = spectrum(op_b, 20)
    assert np.all(s_conv <= s_second + 1e-10)


def test_convolution_is_the_product_of_transition_matrices(data):
    X, _ = data
    conv = make_context("conv(knn(k=5),rbf(gamma=1))").fit(X)
    Pa = make_context("knn(k=5)").fit(X).operator().P.toarray()
    Pb = make_context("rbf(gamma=1)").fit(X).operator().P
    P = Pa @ Pb
    M_ref = P @ np.diag(1 / P.sum(0)) @ P.T
    np.testing.assert_allclose(conv.operator().dense_gram(), M_ref, atol=1e-12)
    # new points: the chain of the two transitions
    Xn = X[:4] + 0.01
    expected = make_context("knn(k=5)").fit(X).transition(Xn) @ Pb
    np.testing.assert_allclose(np.asarray(conv.transition(Xn)), expected, atol=1e-12)


def test_convolution_with_labels_gives_labels_of_neighbours(data):
    X, y = data
    conv = make_context("conv(knn(k=5),label)").fit(X, y)
    nbrs = conv.first_.neighbors_
    expected = np.stack([np.bincount(y[row], minlength=3) / 5 for row in nbrs])
    P = conv.operator().P
    np.testing.assert_allclose(P.toarray() if hasattr(P, "toarray") else P, expected)
    draws = conv.sample(np.arange(20), random_state=0)
    assert draws.shape == (20, 3) and np.all(draws.sum(1) == 1)


def test_convex_combination_operator_is_the_weighted_sum(data):
    X, y = data
    mix = make_context("mix(0.7*knn(k=10),0.3*rbf(gamma=0.5))").fit(X)
    M_ref = (0.7 * make_context("knn(k=10)").fit(X).operator().dense_gram()
             + 0.3 * make_context("rbf(gamma=0.5)").fit(X).operator().dense_gram())
    np.testing.assert_allclose(mix.operator().dense_gram(), M_ref, atol=1e-13)
    # with a linear-kernel (label) component too
    mix2 = make_context("mix(0.5*knn(k=10),0.5*label)").fit(X, y)
    M2 = (0.5 * make_context("knn(k=10)").fit(X).operator().dense_gram()
          + 0.5 * make_context("label").fit(X, y).operator().dense_gram())
    np.testing.assert_allclose(mix2.operator().dense_gram(), M2, atol=1e-12)


def test_equal_weights_by_default_and_sampling(data):
    X, _ = data
    mix = make_context("mix(knn(k=5),rbf(gamma=1))").fit(X)
    np.testing.assert_allclose(mix.weights_, [0.5, 0.5])
    which = mix.sample_components(np.zeros(4000, dtype=int), random_state=1)
    assert abs(which.mean() - 0.5) < 0.03
    assert mix.sample(np.arange(7), random_state=0).shape == (7, 3)


@pytest.mark.parametrize("spec", [
    "conv(scarf(p=0.3),label)",
    "mix(0.7*knn(k=5),0.3*label)",
    "mix(knn(k=5),rbf(gamma=0.5),weights=minimax,eta=0.1,rounds=5)",
    "concat(knn(k=30),scarf(p=0.3))",
    "conv(mix(0.5*knn(k=3),0.5*rbf(gamma=2)),label)",
])
def test_mixtures_round_trip_through_the_parser(spec):
    ctx = make_context(spec)
    assert ctx.spec() == spec
    assert make_context(ctx.spec()).spec() == spec
    assert clone(ctx).spec() == spec


@pytest.mark.parametrize("spec, error, fragment", [
    ("mix(0.7*knn,0.4*rbf)", ParameterError, "sum to 1"),
    ("mix(-0.2*knn,1.2*rbf)", ParameterError, "non-negative"),
    ("mix(0.5*knn,rbf)", SpecError, "every component"),
    ("mix(knn)", SpecError, "at least two"),
    ("conv(knn)", SpecError, "exactly two"),
    ("conv(label,knn)", SpecError, "classes"),
    ("conv(knn(k=3),nothing)", SpecError, "unknown context"),
    ("mix(0.5*knn(k=3),0.5*rbf(gamma=1)", SpecError, "expected ')'"),
    ("concat(knn)", SpecError, "two or more"),
    ("mix(knn,rbf,weights=sometimes)", ParameterError, "weights must be"),
])
def test_bad_mixtures_get_clear_errors(data, spec, error, fragment):
    X, y = data
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        make_context(spec).fit(X, y)


def test_concatenation_has_no_operator(data):
    X, _ = data
    ctx = make_context("concat(knn(k=5),rbf(gamma=1))").fit(X)
    with pytest.raises(ParameterError, match="representation level"):
        ctx.operator()


def test_minimax_needs_resolving_before_an_operator(data):
    X, _ = data
    mix = make_context("mix(knn(k=5),rbf(gamma=1),weights=minimax)").fit(X)
    with pytest.raises(ParameterError, match="minimax"):
        mix.operator()


def test_minimax_weights_move_toward_the_worse_fitted_context(data):
    X, _ = data
    mix = make_context("mix(knn(k=4),rbf(gamma=0.05),weights=minimax,eta=0.2,rounds=6)").fit(X)
    assert isinstance(mix, MixtureContext)
    w, history, result = minimax_weights(mix, 5, solver="dense")
    first = np.array(history[0]["losses"])
    worse = int(np.argmax(first))
    assert first[worse] > first[1 - worse]
    trajectory = [h["weights"][worse] for h in history]
    assert trajectory[0] == pytest.approx(0.5)
    assert w[worse] > 0.5
    assert all(b >= a - 1e-12 for a, b in zip(trajectory, trajectory[1:], strict=False))
    np.testing.assert_allclose(mix.weights_, w)
    assert len(mix.weights_history_) == len(history)
    # the losses are d − ‖Q_iᵀU‖² at the final encoder
    np.testing.assert_allclose(component_losses(mix.component_operators_, result.left_vectors),
                               history[-1]["losses"])


def test_convolution_class_is_registered():
    assert isinstance(make_context("conv(knn,rbf)"), ConvolutionContext)


def test_contexture_resolves_minimax_weights(data):
    from contextures.spectral import Contexture

    X, _ = data
    model = Contexture("mix(knn(k=4),rbf(gamma=0.05),weights=minimax,eta=0.2,rounds=4)",
                       n_components=5, solver="dense").fit(X)
    assert len(model.weights_history_) == 5
    assert model.context_.weights_.sum() == pytest.approx(1.0)
    w0, w1 = (float(w) for w in model.context_.weights_)
    fixed = Contexture(f"mix({w0!r}*knn(k=4),"
                       f"{w1!r}*rbf(gamma=0.05))",
                       n_components=5, solver="dense").fit(X)
    np.testing.assert_allclose(model.singular_values_, fixed.singular_values_, atol=1e-10)
    Z = model.transform(X[:10] + 0.01)
    assert Z.shape == (10, model.n_components_resolved_) and np.isfinite(Z).all()


def test_contexture_concatenates_component_eigenfunctions(data):
    from contextures.spectral import Contexture

    X, _ = data
    cat = Contexture("concat(knn(k=5),rbf(gamma=1))", n_components=4, solver="dense").fit(X)
    a = Contexture("knn(k=5)", n_components=4, solver="dense").fit(X)
    b = Contexture("rbf(gamma=1)", n_components=4, solver="dense").fit(X)
    np.testing.assert_allclose(np.abs(cat.eigenfunctions_),
                               np.abs(np.hstack([a.eigenfunctions_, b.eigenfunctions_])),
                               atol=1e-8)
    np.testing.assert_allclose(cat.singular_values_,
                               np.concatenate([a.singular_values_, b.singular_values_]))
    Xn = X[:7] + 0.02
    np.testing.assert_allclose(np.abs(cat.transform(Xn)),
                               np.abs(np.hstack([a.transform(Xn), b.transform(Xn)])), atol=1e-8)


@pytest.mark.parametrize("target", ["classes", "continuous"])
def test_mixture_extends_to_new_points_by_its_kernel(data, target):
    """mix(knn, conv(knn, label)): μ(x) = (1/s²) Σ_j π_j k(x, x_j) μ(x_j), k = Σ w_i k_i.

    With a continuous target the label context is a linear kernel (feature mode), so the
    mixture mixes a transition component with a feature component.
    """
    from contextures.spectral import Contexture

    X, y = data
    rng = np.random.default_rng(5)
    if target == "continuous":
        y = X[:, 0] + 0.1 * rng.standard_normal(X.shape[0])
    X_new = X[:40] + 0.05 * rng.standard_normal((40, X.shape[1]))
    weights = (0.3, 0.7)
    parts = ("knn(k=10)", "conv(knn(k=10),label)")
    spec = f"mix({weights[0]}*{parts[0]},{weights[1]}*{parts[1]})"
    est = Contexture(spec, n_components=4, solver="dense", random_state=0,
                     extension="raw").fit(X, y)
    K = np.zeros((X_new.shape[0], X.shape[0]))
    modes = []
    for w, part in zip(weights, parts, strict=True):
        ctx = make_context(part).fit(X, y)   # each component's kernel, built from it alone
        op = ctx.operator()
        G_train = op.dense_q() / np.sqrt(op.pi)[:, None]
        rows = ctx.transition(X_new)
        rows = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
        G_new = rows[:, op.kept_columns] / np.sqrt(op.col_mass)
        K += w * G_new @ G_train.T
        modes.append(op.features)
    assert modes[1] == (target == "continuous")
    expected = (K * op.pi) @ est.eigenfunctions_ / est.singular_values_ ** 2
    np.testing.assert_allclose(est.transform(X_new), expected, atol=1e-8)
