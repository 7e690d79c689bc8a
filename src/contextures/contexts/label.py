"""Label context: the context variable is the label y of x (needs labels at ``fit``).

Classification (integer, boolean or string y, or ``task="classification"``): the C classes present are
the context values; P[i, c] = 1{y_i = c} (n × C sparse), c_c = P_A(c) = n_c / n and
Q = P diag(c)^{-1/2} / √n has orthonormal columns, so the singular values are s₀ = 1, then 1
(C − 1 times), then 0: the contexture is the span of the class indicators. ``classes_`` maps
column c to its label.

``balanced=true`` changes only the neural objective (the supervised loss divides by √P_A(A),
[ICML Thm 7], so it learns the contexture exactly); the operator and the spectrum are those of
``label``. ``class_prior_`` (P_A) and ``balanced_weights_`` (1/√P_A) are exposed for it.

Regression (float y, or ``task="regression"``): the linear kernel of the whitened centred targets
(docs/theory.md §4.4): with Ỹ = (y − ȳ) Σ^{-1/2} (Σ the covariance of y under uniform P_X; constant target
columns are dropped) the context is the feature context [1, Ỹ] (``ContextOperator(...,
features=True)``), so s₀ = 1 and s₁ = … = s_t = 1 for t independent targets.

New points have no label: ``transition`` raises ParameterError (no out-of-sample extension).
``sample`` returns one-hot rows (classification) or the target rows (regression);
``sample_indices`` returns class columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import ParameterError
from ..validation import check_array, check_bool, check_choice
from ._validation import check_fitted, check_indices
from .base import Context, register_context
from .operator import ContextOperator


def check_labels(y: Any, n: int, who: str) -> np.ndarray:
    if y is None:
        raise ParameterError(f"{who}: this context needs labels: call fit(X, y) with the "
                             "training targets")
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{who}: cannot read the labels y ({exc})") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ParameterError(f"{who}: y must have one entry per sample ({n}), got shape "
                             f"{arr.shape}")
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ParameterError(f"{who}: y contains NaN or infinite values")
    if arr.dtype.kind == "O":
        try:
            np.unique(arr)
        except TypeError as exc:
            raise ParameterError(f"{who}: labels of mixed types cannot be compared") from exc
    return arr


def is_classification(y: np.ndarray, task: str) -> bool:
    """``auto``: integer, boolean, string or object labels are classes; floats are targets."""
    if task == "auto":
        return y.ndim == 1 and y.dtype.kind in "biuUSO"
    return task == "classification"


def whiten_targets(y: np.ndarray, who: str) -> np.ndarray:
    """(y − ȳ) Σ^{-1/2} over the non-degenerate directions of the target covariance."""
    Y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    Yc = Y - Y.mean(axis=0)
    n = Y.shape[0]
    U, s, _ = np.linalg.svd(Yc / np.sqrt(n), full_matrices=False)
    keep = s > 1e-10 * max(1.0, s.max(initial=0.0))
    if not keep.any():
        raise ParameterError(f"{who}: the regression target is constant; it carries no context")
    return U[:, keep] * np.sqrt(n)


@register_context
class LabelContext(Context):
    """a = y (see the module docstring).

    Parameters
    ----------
    balanced : bool
        The class-balanced variant of the supervised objective (operator unchanged).
    task : "auto", "classification" or "regression"
        ``auto``: integer/boolean labels are classes, float labels are regression targets.
    """

    spec_name = "label"
    needs_labels = True
    value_space = "label"

    def __init__(self, balanced: bool = False, task: str = "auto"):
        self.balanced = balanced
        self.task = task

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> LabelContext:
        who = self.spec()
        check_bool(self.balanced, "balanced", who=who)
        task = check_choice(self.task, "task", ("auto", "classification", "regression"), who=who)
        X = check_array(X, what=who, min_samples=1, representable=True)
        n = X.shape[0]
        y = check_labels(y, n, who)
        self.n_samples_ = n
        self.n_features_in_ = X.shape[1]
        if is_classification(y, task):
            if y.ndim != 1:
                raise ParameterError(f"{who}: class labels must be one column")
            classes, codes = np.unique(y, return_inverse=True)
            self.task_ = "classification"
            self.classes_ = classes
            self.codes_ = codes.astype(np.int64)
            counts = np.bincount(self.codes_, minlength=classes.size)
            self.class_prior_ = counts / n
            self.balanced_weights_ = 1.0 / np.sqrt(self.class_prior_)
        else:
            if y.dtype.kind not in "biuf":
                raise ParameterError(f"{who}: regression targets must be numeric")
            self.task_ = "regression"
            self.y_ = np.asarray(y, dtype=np.float64).reshape(n, -1)
            self.features_ = whiten_targets(self.y_, who)
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        n = self.n_samples_
        if self.task_ == "classification":
            C = self.classes_.size
            P = sp.csr_matrix((np.ones(n), self.codes_, np.arange(n + 1)), shape=(n, C))
            return ContextOperator(P, memory_budget=memory_budget,
                                   description=f"{self.spec()}: exact sparse P over {C} classes, "
                                               f"n={n}")
        F = np.hstack([np.ones((n, 1)), self.features_])
        return ContextOperator(F, memory_budget=memory_budget, features=True,
                               description=f"{self.spec()}: linear kernel of the whitened "
                                           f"centred target ({F.shape[1] - 1} direction(s)), n={n}")

    def transition(self, X_new: np.ndarray):
        raise ParameterError(f"{self.spec()}: the labels of new points are unknown, so the label "
                             "context has no transition rows (no out-of-sample extension); "
                             "use a context of the inputs to embed new points")

    def sample_indices(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """The class column y_i of each row (the label is deterministic given x_i)."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample_indices")
        if self.task_ != "classification":
            raise ParameterError(f"{self.spec()}: regression targets are not a finite set of "
                                 "values; use sample()")
        return self.codes_[idx]

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """One-hot class rows (n_idx × C), or the raw target rows for regression."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample")
        if self.task_ == "classification":
            out = np.zeros((idx.size, self.classes_.size))
            out[np.arange(idx.size), self.codes_[idx]] = 1.0
            return out
        return self.y_[idx].copy()
