"""STKR: the estimator against dense references, its input rules, cross-validation, scikit-learn."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils.estimator_checks import parametrize_with_checks

from contextures.contexts import make_context
from contextures.exceptions import MemoryBudgetError, ParameterError, SpecError
from contextures.semisupervised import STKR, parse_transform
from contextures.semisupervised._krylov import block_cg
from contextures.semisupervised.ambient import WEIGHT_GRID
from contextures.semisupervised.stkr import DEFAULT_CHOICE, RIDGE_GRID

pytestmark = pytest.mark.usefixtures("one_thread")


@parametrize_with_checks([
    STKR("knn(k=5)", task="classification", unlabelled=None),
    STKR("knn(k=5)", transformation="inverse_laplacian(eta=0.9)", alpha=0.01,
         task="classification", unlabelled=None, solver="propagation"),
    STKR("knn(k=5)", transformation="poly(p=2)", task="regression"),
    STKR("rbf(gamma=median)", transformation="topd(d=4)"),
    STKR("knn(k=5)"),
])
def test_scikit_learn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# --- the dense reference ----------------------------------------------------------------------
def _problem(n=120, labelled=30, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=n)
    lab = np.sort(rng.choice(n, labelled, replace=False))
    y_partial = np.full(n, np.nan)
    y_partial[lab] = y[lab]
    return X, y, y_partial, lab, rng.normal(size=(15, 3))


def _reference(X, y, lab, X_new, s, beta, k=6):
    """STKR by its definition: K_s = N U s(Λ) Uᵀ on the rows, k_s(x, X) through k(x, X)."""
    ctx = make_context(f"knn(k={k})").fit(X)
    op = ctx.operator()
    N = X.shape[0]
    lam, U = np.linalg.eigh(op.dense_gram())
    lam = np.clip(lam, 0, None)
    Ks = N * (U * s(lam)) @ U.T
    ybar = y[lab].mean()
    alpha = np.linalg.solve(Ks[np.ix_(lab, lab)] + lab.size * beta * np.eye(lab.size),
                            y[lab] - ybar)
    fitted = Ks[:, lab] @ alpha + ybar
    P = sp.csr_matrix(op.P).toarray()
    c = P.mean(axis=0)
    inv_c = np.where(c > 0, 1 / np.where(c > 0, c, 1), 0)
    k_new = (ctx.transition(X_new).toarray() * inv_c) @ P.T       # k(x, x_j)
    h = np.where(lam > 0, s(lam) / np.where(lam > 0, lam, 1), 0)  # s(λ)/λ on the range of M
    a = np.zeros(N)
    a[lab] = alpha
    return fitted, k_new @ ((U * h) @ (U.T @ a)) + ybar


@pytest.mark.parametrize("solver", ["propagation", "dense"])
@pytest.mark.parametrize("spec,s", [
    ("inverse_laplacian(eta=0.9)", lambda lam: lam / (1 - 0.9 * lam)),
    ("poly(p=3)", lambda lam: lam ** 3),
    ("identity", lambda lam: lam),
])
def test_matches_the_definition(solver, spec, s):
    X, y, y_partial, lab, X_new = _problem()
    model = STKR("knn(k=6)", transformation=spec, alpha=0.05, tol=1e-10,
                 solver=solver, ambient="none").fit(X, y_partial)
    fitted, new = _reference(X, y, lab, X_new, s, 0.05)
    np.testing.assert_allclose(model.transduction_, fitted, atol=1e-7)
    np.testing.assert_allclose(model.predict(X_new), new, atol=1e-7)
    # the inductive form reproduces the fitted rows
    np.testing.assert_allclose(model.predict(X), fitted, atol=1e-7)
    assert model.transformation_ == spec and model.alpha_ == 0.05
    assert model.solver_info_["solver"] == solver


@pytest.mark.parametrize("solver", ["propagation", "dense"])
@pytest.mark.parametrize("ambient", ["linear", "rbf"])
@pytest.mark.parametrize("spec,s", [
    ("inverse_laplacian(eta=0.9)", lambda lam: lam / (1 - 0.9 * lam)),
    ("poly(p=2)", lambda lam: lam ** 2),
])
def test_ambient_kernel_is_added_to_the_transformed_kernel(solver, ambient, spec, s):
    # k_total = k_s + c k_a, c = ρ · mean k(x_j, x_j) / mean k_a(x_j, x_j) on the labelled rows
    from sklearn.metrics.pairwise import rbf_kernel

    from contextures.contexts.distances import median_gamma

    X, y, y_partial, lab, X_new = _problem()
    rho, beta = 3.0, 0.05
    model = STKR("knn(k=6)", transformation=spec, alpha=beta, tol=1e-10, solver=solver,
                 ambient=ambient, ambient_weight=rho).fit(X, y_partial)
    assert model.ambient_weight_ == rho
    ctx = make_context("knn(k=6)").fit(X)
    op = ctx.operator()
    N = X.shape[0]
    lam, U = np.linalg.eigh(op.dense_gram())
    lam = np.clip(lam, 0, None)
    Ks = N * (U * s(lam)) @ U.T
    diag_k = N * np.diag(op.dense_gram())[lab].mean()
    if ambient == "linear":
        Z, Zn = X - X.mean(axis=0), X_new - X.mean(axis=0)
        Ka, Ka_new = Z @ Z[lab].T / 3, Zn @ Z[lab].T / 3
    else:
        g = median_gamma(X)
        Ka, Ka_new = rbf_kernel(X, X[lab], gamma=g), rbf_kernel(X_new, X[lab], gamma=g)
    c = rho * diag_k / np.diag(Ka[lab]).mean()
    ybar = y[lab].mean()
    alpha = np.linalg.solve(Ks[np.ix_(lab, lab)] + c * Ka[lab] + lab.size * beta * np.eye(
        lab.size), y[lab] - ybar)
    np.testing.assert_allclose(model.transduction_, (Ks[:, lab] + c * Ka) @ alpha + ybar,
                               atol=1e-7)
    # new rows: the context part through the transition rows, the ambient part directly
    P = sp.csr_matrix(op.P).toarray()
    cm = P.mean(axis=0)
    inv_c = np.where(cm > 0, 1 / np.where(cm > 0, cm, 1), 0)
    k_new = (ctx.transition(X_new).toarray() * inv_c) @ P.T
    h = np.where(lam > 0, s(lam) / np.where(lam > 0, lam, 1), 0)
    a = np.zeros(N)
    a[lab] = alpha
    np.testing.assert_allclose(model.predict(X_new),
                               k_new @ ((U * h) @ (U.T @ a)) + c * Ka_new @ alpha + ybar,
                               atol=1e-7)


def test_a_zero_ambient_weight_is_plain_stkr():
    X, y, y_partial, lab, X_new = _problem()
    plain = STKR("knn(k=6)", transformation="inverse_laplacian(eta=0.9)", alpha=0.05,
                 ambient="none").fit(X, y_partial)
    zero = STKR("knn(k=6)", transformation="inverse_laplacian(eta=0.9)", alpha=0.05,
                ambient="linear", ambient_weight=0.0).fit(X, y_partial)
    np.testing.assert_allclose(zero.predict(X_new), plain.predict(X_new))
    assert plain.ambient_weight_ is None and zero.ambient_weight_ == 0.0


def test_topd_is_ridge_on_the_contexture_weighted_by_its_eigenvalues():
    from contextures.spectral import Contexture

    X, y, y_partial, lab, X_new = _problem(n=150, labelled=40)
    model = STKR("rbf(gamma=median)", transformation="topd(d=6)", alpha=0.01,
                 random_state=0).fit(X, y_partial)
    ref = Contexture("rbf(gamma=median)", n_components=6, random_state=0).fit(X)
    keep = ref.components_resolved_
    F, lam = ref.eigenfunctions_[:, keep], ref.singular_values_[keep] ** 2
    yc = y[lab] - y[lab].mean()
    theta = np.linalg.solve(F[lab].T @ F[lab] + np.diag(lab.size * 0.01 / lam), F[lab].T @ yc)
    np.testing.assert_allclose(model.transduction_, F @ theta + y[lab].mean(), atol=1e-8)
    np.testing.assert_allclose(model.predict(X_new),
                               ref.transform(X_new) @ theta + y[lab].mean(), atol=1e-8)
    assert model.contexture_ is not None


def test_conjugate_gradients_match_a_direct_solve():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(60, 60))
    B = rng.normal(size=(60, 3))
    P = A @ A.T + np.eye(60)                       # positive definite
    exact = np.linalg.solve(P, B)
    for d in (None, np.diag(P)):
        res = block_cg(lambda V: P @ V, B, tol=1e-12, maxiter=500, precondition=d)
        np.testing.assert_allclose(res.X, exact, atol=1e-8)
        assert res.converged and res.residuals.max() < 1e-9
    warm = block_cg(lambda V: P @ V, B, X0=exact + 1e-6, tol=1e-12, maxiter=500)
    np.testing.assert_allclose(warm.X, exact, atol=1e-8)
    short = block_cg(lambda V: P @ V, B, tol=1e-12, maxiter=3)
    assert short.iterations == 3 and not short.converged


@pytest.mark.parametrize("eta,beta", [(0.999, 1e-3), (0.9, 1.0)])
def test_context_side_solve_error_is_bounded_by_tol(eta, beta):
    """The inverse-Laplacian solve stops at residual tol·(1 − η) of H c = Q_Lᵀ W y, H ⪰ (1 − η) I,
    so ‖c − c*‖ ≤ tol ‖Q_Lᵀ W y‖; c* and α̂ from a direct solve of the same system and of (1)."""
    from contextures.semisupervised import _propagation

    X, y, y_partial, lab, _ = _problem(n=200, labelled=20)
    op = make_context("knn(k=6)").fit(X).operator()
    Q = sp.csr_matrix(op.sparse_factors()[0]).toarray()
    N, n = Q.shape[0], lab.size
    Y = (y[lab] - y[lab].mean())[:, None]
    H = np.eye(Q.shape[1]) - eta * Q.T @ Q + (N / (n * beta)) * Q[lab].T @ Q[lab]
    g = Q[lab].T @ Y / (n * beta)
    c_star = np.linalg.solve(H, g)
    tol = 1e-4
    prop = _propagation.Propagator(op, precision="float64")
    sol = _propagation.solve_inverse_laplacian(prop, lab, Y, eta, beta, tol=tol)
    assert sol.krylov.converged
    assert np.linalg.norm(sol.c - c_star) <= tol * np.linalg.norm(g)
    M = Q @ Q.T
    Gs = N * (M @ np.linalg.inv(np.eye(N) - eta * M))[np.ix_(lab, lab)]
    alpha = np.linalg.solve(Gs + n * beta * np.eye(n), Y)
    np.testing.assert_allclose(N * Q @ c_star, N * M @ np.linalg.solve(
        np.eye(N) - eta * M, np.eye(N)[:, lab] @ alpha), atol=1e-8)
    np.testing.assert_allclose(sol.alpha, alpha, rtol=0, atol=1e-3 * np.abs(alpha).max())


# --- classes ----------------------------------------------------------------------------------
def _two_moons(n=300, labelled=12, seed=0):
    from sklearn.datasets import make_moons

    X, y = make_moons(n, noise=0.06, random_state=seed)
    rng = np.random.default_rng(seed)
    lab = np.concatenate([rng.choice(np.flatnonzero(y == c), labelled // 2, replace=False)
                          for c in (0, 1)])
    y_partial = np.full(n, -1)
    y_partial[lab] = y[lab]
    return X, y, y_partial


@pytest.mark.parametrize("solver", ["propagation", "dense"])
def test_propagates_labels_along_the_data(solver):
    # two moons with 6 labels each: a supervised model on the 12 labelled rows cannot follow the
    # moons, the inverse Laplacian of a KNN context does
    X, y, y_partial = _two_moons()
    model = STKR("knn(k=8)", solver=solver, random_state=0).fit(X, y_partial)
    assert np.mean(model.transduction_ == y) > 0.95
    X_new, y_new = _two_moons(n=200, seed=1)[:2]
    assert np.mean(model.predict(X_new) == y_new) > 0.95
    proba = model.predict_proba(X_new)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X_new))
    np.testing.assert_allclose(model.label_distributions_.sum(axis=1), 1.0)
    assert model.n_labelled_ == 12 and model.task_ == "classification"


def test_string_labels_with_a_custom_marker():
    X, y, y_partial = _two_moons()
    names = np.array(["left", "right"], dtype=object)[y].astype(object)
    names[y_partial == -1] = "?"
    model = STKR("knn(k=8)", transformation="inverse_laplacian(eta=0.99)", alpha=1e-3,
                 unlabelled="?").fit(X, names)
    assert set(model.classes_) == {"left", "right"}
    assert np.mean(model.transduction_ == np.array(["left", "right"])[y]) > 0.9


# --- cross-validation -------------------------------------------------------------------------
def test_cross_validation_reports_its_grid_and_choice():
    X, y, y_partial = _two_moons()
    model = STKR("knn(k=8)", cv=3, random_state=0).fit(X, y_partial)
    res = model.cv_results_
    etas = sorted({t for t in res["transform"]})
    assert etas == ["inverse_laplacian(eta=0.9)", "inverse_laplacian(eta=0.99)",
                    "inverse_laplacian(eta=0.999)"]
    assert len(res["error"]) == 3 * len(WEIGHT_GRID) * len(RIDGE_GRID)
    assert sorted(set(res["ambient_weight"])) == sorted(WEIGHT_GRID)
    best = int(np.argmin(res["error"]))
    assert model.transformation_ == res["transform"][best]
    assert model.alpha_ == res["alpha"][best] and model.ridge_ratio_ == res["ridge_ratio"][best]
    assert model.ambient_weight_ == res["ambient_weight"][best]
    assert model.cv_folds_ == 3 and "3-fold" in model.cv_note_
    # the held-out rows never see their labels: the same choice with their labels removed from
    # everything but the held-out scoring is what cross_validate computes, so refitting with
    # the chosen values gives the same model
    again = STKR("knn(k=8)", transformation=model.transformation_, alpha=model.alpha_,
                 ambient_weight=model.ambient_weight_).fit(X, y_partial)
    np.testing.assert_allclose(again.label_distributions_, model.label_distributions_,
                               atol=1e-6)


def test_too_few_labels_for_cross_validation_use_the_defaults():
    X, y, y_partial = _two_moons(labelled=2)
    model = STKR("knn(k=8)").fit(X, y_partial)
    assert model.transformation_ == f"inverse_laplacian(eta={DEFAULT_CHOICE['inverse_laplacian']})"
    assert model.ridge_ratio_ == DEFAULT_CHOICE["ridge"] and model.cv_results_["error"] == []
    assert "too few to cross-validate" in model.cv_note_


# --- input rules ------------------------------------------------------------------------------
def test_bad_input_gets_clear_messages():
    X, _, y_partial = _two_moons(n=60)
    with pytest.raises(ParameterError, match="no labelled rows"):
        STKR("knn(k=5)").fit(X, np.full(60, -1))
    one = np.full(60, -1)
    one[:5] = 1
    with pytest.raises(ParameterError, match="only one class"):
        STKR("knn(k=5)").fit(X, one)
    mixed = np.full(60, np.nan)
    mixed[:5] = [0.5, 1.5, -1.0, 2.0, 3.0]
    with pytest.raises(ParameterError, match="marked by -1 in class labels and by NaN"):
        STKR("knn(k=5)").fit(X, mixed)
    # with the task stated, −1 is a value
    STKR("knn(k=5)", transformation="identity", alpha=0.1, task="regression").fit(X, mixed)
    with pytest.raises(ParameterError, match="class labels contain NaN"):
        STKR("knn(k=5)", task="classification").fit(X, mixed)
    with pytest.raises(ParameterError, match="every entry of y is NaN"):
        STKR("knn(k=5)").fit(X, np.full(60, np.nan))
    with pytest.raises(SpecError, match="cannot parse spec"):
        STKR("knn(k=5)", transformation="inverse_laplacian(eta=0.9").fit(X, y_partial)
    with pytest.raises(SpecError, match="unknown spectral transform 'heat'"):
        STKR("knn(k=5)", transformation="heat(t=1)").fit(X, y_partial)
    with pytest.raises(ParameterError, match="needs labels"):
        STKR("label").fit(X, y_partial)
    with pytest.raises(ParameterError, match="requires y"):
        STKR("knn(k=5)").fit(X, None)
    with pytest.raises(ParameterError, match="alpha"):
        STKR("knn(k=5)", alpha=-1.0).fit(X, y_partial)
    with pytest.raises(ParameterError, match="ambient must be one of none, linear, rbf"):
        STKR("knn(k=5)", ambient="cubic").fit(X, y_partial)
    with pytest.raises(ParameterError, match="ambient_weight"):
        STKR("knn(k=5)", ambient_weight=-1.0).fit(X, y_partial)


def test_transform_grammar():
    assert parse_transform("inverse_laplacian(eta=0.9)").spec() == "inverse_laplacian(eta=0.9)"
    assert parse_transform("inverse_laplacian").free
    assert parse_transform("poly(p=2)").value == 2 and parse_transform("identity").spec() == \
        "identity"
    assert [t.value for t in parse_transform("topd").grid()] == [4, 8, 16, 32, 64]
    np.testing.assert_allclose(parse_transform("inverse_laplacian(eta=0.5)").s(np.array([1.0])),
                               [2.0])
    for bad, err in (("inverse_laplacian(eta=1)", ParameterError),
                     ("poly(p=0)", ParameterError), ("topd(d=2.5)", ParameterError),
                     ("poly(q=2)", SpecError), ("identity(p=1)", SpecError),
                     ("poly(2)", SpecError), ("0.5*poly(p=2)", SpecError)):
        with pytest.raises(err):
            parse_transform(bad)


# --- scale ------------------------------------------------------------------------------------
def test_knn_propagation_never_forms_an_n_by_n_matrix():
    rng = np.random.default_rng(0)
    n = 6000
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    y_partial = np.full(n, -1)
    lab = rng.choice(n, 60, replace=False)
    y_partial[lab] = y[lab]
    budget = 40 * 1024**2            # an n × n float64 matrix needs 275 MiB
    model = STKR("knn(k=10)", transformation="inverse_laplacian(eta=0.99)", alpha=1e-3,
                 memory_budget=budget).fit(X, y_partial)
    assert model.solver_info_["solver"] == "propagation" and model.solver_info_["converged"]
    assert np.mean(model.transduction_ == y) > 0.85
    with pytest.raises(MemoryBudgetError):
        STKR("knn(k=10)", transformation="inverse_laplacian(eta=0.99)", alpha=1e-3,
             solver="dense", memory_budget=budget).fit(X, y_partial)


def test_split_products_are_the_same_to_the_bit(monkeypatch):
    """From SPLIT_ROWS rows the float32 products run on row parts over the solver threads; each
    row's sum is the one product computes, so M V is bit-identical to the unsplit product."""
    from contextures.contexts import make_context
    from contextures.semisupervised import _propagation
    from contextures.spectral.threads import solver_threads

    monkeypatch.setattr(_propagation, "SPLIT_ROWS", 500)
    rng = np.random.default_rng(0)
    op = make_context("knn(k=7)").fit(rng.normal(size=(900, 4))).operator()
    V = rng.normal(size=(900, 3))
    with solver_threads(1):
        one = _propagation.Propagator(op, precision="float32")
    with solver_threads(2):
        two = _propagation.Propagator(op, precision="float32")
    assert one._parts is None and two._parts is not None
    assert np.array_equal(one.M(V), two.M(V))
