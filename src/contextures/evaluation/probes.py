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

For new rows G (centred with the training means) let H = G R_α⁻¹. Since R_α⁻¹ is upper
triangular, G[:, :d] R_α[:d, :d]⁻¹ = H[:, :d], hence

    ŷ_d(G) = ȳ + Σ_{j ≤ d} H[:, j] z[j] = ȳ + G W[:, d − 1],   W = R_α⁻¹ diag(z) U,

with U the upper triangular matrix of ones (one W per output column of z; W's column d − 1 is w_d
padded with zeros, and W is upper triangular): the whole curve costs one factorisation per α
and one n × D by D × D triangular product per α and evaluation set — no refit per d. R_α need not come from a QR of A:
it is the upper Cholesky factor of AᵀA = F_cᵀF_c + α I, and z = R_α⁻ᵀ F_cᵀ y_c, so each α costs
one D × D Cholesky (about 8× fewer operations than the (r + D) × D QR). When that Gram matrix is
ill-conditioned (largest diagonal over α above 10⁸, where squaring the condition number would
cost accuracy) the QR of A is used instead. (The eigenfunctions are orthonormal on the pretrain
sample, not on the downstream rows, so a plain per-column regression would be wrong; the QR
handles any Gram matrix.) α must be > 0, which keeps every R_α[:d, :d] invertible.

Bounded memory: the rows are read in blocks of n_b rows (``_BLOCK_BYTES`` of working memory), never
copied whole. With a shift c (the column means of all the probe's training rows, a first cheap
pass) and x̃ = x − c, each group of rows (a CV fold; the fit and validation parts of a split) has
its moments n_g, Σx̃, Σỹ, Σx̃x̃ᵀ, Σx̃ỹᵀ accumulated in one pass; a union of groups adds them, and

    F_cᵀF_c = Σx̃x̃ᵀ − (Σx̃)(Σx̃)ᵀ/n,   F_cᵀy_c = Σx̃ỹᵀ − (Σx̃)(Σỹ)ᵀ/n,   m = c + Σx̃/n,

