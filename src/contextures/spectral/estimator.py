"""``Contexture``: the exact top-d contexture of a context on a data set, as a scikit-learn transformer.

    >>> from contextures.spectral import Contexture
    >>> model = Contexture("knn(k=30)", n_components=16, random_state=0).fit(X)
    >>> model.singular_values_          # s_1 ≥ … ≥ s_16 (s_0 = 1 excluded)
    >>> Z = model.transform(X_new)      # μ_1..μ_16 at new points

``fit`` builds the context's finite-sample operator Q = D_π^{1/2} P D_c^{-1/2} and solves for its
top singular triplets. ``fit_transform`` and ``eigenfunctions_`` give the in-sample singular
functions μ_i (exact on the fitted rows). ``transform`` evaluates the out-of-sample extension

    μ_i(x) = s_i⁻¹ Σ_a P⁺(a | x) ν_i(a) = p(x) · W[:, i],    W = D_c^{-1/2} V / s,

through the context's transition rows p(x) = P⁺(· | x): a function of x alone, the same for a
row whether or not it was fitted (no special case for the training array). With the default
``extension="stable"`` it returns only the components the sample resolves, judged on held-out
rows by cross-fitting, clipped to the range each takes on the fitted rows
(:mod:`contextures.spectral.extension`); ``n_components_resolved_`` says how many. τ and every
other use of the spectrum keep all d exact singular values.

A new point that equals a training row is a new point like any other: for KNN it counts that row
among its k nearest (at distance 0), while the fitted row itself excludes itself by index. For
the resolved components the two differ by (ν_i(x_j) − ν_i(x_(k)))/(k s_i), small because those
components vary slowly between neighbours.

Mixtures: ``mix(…, weights=minimax)`` has its weights resolved by the exact minimax re-weighting
of :mod:`contextures.spectral.mixing` (history in ``weights_history_``); ``concat(A,B,…)`` fits
one Contexture per component with ``n_components`` each and concatenates their eigenfunctions and
singular values (in component order, so not sorted overall).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from .._memory import budget_scope, check_allocation, resolve_budget
from ..contexts.base import Context, make_context
from ..contexts.mixtures import ConcatenationContext, MixtureContext
from ..validation import check_array, check_choice, check_int, check_positive, check_seed
from .approximate import solve_subsample
from .extension import (
    DEFAULT_FOLDS,
    DEFAULT_MAX_ROWS,
    MIN_SUPPORT,
    ResolutionCheck,
    check_resolution,
    effective_support,
    extend,
    has_extension,
    reproduces_fit,
)
from .iterative import DEFAULT_TOL
from .mixing import minimax_weights
from .select import _check_components, parse_solver, solve

EXTENSIONS = ("stable", "raw")
TRANSFORM_BLOCK_BYTES = 64 * 1024**2
"""Bytes of transition rows ``transform`` computes at once (it works in row blocks)."""


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
        Seeds the solver's start vectors, Nyström landmarks and subsamples, and the folds of the
        extension check (0 when None, so that which components are returned is a function of the
        data).
    memory_budget : int, str or None
        Bytes (or ``"8G"``) the computation may allocate; default half the available memory.
    tol : float
        Residual tolerance ‖M u − s² u‖ of the iterative solvers.
    extension : ``"stable"`` or ``"raw"``
        ``stable`` (default): ``transform`` returns the components the sample resolves, clipped to
        their range on the fitted rows (:mod:`contextures.spectral.extension`; costs ``folds``
        refits on at most ``check_rows`` rows). ``raw``: all d components, the Nyström form as is.
    folds, check_rows : int
        The cross-fit of the extension check: its number of folds and the rows it uses at most.
    n_jobs : int or None
        BLAS threads of the solver (None: decided once per process, see
        :func:`~contextures.spectral.threads.default_threads`).

    Attributes
    ----------
    singular_values_ : (d,) s_1 ≥ … ≥ s_d (all d, exact; τ uses these).
    spectrum_ : (d + 1,) s_0 = 1 followed by s_1..s_d.
    eigenfunctions_ : (n, d) μ_i on the training sample (mean 0, variance 1 under π).
    components_resolved_ : indices (into ``singular_values_``) of the components ``transform``
        and ``fit_transform`` return; ``n_components_resolved_`` their number.
    resolution_ : the :class:`~contextures.spectral.extension.ResolutionCheck` (None for ``raw``
        or for contexts without an extension).
    extension_range_ : (2, d) the range of each μ_i on the fitted rows (the clipping bounds).
    residuals_ : (d,) ‖M u_i − s_i² u_i‖ on the operator that was solved.
    solver_ : the solver that ran (``auto`` resolved), and ``solver_notes_`` why and how.
    converged_ : whether the solver reached ``tol``.
    context_ : the fitted context (for ``subsample``: fitted on the subsample).
    result_ : the full :class:`~contextures.spectral.result.SpectralResult`.
    n_features_in_, fit_time_ (seconds spent building the operator, solving and checking).
    """

    def __init__(self, context="knn(k=30)", n_components: int = 8, solver: str = "auto",
                 random_state=None, memory_budget=None, tol: float = DEFAULT_TOL,
                 extension: str = "stable", folds: int = DEFAULT_FOLDS,
                 check_rows: int = DEFAULT_MAX_ROWS, n_jobs: int | None = None):
        self.context = context
        self.n_components = n_components
        self.solver = solver
        self.random_state = random_state
        self.memory_budget = memory_budget
        self.tol = tol
        self.extension = extension
        self.folds = folds
        self.check_rows = check_rows
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        return tags

    def _check_params(self) -> None:
        check_positive(self.tol, "tol")
        check_choice(self.extension, "extension", EXTENSIONS)
        check_int(self.folds, "folds", low=2)
        check_int(self.check_rows, "check_rows", low=8)
        check_int(self.n_jobs, "n_jobs", low=1, high=1024, allow_none=True)
        if not isinstance(self.random_state, np.random.Generator):
            check_seed(self.random_state, "random_state")

    def fit(self, X, y=None, *, cache=None, keep_operator: bool = False):
        """Build the context on X (and y, for label contexts) and solve for its contexture.

        ``cache``: a :class:`~contextures.contexts.ContextCache` of X, so that contexts fitted on
        the same rows share neighbour lists and distance matrices (the studies pass one).
        ``keep_operator``: keep the finite-sample operator as ``operator_`` (for diagnostics;
        it can be as large as n × n).
        """
        X = check_array(X, what="Contexture.fit", estimator=self, reset=True)
        n = X.shape[0]
        d = _check_components(self.n_components, n)
        self._check_params()
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
            return self._fit_concat(base, X, y, start)
        rows = None
        if call.name == "subsample":
            with budget_scope(budget):
                result, context, rows, op = solve_subsample(
                    base, X, y, d, m=call.params.get("m"), random_state=rng,
                    memory_budget=budget, tol=self.tol)
        else:
            context = clone(base)
            with budget_scope(budget):   # what the context allocates in fit (draws, lists)
                context.fit(X, y, cache=cache)
            if isinstance(context, MixtureContext) and context.weights_ is None:
                _, history, result = minimax_weights(context, d, solver=call, tol=self.tol,
                                                     random_state=rng, memory_budget=budget)
                self.weights_history_ = history
                op = context.operator(budget)
            else:
                op = context.operator(budget)
                result = solve(op, d, call, tol=self.tol, random_state=rng,
                               memory_budget=budget, threads=self.n_jobs)
        W = op.extension_weights(result.right_vectors, result.singular_values)
        self.operator_ = op if keep_operator else None
        self.context_ = context
        self.extension_weights_ = W
        fitted_X = X if rows is None else X[rows]
        mu_fitted = result.eigenfunctions
        self.extension_range_ = np.vstack([mu_fitted.min(axis=0), mu_fitted.max(axis=0)])
        if rows is None:
            self.eigenfunctions_ = mu_fitted
        else:
            # rows outside the subsample get the extension (as new points); its own rows, their
            # fitted values
            mu = self._apply_extension(X, np.arange(d), clip=self.extension == "stable")
            mu[rows] = mu_fitted
            self.eigenfunctions_ = mu
        self.result_ = result
        self.singular_values_ = result.singular_values
        self.spectrum_ = np.concatenate([[1.0], result.singular_values])
        self.residuals_ = result.residuals
        self.solver_ = result.solver
        self.solver_notes_ = list(result.notes)
        self.converged_ = result.converged
        y_fit = None if y is None else np.asarray(y) if rows is None else np.asarray(y)[rows]
        self._resolve(fitted_X, y_fit, mu_fitted, call)
        self.fit_time_ = time.perf_counter() - start
        return self

    def _resolve(self, X_fit, y_fit, mu, call) -> None:
        """Set components_resolved_ and resolution_ (the cross-fitted check, or all for raw)."""
        d = mu.shape[1]
        self.resolution_: ResolutionCheck | None = None
        if self.extension == "raw" or not has_extension(self.context_, X_fit):
            self.components_resolved_ = np.arange(d)
        else:
            refit_solver = "auto" if call.name == "subsample" else self.solver
            seed = (int(self.random_state) if isinstance(self.random_state, int | np.integer)
                    and not isinstance(self.random_state, bool) else 0)

            def refit(rows: np.ndarray):
                sub = clone(self).set_params(
                    context=self.context_ if isinstance(self.context_, Context) else self.context,
                    n_components=min(d, rows.size - 2), solver=refit_solver, extension="raw",
                    random_state=seed)
                sub.fit(X_fit[rows], None if y_fit is None else y_fit[rows])
                return sub.eigenfunctions_, lambda Z: extend(sub.context_, Z,
                                                             sub.extension_weights_)

            check = check_resolution(refit, X_fit, mu, folds=self.folds,
                                     max_rows=self.check_rows, random_state=seed)
            numeric = reproduces_fit(self.residuals_, self.singular_values_)
            supported = effective_support(mu) >= MIN_SUPPORT
            self.resolution_ = check
            self.components_resolved_ = np.flatnonzero(check.resolved & numeric & supported)
            self.solver_notes_.append(check.note)
            narrow = int(np.count_nonzero(check.resolved & numeric & ~supported))
            if narrow:
                self.solver_notes_.append(
                    f"{narrow} more component(s) passed the held-out check but their variance "
                    f"sits on fewer than {MIN_SUPPORT:g} rows (n / mean μ⁴), too few to carry "
                    "over to new rows")
            lost = int(np.count_nonzero(check.resolved & ~numeric))
            if lost:
                self.solver_notes_.append(
                    f"{lost} more component(s) passed the held-out check but their solver residual "
                    "exceeds 1e-2 · s_i², so the extension does not reproduce them on the fitted "
                    "rows; a smaller tol keeps them")
        self.n_components_resolved_ = int(self.components_resolved_.size)

    def _fit_concat(self, base: ConcatenationContext, X, y, start: float):
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
        self.extension_weights_ = None
        self.extension_range_ = np.hstack([p.extension_range_ for p in parts])
        offsets = np.cumsum([0] + [p.singular_values_.size for p in parts])[:-1]
        self.components_resolved_ = np.concatenate(
            [p.components_resolved_ + off for p, off in zip(parts, offsets, strict=True)])
        self.n_components_resolved_ = int(self.components_resolved_.size)
        self.resolution_ = None
        self.fit_time_ = time.perf_counter() - start
        return self

    def _apply_extension(self, X: np.ndarray, columns: np.ndarray, *, clip: bool) -> np.ndarray:
        """p(x) · W[:, columns] for the rows of X, in row blocks whose transition rows take at
        most ``TRANSFORM_BLOCK_BYTES`` (sized from the first row's: dense rows n_fit × 8 bytes,
        sparse ones their stored entries × 12), so the working memory beyond the n × d result
        does not grow with the number of rows."""
        W = self.extension_weights_[:, columns]
        n = X.shape[0]
        if n <= 1:
            return self._clipped(extend(self.context_, X, W), columns, clip)
        first = self.context_.transition(X[:1])
        per_row = (12.0 * first.nnz if hasattr(first, "nnz") else 8.0 * first.shape[1]) + 8.0
        rows = max(1, int(TRANSFORM_BLOCK_BYTES // per_row))
        if n <= rows:
            Z = extend(self.context_, X, W)
        else:
            Z = np.empty((n, W.shape[1]), dtype=np.result_type(W.dtype, np.float64))
            for i0 in range(0, n, rows):
                i1 = min(n, i0 + rows)
                Z[i0:i1] = extend(self.context_, X[i0:i1], W)
        return self._clipped(Z, columns, clip)

    def _clipped(self, Z: np.ndarray, columns: np.ndarray, clip: bool) -> np.ndarray:
        if clip:
            lo, hi = self.extension_range_[:, columns]
            np.clip(Z, lo, hi, out=Z)
        return Z

    def transform(self, X):
        """The resolved μ_i at the rows of X (n_new × n_components_resolved_), by the extension,
        computed in row blocks of bounded memory (``TRANSFORM_BLOCK_BYTES`` of transition rows)."""
        check_is_fitted(self, "eigenfunctions_")
        X = check_array(X, what="Contexture.transform", estimator=self, reset=False)
        if getattr(self, "components_", None) is not None:
            return np.hstack([p.transform(X) for p in self.components_])
        return self._apply_extension(X, self.components_resolved_,
                                     clip=self.extension == "stable")

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y)``, then the in-sample μ_i of the resolved components on X."""
        self.fit(X, y)
        return self.eigenfunctions_[:, self.components_resolved_].copy()

    def get_feature_names_out(self, input_features=None):
        """``mu1``, ``mu2``…: the index i of each returned μ_i (1-based)."""
        check_is_fitted(self, "components_resolved_")
        _check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray([f"mu{i + 1}" for i in self.components_resolved_], dtype=object)
