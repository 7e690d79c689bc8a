"""Linear and kNN probes: how much of a downstream target a representation makes available.

Ridge probe on nested prefixes, in one pass
-------------------------------------------
The probe on the first d columns of F (with an unpenalised intercept, as scikit-learn's ``Ridge``)
solves, after centring F and y by their training means,

    w_d = argmin_w ‖F_c[:, :d] w − y_c‖² + α ‖w‖²   for every d = 1..D.

Write F_c = Q₀ R₀ (one thin QR). Because Q₀ has orthonormal columns containing every F_c[:, :d] w,
the problem for d equals, up to a constant, min ‖R₀[:, :d] w − Q₀ᵀ y_c‖² + α‖w‖² — a least squares
problem in the augmented matrix A = [R₀; √α I_D] restricted to its first d columns (the rows of
√α I beyond d are zero there). One QR A = Q_α R_α per α gives them all: A[:, :d] = Q_α[:, :d]
R_α[:d, :d], so with z = Q_αᵀ [Q₀ᵀ y_c; 0],

    w_d = R_α[:d, :d]⁻¹ z[:d].

For new rows G (centred with the training means) let H = G R_α⁻¹ (one triangular solve). Since
R_α⁻¹ is upper triangular, G[:, :d] R_α[:d, :d]⁻¹ = H[:, :d], hence

    ŷ_d(G) = ȳ + Σ_{j ≤ d} H[:, j] z[j],

a cumulative sum over j: the whole curve costs one QR of F, one factorisation per α and O(n D t)
per α and evaluation set — no refit per d. R_α need not come from a QR of A: it is the upper
Cholesky factor of AᵀA = F_cᵀF_c + α I, and z = R_α⁻ᵀ F_cᵀ y_c, so each α costs one D × D Cholesky
(about 8× fewer operations than the (r + D) × D QR). When that Gram matrix is ill-conditioned
(largest diagonal over α above 10⁸, where squaring the condition number would cost accuracy) the
QR of A is used instead. (The eigenfunctions are orthonormal on the pretrain
sample, not on the downstream rows, so a plain per-column regression would be wrong; the QR
handles any Gram matrix.) α must be > 0, which keeps every R_α[:d, :d] invertible.

Selection: for each d the ridge strength α_d is the one with the smallest validation error (the
given validation set, or a split of the training rows; in that case the probe is refit on all the
training rows with α_d). The curve err_d is the test error at α_d. Following [ICML §5.3],
d* = argmin_d err_d and err_{d*} are read on the test curve (``d_star``, ``error``); ``d_val`` and
``error_at_d_val`` are the label-free alternative that picks d on the validation curve.

Errors: regression, mean squared error (averaged over outputs for a multi-output target);
classification, the paper's one-hot MSE (the probe regresses the one-hot encoding of the training
classes; the error is the mean over rows and classes of the squared difference) and the accuracy
of the arg-max class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from ..exceptions import ParameterError
from ..validation import check_array, check_int, check_positive

DEFAULT_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
"""Default ridge strengths (scikit-learn's scale: penalty α‖w‖² against a sum of squares)."""

TASKS = ("regression", "classification")

_CHUNK_BYTES = 32 * 1024**2


@dataclass(frozen=True)
class ProbeCurve:
    """The result of :func:`ridge_probe_curve`.

    Attributes
    ----------
    task : "regression" or "classification".
    dims : d = 1..D.
    errors : test err_d at the chosen α_d (MSE; one-hot MSE for classification).
    val_errors : validation error at α_d.
    alphas : α_d chosen for each d.
    accuracy : test accuracy per d (classification), else None.
    d_star, error : argmin_d err_d on the test curve and err_{d*} (the paper's reading).
    d_val, error_at_d_val : d chosen on the validation curve and its test error.
    """

    task: str
    dims: np.ndarray
    errors: np.ndarray
    val_errors: np.ndarray
    alphas: np.ndarray
    accuracy: np.ndarray | None
    d_star: int
    error: float
    d_val: int
    error_at_d_val: float

    @property
    def accuracy_at_d_star(self) -> float | None:
        return None if self.accuracy is None else float(self.accuracy[self.d_star - 1])


@dataclass(frozen=True)
class KnnProbeResult:
    """kNN probe: test error (MSE / one-hot MSE) and, for classification, accuracy."""

    error: float
    accuracy: float | None
    n_neighbors: int


# --- targets ------------------------------------------------------------------------------------
def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ParameterError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def _target(y, name: str, n: int, task: str) -> np.ndarray:
    if y is None:
        raise ParameterError(f"a probe needs a target: {name} is missing (the data has no target?)")
    y = np.asarray(y)
    if y.shape[0] != n:
        raise ParameterError(f"{name} has {y.shape[0]} rows, its features have {n}")
    if task == "regression":
        return check_array(y, what=name, allow_1d=True)
    if y.ndim != 1:
        raise ParameterError(f"{name}: classification labels must be one-dimensional")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ParameterError(f"{name} contains NaN labels")
    if y.dtype == object and any(v is None or (isinstance(v, float) and v != v) for v in y):
        raise ParameterError(f"{name} contains missing labels")
    return y


class _Encoding:
    """Targets as regression matrices: identity for regression, one-hot for classification."""

    def __init__(self, task: str, y_train: np.ndarray):
        self.task = task
        if task == "classification":
            self.classes = np.unique(y_train)
            if self.classes.size < 2:
                raise ParameterError("classification needs at least two classes in y_train")

    def matrix(self, y: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return y
        return (np.asarray(y)[:, None] == self.classes[None, :]).astype(np.float64)

    def labels(self, y: np.ndarray) -> np.ndarray | None:
        """Index of each label in the training classes (−1 for a class unseen in training)."""
        if self.task == "regression":
            return None
        idx = np.searchsorted(self.classes, y)
        idx = np.clip(idx, 0, self.classes.size - 1)
        return np.where(self.classes[idx] == y, idx, -1)


# --- the one-pass path --------------------------------------------------------------------------
CHOLESKY_MAX_RATIO = 1e8
"""Cholesky of F_cᵀF_c + αI when max diag(F_cᵀF_c) ≤ this × α; QR of [R₀; √α I] otherwise."""

class _PrefixRidge:
    """Ridge on every column prefix of F, for several α, from one Gram matrix (module docstring)."""

    def __init__(self, F: np.ndarray, Y: np.ndarray):
        self.f_mean = F.mean(axis=0)
        self.y_mean = Y.mean(axis=0)
        Fc = F - self.f_mean
        Yc = Y - self.y_mean
        self.gram = Fc.T @ Fc
        self.FtY = Fc.T @ Yc
        self.D = F.shape[1]
        self._qr = None
        self._Fc, self._Yc = Fc, Yc

    def solve(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """(R_α, z) for one ridge strength: R_αᵀR_α = F_cᵀF_c + αI, z = R_α⁻ᵀ F_cᵀ y_c."""
        if np.max(np.diag(self.gram), initial=0.0) <= CHOLESKY_MAX_RATIO * alpha:
            try:
                Ra = cholesky(self.gram + alpha * np.eye(self.D), lower=False)
                return Ra, solve_triangular(Ra, self.FtY, trans="T", lower=False)
            except LinAlgError:
                pass
        if self._qr is None:
            Q0, R0 = np.linalg.qr(self._Fc)
            self._qr = (R0, Q0.T @ self._Yc)
        R0, QtY = self._qr
        A = np.vstack([R0, np.sqrt(alpha) * np.eye(self.D)])
        Qa, Ra = np.linalg.qr(A)
        return Ra, Qa[:R0.shape[0]].T @ QtY

    def curve(self, Ra: np.ndarray, z: np.ndarray, G: np.ndarray, Y_true: np.ndarray,
              labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean squared error (and accuracy) of ŷ_d on rows G for every d = 1..D."""
        H = solve_triangular(Ra, (G - self.f_mean).T, trans="T", lower=False).T  # G R_α⁻¹
        n, t = Y_true.shape
        pred = np.broadcast_to(self.y_mean, (n, t)).copy()
        mse = np.empty(self.D)
        acc = None if labels is None else np.empty(self.D)
        chunk = max(1, min(self.D, _CHUNK_BYTES // max(1, 8 * n * t)))
        for j0 in range(0, self.D, chunk):
            j1 = min(self.D, j0 + chunk)
            steps = H[:, j0:j1, None] * z[None, j0:j1, :]  # n × c × t
            preds = pred[:, None, :] + np.cumsum(steps, axis=1)
            mse[j0:j1] = ((preds - Y_true[:, None, :]) ** 2).mean(axis=(0, 2))
            if labels is not None:
                acc[j0:j1] = (preds.argmax(axis=2) == labels[:, None]).mean(axis=0)
            pred = preds[:, -1, :]
        return mse, acc


def ridge_probe_curve(F_train, y_train, F_val=None, y_val=None, F_test=None, y_test=None,
                      task: str = "regression", alphas=DEFAULT_ALPHAS, d_max: int | None = None,
                      val_fraction: float = 0.2, random_state=0,
                      cv_folds: int | None = None) -> ProbeCurve:
    """Ridge probes on the first d columns, d = 1..D, in one pass; see the module docstring.

    Parameters
    ----------
    F_train, y_train : features (n × D) and target of the probe's training rows.
    F_val, y_val : validation rows that choose α for each d. When None, ``val_fraction`` of the
        training rows (split with ``random_state``, stratified for classification) choose α and
        the probe is then refit on all the training rows; with ``cv_folds`` = K ≥ 2, the
        validation error of every (α, d) is instead the mean over a K-fold cross-validation of
        the training rows (every row validates once: a steadier choice of α and d on small
        downstream sets), and the probe is refit on all of them.
    F_test, y_test : the rows the error curve is measured on (required).
    task : "regression" or "classification".
    alphas : ridge strengths, each > 0.
    d_max : largest prefix (default: all D columns).
    """
    task = _check_task(task)
    F_train = check_array(F_train, what="F_train", min_samples=2, allow_1d=True)
    if F_test is None:
        raise ParameterError("ridge_probe_curve needs test rows (F_test, y_test)")
    F_test = check_array(F_test, what="F_test", allow_1d=True)
    y_train = _target(y_train, "y_train", F_train.shape[0], task)
    y_test = _target(y_test, "y_test", F_test.shape[0], task)
    D = F_train.shape[1]
    if F_test.shape[1] != D:
        raise ParameterError(f"F_test has {F_test.shape[1]} columns, F_train has {D}")
    if d_max is not None:
        D = check_int(d_max, "d_max", low=1, high=D)
        F_train, F_test = F_train[:, :D], F_test[:, :D]
    alphas = np.array([check_positive(a, "alpha") for a in np.atleast_1d(alphas)])
    if alphas.size == 0:
        raise ParameterError("alphas is empty")

    refit = F_val is None
    folds = None
    if refit and cv_folds is not None:
        if y_val is not None:
            raise ParameterError("y_val given without F_val")
        k = check_int(cv_folds, "cv_folds", low=2, high=max(2, F_train.shape[0]))
        folds = _cv_folds(y_train, task, k, random_state)
    elif refit:
        if y_val is not None:
            raise ParameterError("y_val given without F_val")
        if not 0 < val_fraction < 1:
            raise ParameterError(f"val_fraction must be in (0, 1), got {val_fraction}")
        stratify = y_train if task == "classification" else None
        try:
            F_fit, F_val, y_fit, y_val = train_test_split(
                F_train, y_train, test_size=val_fraction, random_state=random_state,
                stratify=stratify)
        except ValueError:  # a class too small to stratify
            F_fit, F_val, y_fit, y_val = train_test_split(
                F_train, y_train, test_size=val_fraction, random_state=random_state)
    else:
        F_val = check_array(F_val, what="F_val", allow_1d=True)
        if F_val.shape[1] < D:
            raise ParameterError(f"F_val has {F_val.shape[1]} columns, F_train has {D}")
        F_val = F_val[:, :D]
        y_val = _target(y_val, "y_val", F_val.shape[0], task)
        F_fit, y_fit = F_train, y_train
    if task == "regression":
        for name, y in (("y_val", y_val), ("y_test", y_test)):
            if y is not None and y.shape[1] != y_train.shape[1]:
                raise ParameterError(f"{name} has {y.shape[1]} outputs, y_train has "
                                     f"{y_train.shape[1]}")

    enc = _Encoding(task, y_train)
    Yt, lt = enc.matrix(y_test), enc.labels(y_test)
    val_err = np.zeros((alphas.size, D))
    test_err = np.empty((alphas.size, D))
    test_acc = np.empty((alphas.size, D)) if task == "classification" else None
    if folds is not None:
        for fit_rows, val_rows in folds:
            fold_path = _PrefixRidge(F_train[fit_rows], enc.matrix(y_train[fit_rows]))
            Yv, lv = enc.matrix(y_train[val_rows]), enc.labels(y_train[val_rows])
            for a, alpha in enumerate(alphas):
                Ra, z = fold_path.solve(alpha)
                err, _ = fold_path.curve(Ra, z, F_train[val_rows], Yv, lv)
                val_err[a] += err * (val_rows.size / F_train.shape[0])
        path = None
    else:
        path = _PrefixRidge(F_fit, enc.matrix(y_fit))
        Yv, lv = enc.matrix(y_val), enc.labels(y_val)
    final = _PrefixRidge(F_train, enc.matrix(y_train)) if refit else path
    for a, alpha in enumerate(alphas):
        if path is not None:
            Ra, z = path.solve(alpha)
            val_err[a], _ = path.curve(Ra, z, F_val, Yv, lv)
        if refit:
            Ra, z = final.solve(alpha)
        test_err[a], acc = final.curve(Ra, z, F_test, Yt, lt)
        if test_acc is not None:
            test_acc[a] = acc

    best = np.argmin(val_err, axis=0)
    cols = np.arange(D)
    errors = test_err[best, cols]
    val_errors = val_err[best, cols]
    accuracy = None if test_acc is None else test_acc[best, cols]
    d_star = int(np.argmin(errors)) + 1
    d_val = int(np.argmin(val_errors)) + 1
    return ProbeCurve(task=task, dims=np.arange(1, D + 1), errors=errors, val_errors=val_errors,
                      alphas=alphas[best], accuracy=accuracy, d_star=d_star,
                      error=float(errors[d_star - 1]), d_val=d_val,
                      error_at_d_val=float(errors[d_val - 1]))


def _cv_folds(y, task: str, k: int, random_state) -> list[tuple[np.ndarray, np.ndarray]]:
    """K (fit rows, validation rows) pairs, stratified for classification when every class has
    at least K rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = y.shape[0]
    if task == "classification":
        labels = np.asarray(y).reshape(n, -1)[:, 0]
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() >= k:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
            return list(splitter.split(np.zeros(n), labels))
    splitter = KFold(n_splits=k, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(n)))


def knn_probe(F_train, y_train, F_test, y_test, task: str = "regression", n_neighbors: int = 5,
              d: int | None = None) -> KnnProbeResult:
    """k-nearest-neighbour probe (scikit-learn) on the first ``d`` columns (default: all).

    Regression: mean squared error of ``KNeighborsRegressor``. Classification: one-hot MSE of the
    neighbour class frequencies (``predict_proba``) and accuracy of ``KNeighborsClassifier``.
    """
    task = _check_task(task)
    F_train = check_array(F_train, what="F_train", min_samples=2, allow_1d=True)
    F_test = check_array(F_test, what="F_test", allow_1d=True)
    if F_test.shape[1] != F_train.shape[1]:
        raise ParameterError(f"F_test has {F_test.shape[1]} columns, F_train has "
                             f"{F_train.shape[1]}")
    if d is not None:
        d = check_int(d, "d", low=1, high=F_train.shape[1])
        F_train, F_test = F_train[:, :d], F_test[:, :d]
    y_train = _target(y_train, "y_train", F_train.shape[0], task)
    y_test = _target(y_test, "y_test", F_test.shape[0], task)
    k = check_int(n_neighbors, "n_neighbors", low=1, high=F_train.shape[0])
    if task == "regression":
        model = KNeighborsRegressor(n_neighbors=k).fit(F_train, y_train)
        pred = model.predict(F_test).reshape(y_test.shape)
        return KnnProbeResult(error=float(((pred - y_test) ** 2).mean()), accuracy=None,
                              n_neighbors=k)
    enc = _Encoding(task, y_train)
    model = KNeighborsClassifier(n_neighbors=k).fit(F_train, y_train)
    proba = model.predict_proba(F_test)  # columns follow model.classes_ == enc.classes
    error = float(((proba - enc.matrix(y_test)) ** 2).mean())
    accuracy = float((model.predict(F_test) == y_test).mean())
    return KnnProbeResult(error=error, accuracy=accuracy, n_neighbors=k)
