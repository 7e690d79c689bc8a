"""Teacher context: the context variable is a feature vector of a model fitted on (X, y).

Models (``model=``): ``gbt`` (gradient boosting, 50 trees of depth 3: one output per tree, per
class for multi-class, read from ``estimators_``), ``rf`` (random forest, 50 trees with at least 5
samples per leaf: the class probabilities or the prediction of every tree), ``logistic`` (class
probabilities; classification only) and ``ridge`` (predictions of a ridge regression on the
one-hot classes or on the targets). Integer labels are classes, float labels regression targets.

Kernel (docs/theory.md §4.6): with G the teacher features of the sample, centred (G̃ = G − ḡ), and
G̃/√n = U S Vᵀ, the directions with s_j < ``threshold`` · s_1 are dropped and the rest whitened:
z(x) = (g(x) − ḡ) V_k S_k^{-1}, which has identity covariance on the sample. The context is the
feature context [1, z] (``ContextOperator(..., features=True)``): dual kernel
k⁺(x, x') = 1 + z(x)·z(x'), singular values s₀ = 1 and 1 for each kept direction. ``transition``
applies the same fitted model, centring and whitening to new points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..validation import check_array, check_choice, check_fraction, check_seed
from ._validation import check_fitted, check_indices, check_new_data
from .base import Context, register_context
from .label import check_labels, is_classification
from .operator import ContextOperator

MODELS = ("gbt", "rf", "logistic", "ridge")
N_TREES = 50


def _make_model(name: str, classification: bool, seed: int | None):
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    if name == "gbt":
        cls = GradientBoostingClassifier if classification else GradientBoostingRegressor
        return cls(n_estimators=N_TREES, max_depth=3, random_state=seed)
    if name == "rf":
        cls = RandomForestClassifier if classification else RandomForestRegressor
        return cls(n_estimators=N_TREES, min_samples_leaf=5, random_state=seed)
    if name == "logistic":
        return LogisticRegression(max_iter=1000)
    return Ridge(alpha=1.0)


def teacher_features(name: str, model: Any, X: np.ndarray, classification: bool) -> np.ndarray:
    """The raw teacher features g(x) of every row of X (m × D)."""
    if name == "gbt":
        return np.column_stack([tree.predict(X) for tree in model.estimators_.ravel()])
    if name == "rf":
        if classification:
            return np.hstack([tree.predict_proba(X) for tree in model.estimators_])
        return np.column_stack([tree.predict(X) for tree in model.estimators_])
    if name == "logistic":
        return model.predict_proba(X)
    return np.asarray(model.predict(X)).reshape(X.shape[0], -1)


@register_context
class TeacherContext(Context):
    """a = whitened features of a teacher model (see the module docstring).

    Parameters
    ----------
    model : "gbt", "rf", "logistic" or "ridge"
    threshold : float in [0, 1], relative singular value below which directions are dropped
    random_state : int or None, seed of the tree models
    """

    spec_name = "teacher"
    needs_labels = True
    value_space = "other"

    def __init__(self, model: str = "gbt", threshold: float = 0.1, random_state: int | None = 0):
        self.model = model
        self.threshold = threshold
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None, *, cache: Any = None) -> TeacherContext:
        who = self.spec()
        name = check_choice(self.model, "model", MODELS, who=who)
        threshold = check_fraction(self.threshold, "threshold", who=who)
        check_seed(self.random_state, who=who)
        X = check_array(X, what=who, min_samples=2, representable=True)
        n = X.shape[0]
        y = check_labels(y, n, who)
        classification = is_classification(y, "auto")
        if name == "logistic" and not classification:
            raise ParameterError(f"{who}: model=logistic needs class labels; use ridge, gbt or "
                                 "rf for a regression target")
        if classification and np.unique(y).size < 2:
            raise ParameterError(f"{who}: the labels have a single class; a teacher needs two")
        target = y
        if name == "ridge" and classification:
            classes, codes = np.unique(y, return_inverse=True)
            target = np.eye(classes.size)[codes]
        elif not classification:
            target = np.asarray(y, dtype=np.float64)
            if target.ndim == 2 and name in ("gbt",) and target.shape[1] > 1:
                raise ParameterError(f"{who}: model=gbt takes a single regression target")
        model = _make_model(name, classification, self.random_state)
        model.fit(X, target)
        G = teacher_features(name, model, X, classification)
        mean = G.mean(axis=0)
        _, s, Vt = np.linalg.svd((G - mean) / np.sqrt(n), full_matrices=False)
        if s.size == 0 or s[0] <= 1e-12 * max(1.0, np.abs(G).max()):
            raise ParameterError(f"{who}: the teacher's features are constant on the sample")
        keep = (s >= threshold * s[0]) & (s > 1e-10 * s[0])
        self.model_ = model
        self.task_ = "classification" if classification else "regression"
        self.n_samples_ = n
        self.n_features_in_ = X.shape[1]
        self.feature_mean_ = mean
        self.singular_values_ = s
        self.projection_ = Vt[keep].T / s[keep]
        self.n_directions_ = int(keep.sum())
        self.features_ = (G - mean) @ self.projection_
        return self

    def operator(self, memory_budget: int | None = None) -> ContextOperator:
        check_fitted(self)
        F = np.hstack([np.ones((self.n_samples_, 1)), self.features_])
        return ContextOperator(F, memory_budget=memory_budget, features=True,
                               description=f"{self.spec()}: linear kernel of {self.n_directions_} "
                                           f"whitened teacher direction(s), n={self.n_samples_}")

    def transition(self, X_new: np.ndarray) -> np.ndarray:
        """Feature rows [1, z(x)] of new points (for the features=True extension)."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        G = teacher_features(self.model, self.model_, X_new, self.task_ == "classification")
        Z = (G - self.feature_mean_) @ self.projection_
        return np.hstack([np.ones((X_new.shape[0], 1)), Z])

    def sample(self, indices: np.ndarray, random_state: Any = None) -> np.ndarray:
        """The whitened teacher features z(x_i) (deterministic given x_i)."""
        check_fitted(self)
        idx = check_indices(indices, self.n_samples_, f"{self.spec()}.sample")
        return self.features_[idx].copy()
