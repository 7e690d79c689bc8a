"""``Contexture``: the exact top-d contexture of a context on a data set, as a scikit-learn transformer.

    >>> from contextures.spectral import Contexture
    >>> model = Contexture("knn(k=30)", n_components=16, random_state=0).fit(X)
    >>> model.singular_values_          # s_1 ≥ … ≥ s_16 (s_0 = 1 excluded)
    >>> Z = model.transform(X_new)      # μ_1..μ_16 at new points

``fit`` builds the context's finite-sample operator Q = D_π^{1/2} P D_c^{-1/2} (§2 of the spec)
and solves for its top singular triplets. ``transform`` evaluates the out-of-sample extension

    μ_i(x) = s_i⁻¹ Σ_a P⁺(a | x) ν_i(a) = p(x) · W[:, i],    W = D_c^{-1/2} V / s,

through the context's transition rows p(x) = P⁺(· | x). On the training sample this reproduces
μ_i (unit variance, zero mean under π) for contexts whose transition rows of the training points
are the rows of P. Convention: ``transform`` of the very array passed to ``fit`` (same values)
returns the fitted ``eigenfunctions_``; this matters for KNN, where a training point given as a new
point would count itself among its own neighbours.

Mixtures (spec §5): ``mix(…, weights=minimax)`` has its weights resolved by the exact minimax
re-weighting of :mod:`contextures.spectral.mixing` (history in ``weights_history_``);
``concat(A,B,…)`` fits one Contexture per component with ``n_components`` each and concatenates
their eigenfunctions and singular values (in component order, so not sorted overall).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._memory import check_allocation, resolve_budget
from ..contexts.base import Context, make_context
from ..contexts.mixtures import ConcatenationContext, MixtureContext
from ..exceptions import ParameterError
from .approximate import solve_subsample
from .iterative import DEFAULT_TOL
from .mixing import minimax_weights
from .select import _check_components, parse_solver, solve


def _as_features(X, what: str) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: features must be numeric ({exc})") from exc
    if arr.ndim == 1:
        raise ParameterError(f"{what}: expected a 2-D array (samples × features), got a 1-D array; "
                        "reshape a single feature with X.reshape(-1, 1)")
    if arr.ndim != 2:
        raise ParameterError(f"{what}: expected a 2-D array (samples × features), got {arr.ndim}-D")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        kind = "NaN" if np.isnan(arr).any() else "infinite"
        raise ParameterError(f"{what}: {kind} values in {rows.size} row(s) (first: row {rows[0]}); "
                        "impute or drop them first")
    return arr


def _fingerprint(X: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(X).tobytes(), digest_size=16).hexdigest()


class Contexture(TransformerMixin, BaseEstimator):
    """The exact top-d singular functions of a context's expectation operator.

    Parameters
    ----------
    context : str or Context
        A context spec (``"knn(k=30)"``, ``"rbf(gamma=0.5)"``, ``"label"``...) or a Context; it is
        cloned, never modified.
    n_components : int
        d, the number of singular functions (s_0 = 1 and the constant function excluded).
    solver : str
        ``auto`` (default), ``dense``, ``svd_thin``, ``krylov``, ``matrix_free``, ``arpack``,
        ``nystrom(m=...)`` or ``subsample(m=...)``; see :mod:`contextures.spectral.select`.
    random_state : int, Generator or None
        Seeds the solver's start vectors, Nyström landmarks and subsamples.
    memory_budget : int, str or None
        Bytes (or ``"8G"``) the computation may allocate; default half the available memory.
    tol : float
        Residual tolerance ‖M u − s² u‖ of the iterative solvers.

    Attributes
    ----------
    singular_values_ : (d,) s_1 ≥ … ≥ s_d.
    spectrum_ : (d + 1,) s_0 = 1 followed by s_1..s_d.
    eigenfunctions_ : (n, d) μ_i on the training sample (mean 0, variance 1 under π).
    residuals_ : (d,) ‖M u_i − s_i² u_i‖ on the operator that was solved.
    solver_ : the solver that ran (``auto`` resolved), and ``solver_notes_`` why and how.
    converged_ : whether the solver reached ``tol``.
    context_ : the fitted context (for ``subsample``: fitted on the subsample).
    result_ : the full :class:`~contextures.spectral.result.SpectralResult`.
    n_features_in_, fit_time_ (seconds spent building the operator and solving).
    """

    def __init__(self, context="knn(k=30)", n_components: int = 8, solver: str = "auto",
                 random_state=None, memory_budget=None, tol: float = DEFAULT_TOL):
        self.context = context
        self.n_components = n_components
        self.solver = solver
        self.random_state = random_state
        self.memory_budget = memory_budget
        self.tol = tol

    def fit(self, X, y=None):
        """Build the context on X (and y, for label contexts) and solve for its contexture."""
        X = _as_features(X, "Contexture.fit")
        n = X.shape[0]
        d = _check_components(self.n_components, n)
        if not (isinstance(self.tol, int | float) and self.tol > 0):
            raise ParameterError(f"tol must be a positive number, got {self.tol!r}")
        call = parse_solver(self.solver)
        budget = resolve_budget(self.memory_budget)
        base = self.context if isinstance(self.context, Context) else make_context(self.context)
        # the least any solver allocates (its n × (d + 1) left vectors and eigenfunctions), checked
        # before the context is built: a hopeless request is refused at once
        check_allocation(16.0 * n * (d + 1), budget,
                         f"the {d + 1} eigenvectors and eigenfunctions of {n} samples")
        rng = np.random.default_rng(self.random_state)
        start = time.perf_counter()
        self.components_ = None
        self.weights_history_ = None
        if isinstance(base, ConcatenationContext):
            return self._fit_concat(base, X, y, d, start)
        if call.name == "subsample":
            result, context, rows, op = solve_subsample(base, X, y, d, m=call.params.get("m"),
                                                        random_state=rng, memory_budget=budget,
                                                        tol=self.tol)
            W = op.extension_weights(result.right_vectors, result.singular_values)
            # rows outside the subsample: the extension; rows in it: their fitted values (as a
            # new point, a KNN training row would count itself among its neighbours)
            mu = self._extend(context, X, W)
            mu[rows] = result.eigenfunctions
            self.eigenfunctions_ = mu
        else:
            context = clone(base)
            context.fit(X, y)
            if isinstance(context, MixtureContext) and context.weights_ is None:
                _, history, result = minimax_weights(context, d, solver=call, tol=self.tol,
                                                     random_state=rng, memory_budget=budget)
                self.weights_history_ = history
                op = context.operator(budget)
            else:
                op = context.operator(budget)
                result = solve(op, d, call, tol=self.tol, random_state=rng,
                               memory_budget=budget)
            W = op.extension_weights(result.right_vectors, result.singular_values)
            self.eigenfunctions_ = result.eigenfunctions
        self.fit_time_ = time.perf_counter() - start
        self.context_ = context
        self.result_ = result
        self.singular_values_ = result.singular_values
        self.spectrum_ = np.concatenate([[1.0], result.singular_values])
        self.residuals_ = result.residuals
        self.solver_ = result.solver
        self.solver_notes_ = list(result.notes)
        self.converged_ = result.converged
        self.n_features_in_ = X.shape[1]
        self.extension_weights_ = W
        self._train_fingerprint = (X.shape, _fingerprint(X))
        return self

    def _fit_concat(self, base: ConcatenationContext, X, y, d: int, start: float):
        """concat(A,B,…): one Contexture per component, eigenfunctions side by side."""
        parts = [clone(self).set_params(context=c).fit(X, y) for c in base.component_contexts()]
        self.components_ = parts
        self.context_ = base
        self.result_ = None
        self.eigenfunctions_ = np.hstack([p.eigenfunctions_ for p in parts])
        self.singular_values_ = np.concatenate([p.singular_values_ for p in parts])
        self.spectrum_ = None
        self.residuals_ = np.concatenate([p.residuals_ for p in parts])
        self.solver_ = "+".join(p.solver_ for p in parts)
        self.solver_notes_ = [f"{p.context_.spec()}: {note}" for p in parts
                              for note in p.solver_notes_]
        self.converged_ = all(p.converged_ for p in parts)
        self.n_features_in_ = X.shape[1]
        self.extension_weights_ = None
        self._train_fingerprint = (X.shape, _fingerprint(X))
        self.fit_time_ = time.perf_counter() - start
        return self

    @staticmethod
    def _extend(context, X: np.ndarray, W: np.ndarray) -> np.ndarray:
        rows = context.transition(X)
        return np.asarray(rows @ W)

    def transform(self, X):
        """μ_1..μ_d at the rows of X (n_new × d); the fitted ones for the training array itself."""
        check_is_fitted(self, "eigenfunctions_")
        X = _as_features(X, "Contexture.transform")
        if X.shape[1] != self.n_features_in_:
            raise ParameterError(f"Contexture.transform: X has {X.shape[1]} features, the model was "
                            f"fitted on {self.n_features_in_}")
        if (X.shape, _fingerprint(X)) == self._train_fingerprint:
            return self.eigenfunctions_.copy()
        if getattr(self, "components_", None) is not None:
            return np.hstack([p.transform(X) for p in self.components_])
        return self._extend(self.context_, X, self.extension_weights_)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y)`` then the fitted eigenfunctions μ_1..μ_d on X."""
        return self.fit(X, y).eigenfunctions_.copy()
