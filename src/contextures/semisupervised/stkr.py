"""``STKR``: spectrally transformed kernel regression with a context's kernel (few labels, many rows).

    >>> from contextures.semisupervised import STKR
    >>> y_partial = y.copy(); y_partial[unlabelled] = -1          # NaN for a real-valued target
    >>> model = STKR("knn(k=10)", transformation="inverse_laplacian").fit(X, y_partial)
    >>> model.transformation_, model.alpha_       # chosen by cross-validation on the labelled rows
    >>> model.predict(X_new), model.predict_proba(X_new), model.transduction_

The estimator (Zhai, Pukdee, Jin, Balcan and Ravikumar, "Spectrally Transformed Kernel
Regression", ICLR 2024). The context is fitted on every row of X, labelled or not: the unlabelled
rows estimate P_X and with it the eigenpairs (λ_i, μ_i) of the context's kernel
k(x, x') = Σ_i λ_i μ_i(x) μ_i(x'). A transformation s (:mod:`~contextures.semisupervised.transforms`)
gives k_s(x, x') = Σ_i s(λ_i) μ_i(x) μ_i(x'), and with the n labelled rows (x_j, y_j),

    f̂ = argmin_{f ∈ H_{k_s}} (1/n) Σ_j (f(x_j) − y_j)² + β ‖f‖²_{H_{k_s}},
    f̂(x) = ȳ + k_s(x, X_L) α̂,     α̂ = (G_s + n β I)⁻¹ (y − ȳ),

G_s = [k_s(x_i, x_j)] over the labelled rows. The targets are centred by their labelled mean ȳ,
which is added back unpenalised (the constant μ_0 is in the kernel anyway; centring keeps a
large offset from being shrunk). ``alpha`` is β.

Computation. For ``inverse_laplacian``, ``poly`` and ``identity`` the solve is matrix-free on the
context's operator (:mod:`~contextures.semisupervised._propagation`): no n × n matrix for sparse
(KNN) contexts, memory checked against the budget, and new rows are predicted through the
context's transition rows, f̂(x) = ȳ + p(x) · w. For ``topd`` the kernel is the exact top-d
contexture: the spectral engine's :class:`~contextures.spectral.Contexture` with its stable
extension, and f̂ = ȳ + Σ_{i≤d} θ_i μ_i with θ = argmin Σ_j (μ(x_j)·θ − y_j)² + nβ Σ_i θ_i²/λ_i
(only the components the sample resolves, see :mod:`contextures.spectral.extension`).

Classes. Class labels are regressed one-hot (centred), one column per class; ``predict_proba``
clips the C outputs at 0 and renormalises them (they sum to 1 before clipping, because the
centred one-hot columns sum to 0), and ``predict`` takes the most probable class.

Unlabelled rows. Class labels mark them with −1 (integers, or −1 inside an object array; another
marker with ``unlabelled=…``), a real-valued target with NaN — scikit-learn's two conventions.
With ``task="auto"`` a float target is real-valued (NaN marks its unlabelled rows) and any other
target holds class labels (−1 marks them); a float target that contains −1 mixes the conventions
and is refused, unless ``task="regression"`` says that −1 is a value. NaN among class labels is
refused likewise.

Cross-validation. When ``alpha`` is None, or the transform leaves its parameter out
(``inverse_laplacian``, ``poly``, ``topd``), both are chosen by K-fold cross-validation on the
labelled rows only (stratified for classes; the held-out labelled rows stay in the context as
unlabelled rows): the smallest mean squared error of the held-out (one-hot) targets over the grid
of :data:`~contextures.semisupervised.transforms.GRIDS` × β, where β is searched relative to the
kernel's scale, n β = r · mean_j k(x_j, x_j) over the labelled rows, r ∈ :data:`~contextures.semisupervised._engines.RIDGE_GRID`,
and (unless ``ambient="none"`` or ``ambient_weight`` is given) × the ambient kernel's weight ρ.
Every point of the grid and its error is in ``cv_results_``; the choice is ``transformation_``,
``alpha_`` and ``ambient_weight_``.

Ambient kernel. By default a linear kernel on the raw features is added to k_s, with a weight the
cross-validation chooses (0 included): f̂(x) = ȳ + (k_s(x, X_L) + c k_a(x, X_L)) α̂,
α̂ = (G_s + c K_a + nβI)⁻¹ (y − ȳ) (:mod:`~contextures.semisupervised.ambient`). With fewer than :data:`~contextures.semisupervised._engines.MIN_CV_ROWS` labelled rows there is no cross-validation and the
defaults :data:`~contextures.semisupervised._engines.DEFAULT_CHOICE` are used (said in ``cv_note_``).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._tags import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from .._memory import check_allocation, fits, resolve_budget
from ..contexts.base import Context, make_context
from ..exceptions import ParameterError
from ..validation import check_array, check_choice, check_float, check_int, check_positive
from ._engines import (  # the grid's constants are part of this module's documented interface
    DEFAULT_CHOICE,  # noqa: F401
    MIN_CV_ROWS,  # noqa: F401
    RIDGE_GRID,  # noqa: F401
    _cross_validate,
    _Dense,
    _Propagation,
    _TopD,
)
from .ambient import WEIGHT_GRID, AmbientKernel, check_ambient
from .transforms import SpectralTransform, parse_transform

TASKS = ("auto", "classification", "regression")
SOLVERS = ("auto", "propagation", "dense")
DENSE_MAX_ROWS = 4000
"""``solver="auto"`` eigendecomposes M densely up to this many rows, propagates beyond (with the
ambient weight in the grid the cross-validation solves 450 systems; on 1600 and 3200 rows one
eigendecomposition and 450 small ones took a third to three quarters of the propagation's time)."""
_PREDICT_BLOCK = 1 << 23  # entries of transition rows per prediction block (64 MB of float64)


def _is_marker(values: np.ndarray, marker) -> np.ndarray:
    """Entries equal to the unlabelled marker (none when the marker is None)."""
    if marker is None:
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind in "iuf" and isinstance(marker, numbers.Number):
        return values == marker
    out = np.zeros(values.shape, dtype=bool)
    for i, v in enumerate(values):
        if type(v) is not bool and _same_value(v, marker):
            out[i] = True
    return out


def _same_value(a, b) -> bool:
    if isinstance(a, numbers.Number) != isinstance(b, numbers.Number):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _has_nan(values: np.ndarray) -> bool:
    if values.dtype.kind == "f":
        return bool(np.isnan(values).any())
    if values.dtype.kind == "O":
        return any(isinstance(v, float) and v != v for v in values)
    return False


_MIXED = ("STKR.fit: unlabelled rows are marked by {marker!r} in class labels and by NaN in a real-valued "
          "target; {what}. Pass class labels with {marker!r} for unlabelled rows, or a float target "
          "with NaN for them, or task='regression' if {marker!r} is a value of the target")


def read_target(y, n_rows: int, task: str, marker=-1):
    """(task, labelled mask, targets of the labelled rows, classes or None) from a partial y.

    ``marker`` marks the unlabelled rows of class labels (−1 by default; None: every row is
    labelled). The rules are those of the module docstring; every refusal says which rule it
    applies.
    """
    if y is None:
        raise ParameterError("STKR requires y to be passed, but the target y is None (mark "
                             "unlabelled rows with −1 for class labels or NaN for a real-valued "
                             "target)")
    try:
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty((n_rows, 1)), y)
    except ValueError as exc:
        raise ParameterError(f"STKR.fit: {exc}") from exc
    kind = y.dtype.kind
    if task == "auto":
        if kind == "f":
            if _is_marker(y, marker).any():
                raise ParameterError(_MIXED.format(
                    marker=marker, what=f"this float target contains {marker!r}"))
            task = "regression"
        elif kind in "iubOUS":
            if _has_nan(y):
                raise ParameterError(_MIXED.format(marker=marker,
                                                   what="these class labels contain NaN"))
            task = "classification"
        else:
            raise ParameterError(f"STKR.fit: cannot read a target of dtype {y.dtype}")
    if task == "classification":
        if _has_nan(y):
            raise ParameterError(_MIXED.format(marker=marker,
                                               what="these class labels contain NaN"))
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ParameterError(f"STKR.fit: {exc} (task='classification' needs class labels)"
                                 ) from exc
        labelled = ~_is_marker(y, marker)
        if not labelled.any():
            raise ParameterError(f"STKR.fit: no labelled rows: every entry of y is {marker!r} (the "
                                 "mark of an unlabelled row); label at least one row of each of "
                                 "two classes")
        classes, codes = np.unique(y[labelled], return_inverse=True)
        if classes.size < 2:
            raise ParameterError(f"STKR.fit: only one class ({classes[0]}) among the "
                                 f"{int(labelled.sum())} labelled rows; classification needs "
                                 "labelled rows of at least two classes")
        return task, labelled, codes.astype(np.int64), classes
    try:
        values = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"STKR.fit: a real-valued target must be numeric ({exc})") from exc
    if np.isinf(values).any():
        raise ParameterError("STKR.fit: Input y contains infinity; a real-valued target marks "
                             "unlabelled rows with NaN, never ±inf")
    labelled = ~np.isnan(values)
    if not labelled.any():
        raise ParameterError("STKR.fit: no labelled rows: every entry of y is NaN (the mark of an "
                             "unlabelled row of a real-valued target)")
    return task, labelled, values[labelled], None


