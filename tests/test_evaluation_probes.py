"""The one-pass ridge probe curve against a naive per-d scikit-learn loop and closed forms."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from contextures.evaluation import knn_probe, ridge_probe_curve
from contextures.exceptions import ParameterError

ALPHAS = (1e-2, 0.3, 5.0, 80.0)


def naive_curve(Ftr, ytr, Fva, yva, Fte, yte, alphas, classes=None, refit_F=None, refit_y=None):
    """Per-d, per-α sklearn Ridge: α chosen on validation, error on test."""
    onehot = (lambda y: (y[:, None] == classes[None, :]).astype(float)) if classes is not None \
        else (lambda y: y)
    D = Ftr.shape[1]
    errs, vals, chosen, accs = [], [], [], []
    for d in range(1, D + 1):
        scores = []
        for a in alphas:
            m = Ridge(alpha=a, solver="svd").fit(Ftr[:, :d], onehot(ytr))
            scores.append(mean_squared_error(onehot(yva), m.predict(Fva[:, :d])))
        best = int(np.argmin(scores))
        if refit_F is not None:
            m = Ridge(alpha=alphas[best], solver="svd").fit(refit_F[:, :d], onehot(refit_y))
        else:
            m = Ridge(alpha=alphas[best], solver="svd").fit(Ftr[:, :d], onehot(ytr))
        pred = m.predict(Fte[:, :d])
        errs.append(mean_squared_error(onehot(yte), pred))
        vals.append(scores[best])
        chosen.append(alphas[best])
        if classes is not None:
            accs.append(np.mean(classes[pred.argmax(1)] == yte))
    return np.array(errs), np.array(vals), np.array(chosen), np.array(accs)


def correlated_features(rng, n, D):
    A = rng.normal(size=(D, D)) / np.sqrt(D) + np.eye(D)
    return rng.normal(size=(n, D)) @ A + rng.normal(size=D)


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(0)
    D = 12
    F = correlated_features(rng, 420, D)
    w = rng.normal(size=D) * np.exp(-0.3 * np.arange(D))
    y = F @ w + 0.5 * rng.normal(size=420) + 3.0
    return F[:240], y[:240], F[240:330], y[330 - 90:330], F[330:], y[330:]


def test_regression_matches_naive_loop(regression_data):
    Ftr, ytr, Fva, yva, Fte, yte = regression_data
    r = ridge_probe_curve(Ftr, ytr, Fva, yva, Fte, yte, task="regression", alphas=ALPHAS)
    errs, vals, chosen, _ = naive_curve(Ftr, ytr, Fva, yva, Fte, yte, ALPHAS)
    np.testing.assert_allclose(r.errors, errs, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.val_errors, vals, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(r.alphas, chosen)
    np.testing.assert_array_equal(r.dims, np.arange(1, 13))
    assert r.d_star == int(np.argmin(errs)) + 1 and r.error == pytest.approx(errs.min(), rel=1e-8)
    assert r.d_val == int(np.argmin(vals)) + 1
    assert r.accuracy is None


def test_multi_output_regression_matches_naive_loop(regression_data):
    Ftr, ytr, Fva, yva, Fte, yte = regression_data
    two = lambda y, F: np.column_stack([y, F[:, 0] - y])  # noqa: E731
    r = ridge_probe_curve(Ftr, two(ytr, Ftr), Fva, two(yva, Fva), Fte, two(yte, Fte),
                          alphas=ALPHAS)
    errs, *_ = naive_curve(Ftr, two(ytr, Ftr), Fva, two(yva, Fva), Fte, two(yte, Fte), ALPHAS)
    np.testing.assert_allclose(r.errors, errs, rtol=1e-8, atol=1e-10)


def test_classification_one_hot_mse_and_accuracy_match_naive_loop():
    rng = np.random.default_rng(1)
    D = 10
    F = correlated_features(rng, 500, D)
    logits = F[:, :3] @ rng.normal(size=(3, 4))
    y = np.array(["a", "b", "c", "d"])[logits.argmax(1)]
    sl = slice(0, 250), slice(250, 350), slice(350, 500)
    args = [F[sl[0]], y[sl[0]], F[sl[1]], y[sl[1]], F[sl[2]], y[sl[2]]]
    r = ridge_probe_curve(*args, task="classification", alphas=ALPHAS)
    errs, vals, chosen, accs = naive_curve(*args, ALPHAS, classes=np.unique(y[sl[0]]))
    np.testing.assert_allclose(r.errors, errs, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.val_errors, vals, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(r.accuracy, accs)
    assert r.accuracy_at_d_star == accs[r.d_star - 1]


def test_internal_validation_split_then_refit(regression_data):
    Ftr, ytr, _, _, Fte, yte = regression_data
    r = ridge_probe_curve(Ftr, ytr, None, None, Fte, yte, alphas=ALPHAS, val_fraction=0.25,
                          random_state=7)
    Ffit, Fva, yfit, yva = train_test_split(Ftr, ytr, test_size=0.25, random_state=7)
    errs, vals, chosen, _ = naive_curve(Ffit, yfit, Fva, yva, Fte, yte, ALPHAS,
                                        refit_F=Ftr, refit_y=ytr)
    np.testing.assert_allclose(r.errors, errs, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.val_errors, vals, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(r.alphas, chosen)


def test_more_columns_than_rows_and_d_max():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(60, 40))
    y = F[:, :5].sum(1) + rng.normal(size=60)
    args = (F[:30], y[:30], F[30:45], y[30:45], F[45:], y[45:])
    r = ridge_probe_curve(*args, alphas=ALPHAS)
    errs, *_ = naive_curve(*args, ALPHAS)
    np.testing.assert_allclose(r.errors, errs, rtol=1e-8, atol=1e-10)
    short = ridge_probe_curve(*args, alphas=ALPHAS, d_max=7)
    np.testing.assert_allclose(short.errors, errs[:7], rtol=1e-8, atol=1e-10)


def orthonormal_eigenfunctions(n, d, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(np.column_stack([np.ones(n), rng.normal(size=(n, d))]))
    return Q[:, 1:] * np.sqrt(n)  # zero mean, μᵀμ/n = I


def test_closed_form_on_orthonormal_eigenfunctions():
    # features = eigenfunctions carrying the target: y = b + Σ c_i μ_i. On the same rows, ridge
    # with one α shrinks each captured coefficient by n/(n + α), so
    # err_d = (α/(n + α))² Σ_{i≤d} c_i² + Σ_{i>d} c_i².
    n, D, alpha = 400, 8, 25.0
    mu = orthonormal_eigenfunctions(n, D)
    c = np.array([2.0, -1.5, 1.0, 0.0, 0.5, 0.25, 0.0, 0.1])
    y = 4.0 + mu @ c
    r = ridge_probe_curve(mu, y, mu, y, mu, y, alphas=[alpha])
    shrink = (alpha / (n + alpha)) ** 2
    expected = np.array([shrink * (c[:d] ** 2).sum() + (c[d:] ** 2).sum()
                         for d in range(1, D + 1)])
    np.testing.assert_allclose(r.errors, expected, rtol=1e-10)
    assert r.d_star == D


def test_label_features_give_exact_class_means():
    # features = the C − 1 eigenfunctions of a label context (the centred class indicators):
    # with the intercept they span the one-hot targets, so err_{C−1} = 0 and accuracy is 1.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=300)
    Y = np.eye(3)[y]
    U, sv, _ = np.linalg.svd(Y - Y.mean(0), full_matrices=False)
    mu = U[:, sv > 1e-10] * np.sqrt(300)
    r = ridge_probe_curve(mu, y, mu, y, mu, y, task="classification", alphas=[1e-9])
    assert r.errors[-1] == pytest.approx(0.0, abs=1e-12)
    assert r.accuracy[-1] == 1.0 and r.d_star == 2


def test_knn_probe_matches_sklearn(regression_data):
    Ftr, ytr, _, _, Fte, yte = regression_data
    r = knn_probe(Ftr, ytr, Fte, yte, n_neighbors=7, d=5)
    pred = KNeighborsRegressor(n_neighbors=7).fit(Ftr[:, :5], ytr).predict(Fte[:, :5])
    assert r.error == pytest.approx(np.mean((pred - yte) ** 2), rel=1e-12)
    rng = np.random.default_rng(4)
    F = rng.normal(size=(200, 3))
    y = np.where(F[:, 0] > 0, "pos", "neg")
    c = knn_probe(F[:150], y[:150], F[150:], y[150:], task="classification", n_neighbors=5)
    model = KNeighborsClassifier(n_neighbors=5).fit(F[:150], y[:150])
    assert c.accuracy == pytest.approx(np.mean(model.predict(F[150:]) == y[150:]))
    assert c.accuracy > 0.85 and 0 <= c.error < 0.15


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y_train": None}, "needs a target"),
        ({"y_test": None}, "needs a target"),
        ({"F_test": None}, "needs test rows"),
        ({"task": "ranking"}, "task must be"),
        ({"alphas": [1.0, 0.0]}, "alpha must be > 0"),
        ({"alphas": [-1.0]}, "alpha must be > 0"),
        ({"y_train": np.zeros(5)}, "rows"),
        ({"d_max": 99}, "d_max"),
    ],
)
def test_bad_input(regression_data, change, message):
    Ftr, ytr, Fva, yva, Fte, yte = regression_data
    kwargs = dict(F_train=Ftr, y_train=ytr, F_val=Fva, y_val=yva, F_test=Fte, y_test=yte)
    kwargs.update(change)
    with pytest.raises(ParameterError, match=message):
        ridge_probe_curve(**kwargs)


def test_nan_features_and_targets_are_refused(regression_data):
    Ftr, ytr, Fva, yva, Fte, yte = regression_data
    bad = Ftr.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        ridge_probe_curve(bad, ytr, Fva, yva, Fte, yte)
    ybad = ytr.copy()
    ybad[0] = np.inf
    with pytest.raises(ParameterError, match="NaN"):
        ridge_probe_curve(Ftr, ybad, Fva, yva, Fte, yte)
    with pytest.raises(ParameterError, match="two classes"):
        ridge_probe_curve(Ftr, np.zeros(240), Fva, np.zeros(90), Fte, np.zeros(90),
                          task="classification")
    with pytest.raises(ParameterError, match="needs a target"):
        knn_probe(Ftr, None, Fte, yte)


def test_cross_validated_choice_matches_a_hand_computed_one():
    # cv_folds: the validation error of (α, d) is the fold-size-weighted mean over K folds
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(5)
    F = rng.normal(size=(60, 4))
    y = F[:, 0] - 0.5 * F[:, 2] + 0.3 * rng.normal(size=60)
    Ft = rng.normal(size=(30, 4))
    yt = Ft[:, 0] - 0.5 * Ft[:, 2]
    alphas = (0.1, 10.0)
    curve = ridge_probe_curve(F, y, F_test=Ft, y_test=yt, alphas=alphas, cv_folds=3,
                              random_state=0)
    cv = np.zeros((len(alphas), 4))
    for fit, val in KFold(3, shuffle=True, random_state=0).split(F):
        for a, alpha in enumerate(alphas):
            for d in range(1, 5):
                model = Ridge(alpha=alpha).fit(F[fit, :d], y[fit])
                cv[a, d - 1] += ((model.predict(F[val, :d]) - y[val]) ** 2).sum() / 60
    np.testing.assert_allclose(curve.val_errors, cv.min(axis=0), rtol=1e-8)
    assert curve.d_val == int(np.argmin(cv.min(axis=0))) + 1
