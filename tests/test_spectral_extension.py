"""The out-of-sample extension: resolved components only, continuous, scikit-learn conformant."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from contextures.spectral import Contexture
from contextures.spectral.extension import check_resolution, reproduces_fit


@parametrize_with_checks([
    Contexture("knn(k=5)", n_components=4, random_state=0),
    Contexture("rbf(gamma=median)", n_components=4, random_state=0),
    Contexture("knn_mask(k=5,p=0.3,masks=4)", n_components=3, random_state=0),
])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_weak_rbf_extension_no_longer_blows_up(abalone):
    # the raw Nyström extension of this context has test-row variances up to ~1e5; the stable one
    # returns the resolved components only, each with variance near 1 on the test rows
    raw = Contexture("rbf(gamma=0.061474)", n_components=64, random_state=0,
                     extension="raw").fit(abalone.X_pre)
    assert raw.transform(abalone.X_test).var(axis=0).max() > 50
    model = Contexture("rbf(gamma=0.061474)", n_components=64, random_state=0).fit(abalone.X_pre)
    assert 16 <= model.n_components_resolved_ < 64
    v = model.transform(abalone.X_test).var(axis=0)
    assert v.size == model.n_components_resolved_
    assert 0.25 <= v.min() and v.max() <= 4
    # τ and the spectrum keep every component
    np.testing.assert_allclose(model.singular_values_, raw.singular_values_)
    assert any("resolved" in note for note in model.solver_notes_)


@pytest.mark.parametrize("spec", ["knn(k=10)", "rbf(gamma=median)"])
def test_transform_is_a_function_of_each_row(abalone, spec):
    X = abalone.X_pre[:600]
    model = Contexture(spec, n_components=12, random_state=0).fit(X)
    full = model.transform(X)
    # fit_transform (in-sample) and transform of the same rows agree: a training row given as a
    # new point is that row
    np.testing.assert_allclose(model.fit_transform(X), full, atol=1e-8)
    # subsets and reorderings give the same rows
    np.testing.assert_allclose(model.transform(X[:20]), full[:20], atol=1e-10)
    order = np.random.default_rng(0).permutation(600)
    np.testing.assert_allclose(model.transform(X[order]), full[order], atol=1e-10)
    # moving one entry by 1e-12 moves no other row, and that one by little
    moved = X.copy()
    moved[3, 0] += 1e-12
    out = model.transform(moved)
    np.testing.assert_array_equal(np.delete(out, 3, axis=0), np.delete(full, 3, axis=0))
    assert np.abs(out[3] - full[3]).max() < 0.2


def test_same_data_same_columns(abalone):
    X = abalone.X_pre[:500]
    a = Contexture("knn(k=15)", n_components=16).fit(X)
    b = Contexture("knn(k=15)", n_components=16).fit(X)
    np.testing.assert_array_equal(a.components_resolved_, b.components_resolved_)
    assert list(a.get_feature_names_out()) == [f"mu{i + 1}" for i in a.components_resolved_]


def test_check_resolution_on_a_constructed_case():
    # two columns: one a smooth function of x that the refit reproduces on held-out rows, one
    # noise that no refit predicts
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 1))
    smooth = np.sin(3 * X[:, 0])
    noise = rng.normal(size=400)
    mu = np.column_stack([smooth, noise])
    mu = (mu - mu.mean(0)) / mu.std(0)

    def refit(rows):
        basis = np.column_stack([np.sin(3 * X[rows, 0]), np.cos(3 * X[rows, 0])])
        return basis, lambda Z: np.column_stack([np.sin(3 * Z[:, 0]), np.cos(3 * Z[:, 0])])

    check = check_resolution(refit, X, mu, folds=5)
    assert check.resolved.tolist() == [True, False]
    assert check.heldout_r2[0] > 0.99 and check.heldout_r2[1] < 0.1


def test_reproduces_fit_is_the_residual_over_s_squared():
    ok = reproduces_fit(np.array([1e-12, 1e-6, 1e-6, 0.0]), np.array([0.9, 0.1, 1e-3, 0.0]))
    assert ok.tolist() == [True, True, False, False]


def test_bad_extension_parameters():
    from contextures.exceptions import ParameterError
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ParameterError, match="extension"):
        Contexture("knn(k=5)", n_components=3, extension="wild").fit(X)
    with pytest.raises(ParameterError, match="folds"):
        Contexture("knn(k=5)", n_components=3, folds=1).fit(X)