class STKR(BaseEstimator):
    """Spectrally transformed kernel regression on a context (see the module docstring).

    Parameters
    ----------
    context : str or Context
        The context whose dual kernel is transformed (``"knn(k=10)"``, ``"rbf(gamma=median)"``…);
        cloned, never modified. Contexts that need labels are refused (the labels are partial).
    transformation : str
        ``inverse_laplacian(eta=η)``, ``poly(p=p)``, ``topd(d=d)`` or ``identity``; a parameter
        left out is chosen by cross-validation. (Not ``transform``: scikit-learn takes any
        estimator with a ``transform`` attribute for a transformer.)
    alpha : float > 0 or None
        β, the ridge of α̂ = (G_s + nβI)⁻¹ y; None chooses it by cross-validation.
    task : ``"auto"``, ``"classification"`` or ``"regression"``
        How y is read (module docstring); ``auto`` decides from its dtype.
    unlabelled : scalar or None
        The class label that marks an unlabelled row (−1, scikit-learn's convention); None when
        every class label is a label. A real-valued target always marks them with NaN.
    cv : int ≥ 2
        Folds of the cross-validation (fewer when there are fewer labelled rows).
    solver : ``"auto"``, ``"propagation"`` or ``"dense"``
        ``propagation``: the matrix-free solves. ``dense``: M = Q Qᵀ formed and eigendecomposed
        once (memory-checked; exact, and fast for small N when cross-validation solves many
        systems). ``auto``: dense up to :data:`DENSE_MAX_ROWS` rows when it fits the memory
        budget, propagation beyond. (``topd`` always uses the spectral engine.)
    tol, max_iter
        Relative residual and iteration limit of the propagation solves (the cross-validation's
        solves use max(tol, 10⁻³)); for ``inverse_laplacian(eta=η)`` the residual of the
        context-side system is brought to tol·(1 − η), which bounds the error of its solution
        by tol (see :mod:`contextures.semisupervised._propagation`).
    random_state : int or None
        Seeds the folds and the spectral solver of ``topd`` (0 when None).
    memory_budget : int, str or None
        Bytes the fit may allocate (default: half the available memory).
    ambient : ``"linear"``, ``"rbf"`` or ``"none"``
        A kernel on the raw features added to the transformed one, k_s + c·k_a
        (:mod:`~contextures.semisupervised.ambient`); not used by ``topd``.
    ambient_weight : float ≥ 0 or None
        ρ of c = ρ · mean k(x_j, x_j) / mean k_a(x_j, x_j); None chooses it by cross-validation
        from :data:`~contextures.semisupervised.ambient.WEIGHT_GRID` (0 included).

    Attributes
    ----------
    task_ : ``"classification"`` or ``"regression"``; ``classes_`` for classification.
    transformation_ : the transformation used, with its parameter (canonical spec string).
    alpha_ : β used; ``ridge_ratio_`` the r it corresponds to (n β = r · mean k(x_j, x_j)).
    ambient_weight_ : ρ used (None without an ambient kernel).
    cv_results_ : ``{"transform": [...], "alpha": [...], "ridge_ratio": [...], "error": [...]}``
        over the grid (empty when nothing was chosen); ``cv_folds_`` and ``cv_note_``.
    transduction_ : the prediction for every fitted row (classes, or values); for classes also
        ``label_distributions_`` (n × C).
    labelled_ : indices of the labelled rows; ``n_labelled_``.
    dual_coef_ : α̂ (n_labelled × C'), ``y_offset_`` ȳ.
    context_ : the fitted context; ``contexture_`` for ``topd`` (else None).
    solver_info_ : iterations, products with M and relative residual of the final solve;
        ``n_iter_`` the iterations (1 for the direct solve of ``topd``).
    n_features_in_, fit_time_.
    """

    def __init__(self, context="knn(k=10)", transformation: str = "inverse_laplacian",
                 alpha: float | None = None, task: str = "auto", unlabelled=-1, cv: int = 5,
                 solver: str = "auto", tol: float = 1e-4, max_iter: int = 3000,
                 random_state=None, memory_budget=None, ambient: str = "linear",
                 ambient_weight: float | None = None):
        self.context = context
        self.transformation = transformation
        self.alpha = alpha
        self.task = task
        self.unlabelled = unlabelled
        self.cv = cv
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.memory_budget = memory_budget
        self.ambient = ambient
        self.ambient_weight = ambient_weight

    # --- scikit-learn plumbing ----------------------------------------------------------------
    def _classifying(self) -> bool:
        task = getattr(self, "task_", None) or self.task
        return task != "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        if self.task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif self.task == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def _check_params(self) -> tuple[SpectralTransform, float | None]:
        check_choice(self.task, "task", TASKS)
        check_choice(self.solver, "solver", SOLVERS)
        transform = parse_transform(self.transformation)
        alpha = check_positive(self.alpha, "alpha (β)", allow_none=True)
        check_int(self.cv, "cv", low=2)
        check_int(self.max_iter, "max_iter", low=1)
        check_float(self.tol, "tol", low=0.0, high=1.0, low_open=True)
        return transform, alpha

    def _ambient_weights(self, transform: SpectralTransform) -> tuple:
        """The ρ the cross-validation searches: (None,) without an ambient kernel."""
        name = check_ambient(self.ambient)
        w = self.ambient_weight
        if w is not None and (isinstance(w, bool) or not isinstance(w, numbers.Real)
                              or not np.isfinite(w) or w < 0):
            raise ParameterError(f"ambient_weight must be a number ≥ 0 or None, got {w!r}")
        if name == "none" or transform.name == "topd":
            return (None,)
        return WEIGHT_GRID if w is None else (float(w),)

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return 0

    # --- fit ----------------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit the context on every row of X and STKR on the labelled rows of y."""
        start = time.perf_counter()
        X = check_array(X, what="STKR.fit", estimator=self, reset=True, min_samples=2)
        transform, alpha = self._check_params()
        weights = self._ambient_weights(transform)
        task, labelled, targets, classes = read_target(y, X.shape[0], self.task,
                                                     self.unlabelled)
        budget = resolve_budget(self.memory_budget)
        base = self.context if isinstance(self.context, Context) else make_context(self.context)
        if base.needs_labels:
            raise ParameterError(f"{base.spec()}: a context that needs labels cannot be fitted on "
                                 "partly unlabelled rows; STKR takes label-free contexts")
        N = X.shape[0]
        rows = np.flatnonzero(labelled)
        if task == "classification":
            onehot = np.zeros((rows.size, classes.size))
            onehot[np.arange(rows.size), targets] = 1.0
            Y = onehot
        else:
            Y = targets[:, None].astype(float)
        check_allocation(8.0 * 4 * N * Y.shape[1], budget,
                         f"the fitted values of {N} rows × {Y.shape[1]} targets")
        self.task_ = task
        if classes is not None:
            self.classes_ = classes
        self.labelled_ = rows
        self.n_labelled_ = int(rows.size)
        if transform.name == "topd":
            engine = _TopD(self, base, X, transform, budget)
            self.context_ = engine.contexture.context_
        else:
            context = clone(base)
            context.fit(X)
            self.context_ = context
            dense = self.solver == "dense" or (
                self.solver == "auto" and N <= DENSE_MAX_ROWS and fits(40.0 * N * N, budget))
            engine = (_Dense if dense else _Propagation)(self, context, X, budget)
        ybar = Y.mean(axis=0)
        # centred one-hot columns sum to 0, so the last class follows from the others
        reduced = Y[:, :-1] if task == "classification" else Y
        ambient = None if weights == (None,) else AmbientKernel(self.ambient, X, rows)
        choice, results, folds, note = _cross_validate(engine, rows, reduced, transform, alpha,
                                                       task, self.cv, self._seed(),
                                                       ambient=ambient, weights=weights)
        self.cv_results_ = results
        self.cv_folds_ = folds
        self.cv_note_ = note
        chosen, ratio, beta, weight = choice
        self.ambient_weight_ = weight
        c = 0.0 if not weight else weight * engine.scale(rows) / ambient.diagonal_mean()
        extra = None if c == 0.0 else c * ambient.gram()
        self.transformation_ = chosen.spec()
        self.ridge_ratio_ = ratio
        self.alpha_ = float(beta)
        self.y_offset_ = ybar
        full = task == "classification"
        fitted = engine.fit_final(rows, reduced - ybar[:reduced.shape[1]], chosen, beta,
                                  extra=extra)
        self._ambient = None
        if extra is not None:
            # the ambient part c k_a(x, X_L) α̂ (the dual coefficients of the final solve)
            self._ambient = (ambient, c * engine.final_alpha)
            fitted = fitted + ambient.apply(X, self._ambient[1])
        fitted = _expand(fitted, full)
        self.dual_coef_ = _expand(engine.final_alpha, full)
        self.solver_info_ = engine.final_info
        self.n_iter_ = max(1, int(engine.final_info.get("iterations") or 1))
        self.contexture_ = getattr(engine, "contexture", None)
        kind, payload = engine.model()
        if kind == "topd":
            self._model = (kind, (payload[0], _expand(payload[1], full)))
        else:
            self._model = (kind, _expand(payload, full))
        F = fitted + ybar
        if task == "classification":
            P = _probabilities(F)
            self.label_distributions_ = P
            self.transduction_ = classes[P.argmax(axis=1)]
        else:
            self.transduction_ = F[:, 0]
        self.fit_time_ = time.perf_counter() - start
        return self

    # --- prediction ---------------------------------------------------------------------------
    def _decision(self, X) -> np.ndarray:
        check_is_fitted(self, "transduction_")
        X = check_array(X, what="STKR.predict", estimator=self, reset=False)
        kind, payload = self._model
        if kind == "topd":
            contexture, theta = payload
            return contexture.transform(X)[:, :theta.shape[0]] @ theta + self.y_offset_
        W = payload
        out = np.empty((X.shape[0], W.shape[1]))
        step = max(1, _PREDICT_BLOCK // max(1, W.shape[0]))
        for i0 in range(0, X.shape[0], step):
            T = self.context_.transition(X[i0:i0 + step])
            out[i0:i0 + step] = np.asarray(T @ W)
        if getattr(self, "_ambient", None) is not None:
            ambient, coef = self._ambient
            out += _expand(ambient.apply(X, coef), self.task_ == "classification")
        return out + self.y_offset_

    def predict(self, X):
        """Classes (the most probable) or values at the rows of X, by the inductive form."""
        F = self._decision(X)
        if self.task_ == "classification":
            return self.classes_[_probabilities(F).argmax(axis=1)]
        return F[:, 0]

    @available_if(lambda self: self._classifying())
    def predict_proba(self, X):
        """Class probabilities: the one-hot regression clipped at 0 and renormalised."""
        check_is_fitted(self, "transduction_")
        if self.task_ != "classification":
            raise AttributeError("predict_proba is only defined for class labels")
        return _probabilities(self._decision(X))

    def score(self, X, y):
        """Accuracy (classes) or R² (values) on fully labelled rows."""
        pred = self.predict(X)
        if self.task_ == "classification":
            return accuracy_score(y, pred)
        return r2_score(y, pred)


def _expand(F: np.ndarray, full: bool) -> np.ndarray:
    """Append the last class's column, minus the sum of the others (centred one-hot targets)."""
    return np.hstack([F, -F.sum(axis=1, keepdims=True)]) if full else F


def _probabilities(F: np.ndarray) -> np.ndarray:
    """Clip the one-hot regression at 0 and renormalise (rows sum to 1 before clipping)."""
    P = np.clip(F, 0.0, None)
    total = P.sum(axis=1, keepdims=True)
    bad = total[:, 0] <= 0
    if bad.any():  # rounding only: give the row's largest output all the mass
        P[bad] = 0.0
        P[bad, F[bad].argmax(axis=1)] = 1.0
        total[bad] = 1.0
    return P / total


# --- the two computations ---------------------------------------------------------------------
