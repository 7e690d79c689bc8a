"""The one-pass ridge probe curve against a naive per-d scikit-learn loop and closed forms."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from contextures._memory import traced_peak
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


# --- the blocked probe against the unblocked one it replaced ------------------------------------
class _ReferencePrefixRidge:
    """The whole-matrix prefix ridge (before the rows were read in blocks), kept as a reference:
    centred Gram matrix, Cholesky per α or, when max diag > 10⁸ α, the QR of [R₀; √α I] from a
    QR of all the centred rows; the curve from H = G R_α⁻¹ and a cumulative sum."""

    def __init__(self, F, Y):
        self.f_mean, self.y_mean = F.mean(0), Y.mean(0)
        self.Fc, self.Yc = F - self.f_mean, Y - self.y_mean
        self.gram, self.FtY = self.Fc.T @ self.Fc, self.Fc.T @ self.Yc

    def solve(self, alpha):
        from scipy.linalg import cholesky, solve_triangular

        D = self.gram.shape[0]
        if np.diag(self.gram).max() <= 1e8 * alpha:
            Ra = cholesky(self.gram + alpha * np.eye(D), lower=False)
            return Ra, solve_triangular(Ra, self.FtY, trans="T", lower=False)
        Q0, R0 = np.linalg.qr(self.Fc)
        Qa, Ra = np.linalg.qr(np.vstack([R0, np.sqrt(alpha) * np.eye(D)]))
        return Ra, Qa[:R0.shape[0]].T @ (Q0.T @ self.Yc)

    def curve(self, Ra, z, G, Y, labels):
        from scipy.linalg import solve_triangular

        H = solve_triangular(Ra, (G - self.f_mean).T, trans="T", lower=False).T
        preds = self.y_mean + np.cumsum(H[:, :, None] * z[None, :, :], axis=1)
        mse = ((preds - Y[:, None, :]) ** 2).mean(axis=(0, 2))
        acc = None if labels is None else (preds.argmax(2) == labels[:, None]).mean(0)
        return mse, acc


def reference_errors(F, y, Fv, yv, Ft, yt, alphas, task, folds=None, split=None):
    """(val error, test error, test accuracy), each α × D, the way the unblocked probe got them:
    ``folds`` (validation rows of each fold), ``split`` (fit rows, validation rows, refit on all)
    or the given validation rows."""
    classes = np.unique(y) if task == "classification" else None
    enc = (lambda v: (v[:, None] == classes).astype(float)) if classes is not None \
        else (lambda v: v.reshape(len(v), -1))
    lab = (lambda v: np.searchsorted(classes, v)) if classes is not None else (lambda v: None)
    A, D = len(alphas), F.shape[1]
    val = np.zeros((A, D))
    if folds is not None:
        for rows in folds:
            fit = np.setdiff1d(np.arange(len(y)), rows)
            path = _ReferencePrefixRidge(F[fit], enc(y[fit]))
            for a, alpha in enumerate(alphas):
                err, _ = path.curve(*path.solve(alpha), F[rows], enc(y[rows]), lab(y[rows]))
                val[a] += err * len(rows) / len(y)
    else:
        fit, rows = split if split is not None else (np.arange(len(y)), None)
        path = _ReferencePrefixRidge(F[fit], enc(y[fit]))
        Gv, Yv, lv = (F[rows], enc(y[rows]), lab(y[rows])) if split is not None else \
            (Fv, enc(yv), lab(yv))
        for a, alpha in enumerate(alphas):
            val[a], _ = path.curve(*path.solve(alpha), Gv, Yv, lv)
    final = _ReferencePrefixRidge(F, enc(y))
    test = np.empty((A, D))
    acc = np.empty((A, D)) if classes is not None else None
    for a, alpha in enumerate(alphas):
        test[a], acc_a = final.curve(*final.solve(alpha), Ft, enc(yt), lab(yt))
        if acc is not None:
            acc[a] = acc_a
    return val, test, acc


def probe_problem(task, n, D, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    F = correlated_features(rng, 2 * n, D) * scale + 50.0 * scale
    s = F[:, :3] @ rng.normal(size=3) / scale
    s = s - s.mean() + 0.5 * rng.normal(size=2 * n)
    if task == "classification":
        y = np.digitize(s, np.quantile(s, [0.3, 0.55, 0.8]))
    else:
        y = np.column_stack([s, s ** 2]) if task == "multi" else s
    half = n + n // 2
    return F[:n], y[:n], F[n:half], y[n:half], F[half:], y[half:]


SETTINGS = [dict(cv_folds=5), dict(cv_folds=2), dict(val_fraction=0.3, random_state=3),
            dict(given_val=True)]


@pytest.mark.parametrize("task", ["regression", "multi", "classification"])
@pytest.mark.parametrize("setting", SETTINGS, ids=["cv5", "cv2", "split", "given"])
@pytest.mark.parametrize("scale", [1.0, 1e3], ids=["cholesky", "qr-fallback"])
@pytest.mark.parametrize("block_bytes", [3000, None], ids=["tiny-blocks", "default-blocks"])
def test_blocked_probe_equals_the_unblocked_reference(monkeypatch, task, setting, scale,
                                                      block_bytes):
    # scale 1e3 makes diag(F_cᵀF_c) ≈ 10⁸ · n > 10⁸ α for the small α: those take the QR path
    from sklearn.model_selection import KFold, StratifiedKFold

    from contextures.evaluation import probes

    if block_bytes is not None:
        monkeypatch.setattr(probes, "_BLOCK_BYTES", block_bytes)  # a few rows per block
    alphas = (1e-3, 0.1, 10.0, 1e3)
    F, y, Fv, yv, Ft, yt = probe_problem(task, 180, 9, scale=scale)
    kind = "classification" if task == "classification" else "regression"
    setting = dict(setting)
    given = setting.pop("given_val", False)
    curve = probes.ridge_probe_curve(F, y, Fv if given else None, yv if given else None, Ft, yt,
                                     task=kind, alphas=alphas, **setting)
    folds = split = None
    if "cv_folds" in setting:
        k = setting["cv_folds"]
        splitter = (StratifiedKFold if kind == "classification" else KFold)(
            k, shuffle=True, random_state=0)
        folds = [val for _, val in splitter.split(F, y)]
    elif not given:
        fit, val = train_test_split(np.arange(len(y)), test_size=0.3, random_state=3,
                                    stratify=y if kind == "classification" else None)
        split = (fit, val)
    val, test, acc = reference_errors(F, y, Fv, yv, Ft, yt, alphas, kind, folds, split)
    best = val.argmin(0)
    cols = np.arange(val.shape[1])
    np.testing.assert_allclose(curve.val_errors, val[best, cols], rtol=1e-9)
    np.testing.assert_allclose(curve.errors, test[best, cols], rtol=1e-9)
    np.testing.assert_array_equal(curve.alphas, np.asarray(alphas)[best])
    if acc is not None:
        np.testing.assert_array_equal(curve.accuracy, acc[best, cols])
    assert (curve.d_star, curve.d_val) == (int(test[best, cols].argmin()) + 1,
                                           int(val[best, cols].argmin()) + 1)


def test_the_qr_fallback_is_taken_and_agrees_with_the_cholesky_path(monkeypatch):
    # the TSQR path (forced for every α) gives the Cholesky path's curve on well-conditioned
    # features, also with blocks of a few rows and fewer rows than columns in a fold
    from contextures.evaluation import probes

    calls = []
    original = probes._Design._r_factor
    monkeypatch.setattr(probes._Design, "_r_factor",
                        lambda self, members: calls.append(members) or original(self, members))
    monkeypatch.setattr(probes, "_BLOCK_BYTES", 2000)
    for n, D in ((200, 8), (24, 15)):
        F, y, _, _, Ft, yt = probe_problem("regression", n, D, seed=n)
        kwargs = dict(F_test=Ft, y_test=yt, alphas=(1e-2, 1.0, 50.0), cv_folds=3)
        cholesky_path = probes.ridge_probe_curve(F, y, **kwargs)
        assert not calls
        monkeypatch.setattr(probes, "CHOLESKY_MAX_RATIO", 0.0)
        qr_path = probes.ridge_probe_curve(F, y, **kwargs)
        monkeypatch.setattr(probes, "CHOLESKY_MAX_RATIO", 1e8)
        assert len(calls) == 4  # three folds and the refit
        calls.clear()
        np.testing.assert_allclose(qr_path.errors, cholesky_path.errors, rtol=1e-9)
        np.testing.assert_allclose(qr_path.val_errors, cholesky_path.val_errors, rtol=1e-9)


def _probe_peaks(n: int, D: int) -> tuple[int, int]:
    """Traced peaks of the probe's computation alone (given validation rows, and 5-fold CV) and
    of the whole call (5-fold CV, regression and classification) on n rows."""
    from contextures.evaluation import probes

    rng = np.random.default_rng(0)
    F, Ft = correlated_features(rng, n, D), correlated_features(rng, n, D)
    y, yt = F[:, :1] + rng.normal(size=(n, 1)), Ft[:, :1] + rng.normal(size=(n, 1))
    labels = np.digitize(y[:, 0], [-1.0, 0.0, 1.0])
    enc = probes._Encoding("regression", y)
    folds = probes._cv_folds(y, "regression", 5, 0)
    alphas = np.array(probes.DEFAULT_ALPHAS)

    def given_val():
        design = probes._Design([probes._Rows(F, y, enc)], D, 1)
        probes._probe_errors(design, probes._Rows(Ft, yt, enc), probes._Rows(Ft, yt, enc),
                             alphas, cv=False)

    def cross_validated():
        design = probes._Design([probes._Rows(F, y, enc, rows) for rows in folds], D, 1)
        probes._probe_errors(design, probes._Rows(Ft, yt, enc), None, alphas, cv=True)

    core = max(traced_peak(given_val), traced_peak(cross_validated))
    whole = max(
        traced_peak(lambda: ridge_probe_curve(F, y, F_test=Ft, y_test=yt, cv_folds=5)),
        traced_peak(lambda: ridge_probe_curve(F, labels, F_test=Ft, y_test=labels,
                                               task="classification", cv_folds=5)))
    return core, whole


def test_working_memory_is_bounded_by_the_block_not_the_rows(monkeypatch):
    # tracemalloc peak (numpy's arrays included) of the probe's computation on inputs allocated
    # beforehand: the same at n and 4n for a fixed block size. The whole call adds O(n) row
    # bookkeeping only (the fold indices, the validation's finiteness mask of D bytes a row),
    # far below one copy of F (8 D bytes a row), of which the unblocked probe made several.
    from contextures.evaluation import probes

    block = 256 * 1024
    monkeypatch.setattr(probes, "_BLOCK_BYTES", block)
    D = 24
    peaks = {n: _probe_peaks(n, D) for n in (6_000, 24_000)}
    for n, (core, whole) in peaks.items():
        assert core < 4 * block
        assert whole < 4 * block + (D + 64) * n
    assert peaks[24_000][1] < 8 * D * 24_000 / 2  # under half a copy of F
    assert peaks[24_000][0] <= peaks[6_000][0] + 64 * 1024


def test_leave_one_out_folds_equal_the_reference():
    # K = n folds: each fit's moments are the total's less one row's
    from sklearn.model_selection import KFold

    F, y, _, _, Ft, yt = probe_problem("regression", 40, 5, seed=9)
    alphas = (1e-2, 1.0, 30.0)
    curve = ridge_probe_curve(F, y, F_test=Ft, y_test=yt, alphas=alphas, cv_folds=40)
    folds = [val for _, val in KFold(40, shuffle=True, random_state=0).split(F)]
    val, test, _ = reference_errors(F, y, None, None, Ft, yt, alphas, "regression", folds)
    best = val.argmin(0)
    np.testing.assert_allclose(curve.val_errors, val[best, np.arange(5)], rtol=1e-9)
    np.testing.assert_allclose(curve.errors, test[best, np.arange(5)], rtol=1e-9)