so the K cross-validation fits (fold k's Gram matrix: the total's minus the held-out fold's) and
the refit on all rows cost one pass over the rows, not K + 1. The QR fallback needs the rows: a blocked (TSQR) QR of [1, x̃, ỹ]
per group (each block stacked on the factor so far), the groups' factors stacked and factored
again for a union; with the column of ones first, the rest of R is the R factor of the centred
[F_c, y_c], whose first D rows are [R₀, Q₀ᵀy_c]. The error curves are sums over rows of
(ŷ_d − y)² and of correct arg-maxes, accumulated a block at a time: a block's ŷ_d for all d is an
n_b × D × t array, so the working memory is bounded by the block size (plus the O(n) row indices
of the folds), whatever n.

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
from scipy.linalg.blas import dtrmm
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from ..exceptions import ParameterError
from ..validation import check_array, check_int, check_positive

DEFAULT_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
"""Default ridge strengths (scikit-learn's scale: penalty α‖w‖² against a sum of squares)."""

TASKS = ("regression", "classification")


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
"""Cholesky of F_cᵀF_c + αI when max diag(F_cᵀF_c) ≤ this × α; QR of [R₀; √α I] otherwise
(R₀ by the blocked TSQR, which keeps the rows' conditioning: a jittered Cholesky of the Gram
matrix would square it, the very loss the fallback exists to avoid)."""

_BLOCK_BYTES = 16 * 1024**2
"""Working memory of one row block: its centred features and its prefix predictions."""


def _block_rows(D: int, t: int) -> int:
    """Rows per block: the block's n_b × D × t predictions (one α) and two n_b × D arrays fit
    ``_BLOCK_BYTES``."""
    return max(1, _BLOCK_BYTES // (8 * D * (t + 2)))


class _Rows:
    """Rows of a feature matrix and their encoded targets, read in blocks (all rows, or a subset
    given by an index array)."""

    def __init__(self, F: np.ndarray, y: np.ndarray, enc: _Encoding, index=None):
        self.F, self.y, self.enc, self.index = F, y, enc, index
        self.n = F.shape[0] if index is None else index.size

    def blocks(self, rows: int):
        """(features, target matrix, label indices or None) of each block of ``rows`` rows."""
        for b0 in range(0, self.n, rows):
            b1 = min(self.n, b0 + rows)
            at = slice(b0, b1) if self.index is None else self.index[b0:b1]
            y = self.y[at]
            yield self.F[at], self.enc.matrix(y), self.enc.labels(y)


@dataclass
class _Moments:
    """Shifted sums of a set of rows: n, Σx̃, Σỹ, Σx̃x̃ᵀ, Σx̃ỹᵀ with x̃ = x − c, ỹ = y − c_y."""

    n: int
    sx: np.ndarray
    sy: np.ndarray
    xx: np.ndarray
    xy: np.ndarray

    def __add__(self, other: _Moments) -> _Moments:
        return _Moments(self.n + other.n, self.sx + other.sx, self.sy + other.sy,
                        self.xx + other.xx, self.xy + other.xy)

    def __sub__(self, other: _Moments) -> _Moments:
        return _Moments(self.n - other.n, self.sx - other.sx, self.sy - other.sy,
                        self.xx - other.xx, self.xy - other.xy)


class _Design:
    """The probe's training rows split into groups (CV folds, fit/validation rows, or one group),
    with each group's shifted moments accumulated in one blocked pass; any union of groups gives
    its :class:`_PrefixRidge` without touching the rows again (the QR fallback aside)."""

    def __init__(self, groups: list[_Rows], D: int, t: int):
        self.groups, self.D, self.t = groups, D, t
        self.rows = _block_rows(D, t)
        total = sum(g.n for g in groups)
        shift_x, shift_y = np.zeros(D), np.zeros(t)
        for g in groups:  # the shift c: column means of all rows (a cheap first pass)
            for Fb, Yb, _ in g.blocks(self.rows):
                shift_x += Fb.sum(axis=0)
                shift_y += Yb.sum(axis=0)
        self.shift_x, self.shift_y = shift_x / total, shift_y / total
        self.moments = [self._moments(g) for g in groups]
        self.total = self.moments[0]
        for m in self.moments[1:]:
            self.total = self.total + m
        self._r = None

    def _moments(self, group: _Rows) -> _Moments:
        m = _Moments(0, np.zeros(self.D), np.zeros(self.t), np.zeros((self.D, self.D)),
                     np.zeros((self.D, self.t)))
        for Fb, Yb, _ in group.blocks(self.rows):
            X = Fb - self.shift_x
            Y = Yb - self.shift_y
            m.n += X.shape[0]
            m.sx += X.sum(axis=0)
            m.sy += Y.sum(axis=0)
            m.xx += X.T @ X
            m.xy += X.T @ Y
        return m

    def ridge(self, members) -> _PrefixRidge:
        """The prefix ridge fitted on the union of the groups ``members`` (its moments: the
        total's, less those of the groups left out, O(D²) per group whatever their number)."""
        members = sorted(members)
        m = self.total
        for g in sorted(set(range(len(self.groups))) - set(members)):
            m = m - self.moments[g]
        return _PrefixRidge(m, self.shift_x, self.shift_y, lambda: self._r_factor(members))

    def _r_factor(self, members) -> tuple[np.ndarray, np.ndarray]:
        """(R₀, Q₀ᵀY_c) of the union's centred rows, by a blocked (TSQR) QR of [1, X̃, Ỹ].

        Each group's R factor is built by QR of its previous factor stacked on its next block
        (computed once, on first need, for all groups); a union's factor is the QR of its groups'
        stacked factors. With the column of ones first, R = [[√n, ·], [0, R̄]] where R̄ is the R
        factor of the centred [X_c, Y_c] = Q₀[R₀, Q₀ᵀY_c] + (residual ⟂ Q₀), so R₀ and Q₀ᵀY_c are
        R̄'s first D rows. The rows are needed, unlike the Cholesky path, but only a block at
        a time.
        """
        p = 1 + self.D + self.t
        if self._r is None:
            self._r = []
            for g in self.groups:
                R = np.zeros((0, p))
                for Fb, Yb, _ in g.blocks(self.rows):
                    M = np.empty((Fb.shape[0], p))
                    M[:, 0] = 1.0
                    np.subtract(Fb, self.shift_x, out=M[:, 1:1 + self.D])
                    np.subtract(Yb, self.shift_y, out=M[:, 1 + self.D:])
                    R = np.linalg.qr(np.vstack([R, M]), mode="r")
                self._r.append(R)
        R = np.linalg.qr(np.vstack([self._r[g] for g in members]), mode="r")
        R = np.vstack([R, np.zeros((max(0, p - R.shape[0]), p))])  # fewer rows than columns
        return R[1:1 + self.D, 1:1 + self.D], R[1:1 + self.D, 1 + self.D:]


class _PrefixRidge:
    """Ridge on every column prefix of F, for several α, from one Gram matrix (module docstring).

    Built from the shifted moments of its training rows: with m = c + Σx̃/n and ȳ = c_y + Σỹ/n,
    F_cᵀF_c = Σx̃x̃ᵀ − (Σx̃)(Σx̃)ᵀ/n and F_cᵀY_c = Σx̃ỹᵀ − (Σx̃)(Σỹ)ᵀ/n (the shift c, the mean of
    all the probe's training rows, keeps the correction small, so nothing cancels).
    """

    def __init__(self, m: _Moments, shift_x: np.ndarray, shift_y: np.ndarray, r_factor):
        self.f_mean = shift_x + m.sx / m.n
        self.y_mean = shift_y + m.sy / m.n
        self.gram = m.xx - np.outer(m.sx, m.sx) / m.n
        self.FtY = m.xy - np.outer(m.sx, m.sy) / m.n
        self.D = self.gram.shape[0]
        self._r_factor = r_factor
        self._qr = None

    def solve(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """(R_α, z) for one ridge strength: R_αᵀR_α = F_cᵀF_c + αI, z = R_α⁻ᵀ F_cᵀ y_c."""
        if np.max(np.diag(self.gram), initial=0.0) <= CHOLESKY_MAX_RATIO * alpha:
            try:
                Ra = cholesky(self.gram + alpha * np.eye(self.D), lower=False)
                return Ra, solve_triangular(Ra, self.FtY, trans="T", lower=False)
            except LinAlgError:
                pass
        if self._qr is None:
            self._qr = self._r_factor()
        R0, QtY = self._qr
        A = np.vstack([R0, np.sqrt(alpha) * np.eye(self.D)])
        Qa, Ra = np.linalg.qr(A)
        return Ra, Qa[:R0.shape[0]].T @ QtY


def _prefix_weights(Ra: np.ndarray, z: np.ndarray) -> np.ndarray:
    """W (D × D × t) with W[:, d − 1] = R_α[:d, :d]⁻¹ z[:d] (zero-padded): the weights of the
    probe on the first d columns, for every d.

    Column j of R_α⁻¹ solves R_α[:j+1, :j+1] x = e_j (back substitution never reads beyond it),
    so W[:, d − 1] = Σ_{j<d} R_α⁻¹[:, j] z[j], a cumulative sum over j.
    """
    Rinv = solve_triangular(Ra, np.eye(Ra.shape[0]), lower=False)
    return np.cumsum(Rinv[:, :, None] * z[None, :, :], axis=1)


def _curves(rows: _Rows, path: _PrefixRidge, solutions: list[tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean squared error (A × D) and accuracy (A × D, classification) of ŷ_d on ``rows`` for
    every d and every (R_α, z) in ``solutions``, a block of rows at a time.

    ŷ_d(G) = ȳ + (G − m) W[:, d − 1] (:func:`_prefix_weights`; equal to the cumulative sum
    ȳ + Σ_{j≤d} H[:, j] z[j] of the module docstring with H = (G − m) R_α⁻¹), so a block G_b
    of n_b rows costs one n_b × D by D × (D t) product per α; the squared errors and correct
    arg-maxes are summed over the block's rows, and the sums over blocks are divided by n t (and
    n) at the end.
    """
    D, t = path.D, path.y_mean.size
    sse = np.zeros((len(solutions), D))
    hits = None if rows.enc.task == "regression" else np.zeros((len(solutions), D))
    for a, (Ra, z) in enumerate(solutions):  # one D × D t weight matrix in memory at a time
        W = _prefix_weights(Ra, z).reshape(D, D * t)
        for Fb, Yb, labels in rows.blocks(_block_rows(D, t)):
            Gc = Fb - path.f_mean
            if t == 1:  # W is upper triangular: (G_b − m) W by a triangular product, half the work
                pred = dtrmm(1.0, W, Gc.T, side=0, lower=0, trans_a=1).T[:, :, None]
            else:
                pred = (Gc @ W).reshape(-1, D, t)  # n_b × D × t, ŷ_d − ȳ
            if hits is not None:
                hits[a] += ((pred + path.y_mean).argmax(axis=2) == labels[:, None]).sum(axis=0)
            pred -= (Yb - path.y_mean)[:, None, :]
            sse[a] += np.einsum("idk,idk->d", pred, pred)
    mse = sse / (rows.n * t)
    return mse, None if hits is None else hits / rows.n


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
    alphas = _check_alphas(alphas)

    refit = F_val is None
    enc = _Encoding(task, y_train)
    n = F_train.shape[0]
    if refit and cv_folds is not None:
        if y_val is not None:
            raise ParameterError("y_val given without F_val")
        k = check_int(cv_folds, "cv_folds", low=2, high=max(2, n))
        groups = [_Rows(F_train, y_train, enc, rows) for rows in _cv_folds(y_train, task, k,
                                                                            random_state)]
    elif refit:
        if y_val is not None:
            raise ParameterError("y_val given without F_val")
        if not 0 < val_fraction < 1:
            raise ParameterError(f"val_fraction must be in (0, 1), got {val_fraction}")
        stratify = y_train if task == "classification" else None
        try:  # the split of the row numbers is the split scikit-learn makes of the rows
            fit_rows, val_rows = train_test_split(np.arange(n), test_size=val_fraction,
                                                  random_state=random_state, stratify=stratify)
        except ValueError:  # a class too small to stratify
            fit_rows, val_rows = train_test_split(np.arange(n), test_size=val_fraction,
                                                  random_state=random_state)
        groups = [_Rows(F_train, y_train, enc, fit_rows), _Rows(F_train, y_train, enc, val_rows)]
    else:
        F_val = check_array(F_val, what="F_val", allow_1d=True)
        if F_val.shape[1] < D:
            raise ParameterError(f"F_val has {F_val.shape[1]} columns, F_train has {D}")
        F_val = F_val[:, :D]
        y_val = _target(y_val, "y_val", F_val.shape[0], task)
        groups = [_Rows(F_train, y_train, enc)]
    if task == "regression":
        for name, y in (("y_val", y_val), ("y_test", y_test)):
            if y is not None and y.shape[1] != y_train.shape[1]:
                raise ParameterError(f"{name} has {y.shape[1]} outputs, y_train has "
                                     f"{y_train.shape[1]}")
    t = y_train.shape[1] if task == "regression" else enc.classes.size
    val_err, test_err, test_acc = _probe_errors(
        _Design(groups, D, t), _Rows(F_test, y_test, enc),
        None if refit else _Rows(F_val, y_val, enc), alphas, cv=cv_folds is not None)

    return _selected_curve(task, alphas, val_err, test_err, test_acc)


def _selected_curve(task: str, alphas: np.ndarray, val_err: np.ndarray, test_err: np.ndarray,
                    test_acc: np.ndarray | None) -> ProbeCurve:
    """The curve at α_d = argmin_α of the validation error for each d, and both readings of d."""
    D = val_err.shape[1]
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


def _check_alphas(alphas) -> np.ndarray:
    alphas = np.array([check_positive(a, "alpha") for a in np.atleast_1d(alphas)])
    if alphas.size == 0:
        raise ParameterError("alphas is empty")
    return alphas


def _cv_folds(y, task: str, k: int, random_state) -> list[np.ndarray]:
    """The validation rows of each of K folds (sorted), stratified for classification when every
    class has at least K rows; fold k fits on the other K − 1."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = y.shape[0]
    splitter, labels = KFold(n_splits=k, shuffle=True, random_state=random_state), None
    if task == "classification":
        labels = np.asarray(y).reshape(n, -1)[:, 0]
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() >= k:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    return [np.sort(val) for _, val in splitter.split(np.zeros((n, 1)), labels)]


def _probe_errors(design: _Design, test: _Rows, val: _Rows | None, alphas: np.ndarray,
                  cv: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validation MSE, test MSE and test accuracy (each α × D) of the prefix ridge paths.

    ``val`` None: the design's groups validate in turn — with ``cv``, fold k's rows are
    predicted by the fit on the other folds and the validation error is Σ_k (n_k / n) err_k;
    otherwise group 0 fits and group 1 validates. The test curve is always the fit on all the
    design's rows. Given ``val`` rows, the design's one group fits and they validate.
    """
    D, K = design.D, len(design.groups)
    val_err = np.zeros((alphas.size, D))
    final = design.ridge(range(K))
    solutions = [final.solve(a) for a in alphas]
    if val is not None:
        val_err, _ = _curves(val, final, solutions)
    else:
        n = sum(g.n for g in design.groups)
        for k in range(K) if cv else [1]:
            path = design.ridge([g for g in range(K) if g != k] if cv else [0])
            err, _ = _curves(design.groups[k], path, [path.solve(a) for a in alphas])
            val_err += err * (design.groups[k].n / n) if cv else err
    test_err, test_acc = _curves(test, final, solutions)
    return val_err, test_err, test_acc


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
