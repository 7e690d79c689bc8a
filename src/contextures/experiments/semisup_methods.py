"""Learning from few labels, one comparison: STKR against the usual semi-supervised and supervised
baselines on the same rows.

One comparison (:func:`compare_methods`) takes a pool of rows, a seeded labelled subset of it and
a test part. Every method sees the features of the whole pool and the labels of the labelled rows
only, and predicts the test rows (which no method sees before):

- ``stkr``: :class:`~contextures.semisupervised.STKR` with the given context and transform; its
  transform parameter and ridge chosen by cross-validation on the labelled rows (defaults);
- ``label_spreading_knn``, ``label_spreading_rbf``, ``label_propagation_knn``,
  ``label_propagation_rbf``: scikit-learn's ``LabelSpreading`` / ``LabelPropagation`` on the pool
  with the labels of the unlabelled rows set to −1 (classification only). Their own defaults,
  except the kernel's scale: ``n_neighbors`` = the k of a ``knn(k=…)`` context (10 otherwise) and
  ``gamma`` = the median heuristic on the pool (scikit-learn's default γ = 20 makes every kernel
  value underflow on standardised features with more than a few columns);
- ``kernel_ridge``: RBF kernel ridge regression (median-heuristic γ on the pool) on the labelled
  rows, its ridge chosen by cross-validation on them (one-hot targets for classes);
- ``linear``: ridge regression (``RidgeCV``) or, for classes, logistic regression
  (``LogisticRegressionCV``; plain ``LogisticRegression`` when a class has a single labelled row)
  on the labelled rows;
- ``contexture_probe``: the exact top-d contexture of the same context fitted on the pool
  (:class:`~contextures.spectral.Contexture`, stable extension), a ``RidgeCV`` probe on the
  resolved components of the labelled rows (one-hot targets for classes).

Errors on the test rows: the misclassification rate for classes (the one-hot MSE of the
probabilities too, where a method gives them), the mean squared error for values.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence

import numpy as np

from .._progress import DELAY, say
from ..exceptions import ParameterError

BASELINES = ("label_spreading_knn", "label_spreading_rbf", "label_propagation_knn",
             "label_propagation_rbf", "kernel_ridge", "linear", "contexture_probe")
METHODS = ("stkr", *BASELINES)
GRAPH_BASELINES = BASELINES[:4]
SUPERVISED = ("kernel_ridge", "linear")
FRACTIONS = (0.01, 0.05, 0.2)
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
PROBE_COMPONENTS = 32
ANNOUNCE_ROWS = 20_000
"""From this many pool rows each method's start and end are announced on stderr (when progress is
reported); on smaller data only a method that took over 2 s gets its end line."""


# --- the labelled draw ------------------------------------------------------------------------
def labelled_count(amount: float | int, n: int) -> int:
    """How many rows ``amount`` asks for: a fraction in (0, 1) of n, or a count ≥ 1."""
    if isinstance(amount, bool):
        raise ParameterError(f"labelled amount must be a fraction in (0, 1) or a count, got "
                             f"{amount!r}")
    value = float(amount)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"labelled amount must be a fraction in (0, 1) or a count ≥ 1, got "
                             f"{amount!r}")
    if value < 1:
        return max(1, int(round(value * n)))
    if not value.is_integer():
        raise ParameterError(f"a labelled count must be a whole number, got {amount!r}")
    if value > n:
        raise ParameterError(f"{int(value)} labelled rows asked, but the pool has {n} rows")
    return int(value)


def parse_amount(text: str) -> float | int:
    """``"0.05"`` or ``"5%"`` (fractions) or ``"200"`` (a count)."""
    text = str(text).strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100.0
            if not 0 < value < 1:
                raise ValueError
            return value
        value = float(text)
    except ValueError:
        raise ParameterError(f"--labelled must be a fraction (0.05 or 5%) or a count (200), got "
                             f"{text!r}") from None
    return int(value) if value >= 1 and value.is_integer() else value


def draw_labelled(y: np.ndarray, amount: float | int, task: str, random_state: int = 0
                  ) -> np.ndarray:
    """Sorted indices of the labelled rows: seeded, stratified by class for classification.

    m = ``labelled_count(amount, n)`` rows. For classes, class c gets its share m n_c / n by
    largest remainder (ties broken by the seed), and every class present gets at least one row
    (so m can exceed the request by the number of classes that would otherwise get none).
    Regression targets are drawn uniformly.
    """
    n = y.shape[0]
    m = labelled_count(amount, n)
    rng = np.random.default_rng(random_state)
    if task != "classification":
        return np.sort(rng.choice(n, size=m, replace=False))
    classes, codes = np.unique(y, return_inverse=True)
    groups = [rng.permutation(np.flatnonzero(codes == c)) for c in range(classes.size)]
    counts = np.array([g.size for g in groups])
    exact = counts * (m / n)
    quota = np.floor(exact).astype(np.int64)
    short = m - int(quota.sum())
    order = np.lexsort((rng.random(counts.size), -(exact - quota)))
    for c in order[:max(0, short)]:
        quota[c] += 1
    quota = np.clip(np.maximum(quota, 1), 0, counts)
    return np.sort(np.concatenate([g[:q] for g, q in zip(groups, quota, strict=True)]))


# --- the methods ------------------------------------------------------------------------------
def _neighbours_of(context: str) -> int:
    from ..contexts import KNNContext, make_context

    ctx = make_context(context)
    return int(ctx.k) if isinstance(ctx, KNNContext) else 10


def _onehot(codes: np.ndarray, C: int) -> np.ndarray:
    out = np.zeros((codes.size, C))
    out[np.arange(codes.size), codes] = 1.0
    return out


def _score(task: str, y_test: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
           C: int | None) -> dict:
    if task == "classification":
        out = {"error": float(np.mean(pred != y_test))}
        if proba is not None:
            out["brier"] = float(np.mean((proba - _onehot(y_test, C)) ** 2))
        return out
    return {"error": float(np.mean((pred - y_test) ** 2))}


def _regression_cv(make, X, Y, alphas, seed: int):
    """The model of ``make(alpha)`` with the ridge of least K-fold error on (X, Y)."""
    from sklearn.model_selection import KFold

    n = X.shape[0]
    if n < 4:
        return make(1.0).fit(X, Y)
    folds = list(KFold(n_splits=min(5, n), shuffle=True, random_state=seed).split(X))
    errors = []
    for a in alphas:
        e = 0.0
        for tr, va in folds:
            model = make(a).fit(X[tr], Y[tr])
            e += float(((model.predict(X[va]) - Y[va]) ** 2).sum())
        errors.append(e)
    return make(alphas[int(np.argmin(errors))]).fit(X, Y)


def _graph_baseline(name: str, X_pool, y_partial, X_test, gamma: float, k: int):
    from sklearn.semi_supervised import LabelPropagation, LabelSpreading

    cls = LabelSpreading if name.startswith("label_spreading") else LabelPropagation
    kernel = "knn" if name.endswith("knn") else "rbf"
    params = {"n_neighbors": k} if kernel == "knn" else {"gamma": gamma}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings and 0/0 rows are scored as they are
        model = cls(kernel=kernel, **params).fit(X_pool, y_partial)
        proba = model.predict_proba(X_test)
    proba = np.nan_to_num(proba, nan=0.0)
    return proba


def compare_methods(X_pool: np.ndarray, y_pool: np.ndarray, labelled: np.ndarray,
                    X_test: np.ndarray, y_test: np.ndarray, task: str, *,
                    context: str = "knn(k=10)", transform: str = "inverse_laplacian",
                    methods: Sequence[str] = METHODS, random_state: int = 0,
                    memory_budget=None) -> dict:
    """{method: {"error", ["brier"], "seconds", ...}} of every method (module docstring).

    ``y_pool`` holds the labels of every pool row; only the ``labelled`` ones reach the methods.
    Class labels are codes 0..C−1.
    """
    from ..contexts.distances import median_gamma
    from ..semisupervised import STKR

    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ParameterError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    classify = task == "classification"
    C = int(max(y_pool.max(), y_test.max()) + 1) if classify else None
    if classify:
        y_partial = np.full(y_pool.shape[0], -1, dtype=np.int64)
    else:
        y_partial = np.full(y_pool.shape[0], np.nan)
    y_partial[labelled] = y_pool[labelled]
    X_lab, y_lab = X_pool[labelled], y_pool[labelled]
    gamma = median_gamma(X_pool)
    k = _neighbours_of(context)
    out: dict[str, dict] = {}
    large = X_pool.shape[0] >= ANNOUNCE_ROWS
    for name in methods:
        if large and (classify or name not in GRAPH_BASELINES):
            say(f"semisup: {name} on {X_pool.shape[0]} rows ({labelled.size} labelled)")
        start = time.perf_counter()
        proba = None
        extra: dict = {}
        try:
            if name == "stkr":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = STKR(context, transformation=transform, task=task,
                                 random_state=random_state, memory_budget=memory_budget)
                    model.fit(X_pool, y_partial)
                if classify:
                    proba = np.zeros((X_test.shape[0], C))
                    proba[:, model.classes_] = model.predict_proba(X_test)
                    pred = proba.argmax(axis=1)
                else:
                    pred = model.predict(X_test)
                extra = {"transform": model.transformation_, "alpha": model.alpha_,
                         "ridge_ratio": model.ridge_ratio_,
                         "ambient_weight": model.ambient_weight_, "cv": model.cv_note_}
            elif name in GRAPH_BASELINES:
                if not classify:
                    continue
                proba = np.zeros((X_test.shape[0], C))
                p = _graph_baseline(name, X_pool, y_partial, X_test, gamma, k)
                proba[:, np.unique(y_lab)] = p
                pred = proba.argmax(axis=1)
            elif name == "kernel_ridge":
                from sklearn.kernel_ridge import KernelRidge

                Y = _onehot(y_lab, C) if classify else y_lab
                model = _regression_cv(lambda a: KernelRidge(alpha=a, kernel="rbf", gamma=gamma),
                                       X_lab, Y, RIDGE_ALPHAS, random_state)
                F = model.predict(X_test)
                pred, proba = _from_regression(F, classify)
            elif name == "linear":
                pred, proba = _linear(X_lab, y_lab, X_test, classify, C, random_state)
            else:  # contexture_probe
                pred, proba, extra = _probe(context, X_pool, labelled, y_lab, X_test, classify,
                                            C, random_state, memory_budget)
        except (ValueError, np.linalg.LinAlgError) as exc:
            out[name] = {"error": None, "failed": f"{type(exc).__name__}: {exc}"}
            continue
        took = time.perf_counter() - start
        out[name] = {**_score(task, y_test, pred, proba, C), "seconds": took, **extra}
        if large or took >= DELAY:
            say(f"semisup: {name} done in {took:.1f} s")
    return out


def _from_regression(F: np.ndarray, classify: bool):
    if not classify:
        return F, None
    P = np.clip(F, 0.0, None)
    s = P.sum(axis=1, keepdims=True)
    P = np.where(s > 0, P / np.where(s > 0, s, 1.0), 1.0 / F.shape[1])
    return F.argmax(axis=1), P


def _linear(X_lab, y_lab, X_test, classify, C, seed):
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV

    if not classify:
        return RidgeCV(alphas=RIDGE_ALPHAS).fit(X_lab, y_lab).predict(X_test), None
    counts = np.bincount(y_lab)
    smallest = int(counts[counts > 0].min())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if smallest >= 2:
            model = LogisticRegressionCV(cv=min(5, smallest), max_iter=2000).fit(X_lab, y_lab)
        else:
            model = LogisticRegression(max_iter=2000).fit(X_lab, y_lab)
    proba = np.zeros((X_test.shape[0], C))
    proba[:, model.classes_] = model.predict_proba(X_test)
    return proba.argmax(axis=1), proba


def _probe(context, X_pool, labelled, y_lab, X_test, classify, C, seed, budget):
    from sklearn.linear_model import RidgeCV

    from ..spectral import Contexture

    d = int(min(PROBE_COMPONENTS, X_pool.shape[0] - 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Contexture(context, n_components=d, random_state=seed,
                           memory_budget=budget).fit(X_pool)
    cols = model.components_resolved_
    F_lab = model.eigenfunctions_[labelled][:, cols]
    F_test = model.transform(X_test)
    Y = _onehot(y_lab, C) if classify else y_lab
    if cols.size == 0:
        pred = np.tile(Y.mean(axis=0), (X_test.shape[0], 1)) if classify else \
            np.full(X_test.shape[0], Y.mean())
    else:
        pred = RidgeCV(alphas=RIDGE_ALPHAS).fit(F_lab, Y).predict(F_test)
    pred, proba = _from_regression(np.asarray(pred), classify)
    return pred, proba, {"components": int(cols.size)}
