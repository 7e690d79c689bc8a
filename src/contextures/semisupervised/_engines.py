"""The engines an :class:`~contextures.semisupervised.stkr.STKR` fit runs on, and the
cross-validation over their grid.

Three engines solve α̂ = (G_s + c K_a + nβI)⁻¹ y on the labelled rows and predict the held-out
ones; each has ``scale``, ``solve``, ``coefficients``, ``predict_rows``, ``fit_final`` and
``model``:

- :class:`_Propagation` (``inverse_laplacian``, ``poly``, ``identity``): matrix-free, on the
  context's operator (:mod:`contextures.semisupervised._propagation`);
- :class:`_Dense`: one dense eigendecomposition of M, then every grid point in closed form;
- :class:`_TopD` (``topd``): ridge regression on the stable top-d contexture features.

:func:`_cross_validate` scores every (transform parameter, ambient weight, ridge ratio) by k-fold
cross-validation on the labelled rows only (stratified for classes), solving the largest ridge
first and warm-starting the next, and returns the best point.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from .. import _progress as progress
from ..contexts.base import Context
from ..exceptions import ConvergenceWarning, ParameterError
from ._propagation import Propagator, context_weights, solve_inverse_laplacian, solve_poly
from .transforms import SpectralTransform

if TYPE_CHECKING:
    from .stkr import STKR

RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
"""r in n β = r · mean_j k(x_j, x_j): β relative to the kernel's scale on the labelled rows."""
DEFAULT_CHOICE = {"inverse_laplacian": 0.99, "poly": 4, "topd": 16, "ridge": 1.0,
                  "ambient": 1.0}
"""Transform parameters and r used when there are too few labelled rows to cross-validate."""
MIN_CV_ROWS = 4
CV_TOL = 1e-3
"""Relative residual of the solves inside cross-validation (the final solve uses ``tol``; for the
inverse Laplacian both are multiplied by 1 − η). Against 10⁻⁴ it chose the same grid point on all
30 offline datasets at 5 % labelled with 18–29 % fewer products (chosen on the tuning half,
checked on the held-out half: ``benchmarks/stkr_cv_tol.py``)."""

class _Propagation:
    """inverse_laplacian / poly / identity: matrix-free on the context's operator."""

    def __init__(self, est: STKR, context, X: np.ndarray, budget):
        self.est = est
        self.op = context.operator(budget)
        self.prop = Propagator(self.op, memory_budget=budget)
        self.final_alpha = None
        self.final_info = None
        self._weights = None

    def scale(self, rows: np.ndarray) -> float:
        return float(self.prop.kernel_diagonal(rows).mean())

    def solve(self, transform: SpectralTransform, rows, Y, beta, start=None, final=False,
              extra=None):
        est = self.est
        # cross-validation compares held-out errors: a residual of CV_TOL is far below them
        tol = est.tol if final else max(est.tol, CV_TOL)
        if transform.name == "inverse_laplacian":
            return solve_inverse_laplacian(self.prop, rows, Y, float(transform.value), beta,
                                           start=start, tol=tol, maxiter=est.max_iter,
                                           extra=extra)
        p = 1 if transform.name == "identity" else int(transform.value)
        return solve_poly(self.prop, rows, Y, p, beta, start=start, tol=tol,
                          maxiter=est.max_iter, extra=extra)

    @staticmethod
    def coefficients(sol) -> np.ndarray:
        return sol.alpha

    def predict_rows(self, transform, rows, sol, targets: np.ndarray) -> np.ndarray:
        return self.prop.N * sol.Qc[targets]

    def fit_final(self, rows, Yc, transform, beta, extra=None) -> np.ndarray:
        products = self.prop.products
        sol = self.solve(transform, rows, Yc, beta, final=True, extra=extra)
        if not sol.krylov.converged:
            warnings.warn(f"STKR: the {transform.spec()} solve stopped after "
                          f"{sol.krylov.iterations} iterations with relative residual "
                          f"{sol.krylov.residuals.max():.2e} (tol {self.est.tol:g}); raise "
                          "max_iter or tol", ConvergenceWarning, stacklevel=3)
        fitted = self.prop.N * sol.Qc
        self._weights = self.prop.weights(sol.c)
        self.final_alpha = sol.alpha
        self.final_info = {"solver": "propagation", "iterations": int(sol.krylov.iterations),
                           "products": int(self.prop.products - products),
                           "residual": float(sol.krylov.residuals.max()),
                           "converged": bool(sol.krylov.converged),
                           "operator": self.op.description,
                           "precision": self.prop.precision,
                           "cv_products": int(products)}
        return fitted

    def model(self):
        return ("weights", self._weights)


class _Dense:
    """inverse_laplacian / poly / identity with M eigendecomposed once: exact direct solves.

    With M = U diag(λ) Uᵀ: K_s = N U diag(s(λ)) Uᵀ on the rows, α̂ from the eigendecomposition
    of its labelled block (one per fold and transform, shared by every β), b = U diag(h(λ)) Uᵀ S α̂
    and the same weights w as the propagation path.
    """

    def __init__(self, est: STKR, context, X: np.ndarray, budget):
        self.op = context.operator(budget)
        M = self.op.dense_gram()
        lam, U = np.linalg.eigh(M)
        self.lam = np.clip(lam, 0.0, 1.0)
        self.U = U
        self.N = M.shape[0]
        self.diag = self.N * np.diag(M).copy()
        self._gram: dict[str, np.ndarray] = {}
        self._blocks: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.final_alpha = None
        self.final_info = None
        self._weights = None

    def scale(self, rows: np.ndarray) -> float:
        return float(self.diag[rows].mean())

    def gram(self, transform: SpectralTransform) -> np.ndarray:
        key = transform.spec()
        if key not in self._gram:
            self._gram[key] = self.N * (self.U * transform.s(self.lam)) @ self.U.T
        return self._gram[key]

    def solve(self, transform, rows, Y, beta, start=None, final=False, extra=None):
        key = (transform.spec(), rows.tobytes(), None if extra is None else extra.tobytes())
        if key not in self._blocks:
            G = self.gram(transform)[np.ix_(rows, rows)]
            if extra is not None:
                G = G + extra
            vals, vecs = np.linalg.eigh(0.5 * (G + G.T))
            self._blocks[key] = (np.clip(vals, 0.0, None), vecs)
        vals, vecs = self._blocks[key]
        return vecs @ ((vecs.T @ Y) / (vals + rows.size * beta)[:, None])

    @staticmethod
    def coefficients(alpha) -> np.ndarray:
        return alpha

    def predict_rows(self, transform, rows, alpha, targets) -> np.ndarray:
        return self.gram(transform)[np.ix_(targets, rows)] @ alpha

    def fit_final(self, rows, Yc, transform, beta, extra=None) -> np.ndarray:
        alpha = self.solve(transform, rows, Yc, beta, extra=extra)
        fitted = self.gram(transform)[:, rows] @ alpha
        a = np.zeros((self.N, alpha.shape[1]))
        a[rows] = alpha
        b = (self.U * transform.h(self.lam)) @ (self.U.T @ a)
        self._weights = context_weights(self.op, self.op.rmatmat(b))
        self.final_alpha = alpha
        self.final_info = {"solver": "dense", "iterations": 1, "operator": self.op.description}
        return fitted

    def model(self):
        return ("weights", self._weights)


class _TopD:
    """topd: the exact top-d contexture (spectral engine, stable extension), ridge with 1/λ."""

    def __init__(self, est: STKR, context: Context, X: np.ndarray, transform: SpectralTransform,
                 budget):
        from ..spectral import Contexture

        grid = [t.value for t in transform.grid()]
        d_max = int(min(max(grid), X.shape[0] - 2))
        if d_max < 1:
            raise ParameterError(f"topd needs at least 3 rows, got {X.shape[0]}")
        model = Contexture(context, n_components=d_max, random_state=est._seed(),
                           memory_budget=budget)
        model.fit(X)
        keep = model.components_resolved_
        self.contexture = model
        self.features = model.eigenfunctions_[:, keep]
        self.lam = model.singular_values_[keep] ** 2
        self.final_alpha = None
        self.final_info = None
        self._theta = None

    def _columns(self, transform) -> int:
        return int(min(int(transform.value), self.features.shape[1]))

    def scale(self, rows: np.ndarray) -> float:
        F = self.features[rows]
        return float(((F * F) @ self.lam).mean()) if F.size else 1.0

    def _theta_for(self, transform, rows, Y, beta) -> np.ndarray:
        d = self._columns(transform)
        F = self.features[rows, :d]
        lam = self.lam[:d]
        penalty = np.where(lam > 0, rows.size * beta / np.where(lam > 0, lam, 1.0), np.inf)
        keep = np.isfinite(penalty)
        theta = np.zeros((d, Y.shape[1]))
        if keep.any():
            Fk = F[:, keep]
            A = Fk.T @ Fk + np.diag(penalty[keep])
            theta[keep] = np.linalg.solve(A, Fk.T @ Y)
        return theta

    def solve(self, transform, rows, Y, beta, start=None, extra=None):
        return self._theta_for(transform, rows, Y, beta)

    @staticmethod
    def coefficients(theta) -> None:
        return None

    def predict_rows(self, transform, rows, theta, targets) -> np.ndarray:
        return self.features[targets, :theta.shape[0]] @ theta

    def fit_final(self, rows, Yc, transform, beta, extra=None) -> np.ndarray:
        theta = self._theta_for(transform, rows, Yc, beta)
        self._theta = theta
        d = theta.shape[0]
        F = self.features[rows, :d]
        # the dual form: α̂ = (G_s + nβI)⁻¹ y with G_s = F Λ Fᵀ, i.e. α̂ = (y − F θ) / (nβ)
        self.final_alpha = (Yc - F @ theta) / (rows.size * beta)
        self.final_info = {"solver": f"topd ({self.contexture.solver_})", "components": d,
                           "resolved": int(self.features.shape[1])}
        return self.features[:, :d] @ theta

    def model(self):
        return ("topd", (self.contexture, self._theta))


def _folds(rows: np.ndarray, codes: np.ndarray | None, k: int, seed: int):
    n = rows.size
    if codes is not None:
        smallest = int(np.bincount(codes).min())
        if smallest >= 2:
            splitter = StratifiedKFold(n_splits=min(k, smallest), shuffle=True,
                                       random_state=seed)
            return list(splitter.split(np.zeros(n), codes))
    splitter = KFold(n_splits=min(k, n), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(n)))


def _cross_validate(engine, rows, Y, transform: SpectralTransform, alpha, task, k, seed,
                    ambient=None, weights=(None,)):
    """((transform, r, β, ρ), cv_results_, folds, note): the grid point of least held-out error.

    ``ambient`` is the :class:`~contextures.semisupervised.ambient.AmbientKernel` (or None) and
    ``weights`` the ρ searched for it (None: no ambient kernel).
    """
    results = {"transform": [], "alpha": [], "ridge_ratio": [], "ambient_weight": [],
               "error": []}
    n = rows.size
    scale = engine.scale(rows)
    transforms = transform.grid()
    ratios = [None] if alpha is not None else list(RIDGE_GRID)
    weights = list(weights)
    unit = 0.0 if ambient is None else scale / ambient.diagonal_mean()

    def beta_of(r):
        return alpha if r is None else r * scale / n

    def extra_of(w, pos=None):
        if not w or ambient is None:
            return None
        K = ambient.gram() if pos is None else ambient.gram()[np.ix_(pos, pos)]
        return (w * unit) * K

    if len(transforms) == 1 and alpha is not None and len(weights) == 1:
        return ((transform, None, alpha, weights[0]), results, 0,
                "nothing to choose: transform, alpha and ambient weight given")
    if n < MIN_CV_ROWS:
        chosen = transform if not transform.free else SpectralTransform(
            transform.name, DEFAULT_CHOICE[transform.name])
        r = None if alpha is not None else DEFAULT_CHOICE["ridge"]
        w = weights[0] if len(weights) == 1 else DEFAULT_CHOICE["ambient"]
        note = (f"{n} labelled row(s): too few to cross-validate (at least {MIN_CV_ROWS}); "
                f"defaults {chosen.spec()}" + ("" if r is None else f", r = {r:g}")
                + ("" if w is None else f", ambient weight {w:g}"))
        return (chosen, r, beta_of(r), w), results, 0, note
    full = task == "classification"
    if full:  # Y holds C − 1 of the C one-hot columns; the held-out error uses all C
        last = 1.0 - Y.sum(axis=1, keepdims=True)
        codes = np.hstack([Y, last]).argmax(axis=1)
    else:
        codes = None
    folds = _folds(rows, codes, k, seed)
    errors = np.zeros((len(transforms), len(weights), len(ratios)))
    bar = progress.task("STKR cross-validation",
                        len(folds) * len(transforms) * len(weights) * len(ratios), "solves")
    for train, held in folds:
        tr, va = rows[train], rows[held]
        Ytr = Y[train]
        mean = Ytr.mean(axis=0)
        target = np.hstack([Y[held], last[held]]) if full else Y[held]
        for a, t in enumerate(transforms):
            for c, w in enumerate(weights):
                extra = extra_of(w, train)
                cross = None if extra is None else \
                    (w * unit) * ambient.gram()[np.ix_(held, train)]
                start = None
                for b in np.argsort([-(r or 0) for r in ratios]):  # largest ridge first: warm
                    sol = engine.solve(t, tr, Ytr - mean, beta_of(ratios[b]), start=start,
                                       extra=extra)
                    start = sol
                    pred = engine.predict_rows(t, tr, sol, va) + mean
                    if cross is not None:
                        pred += cross @ engine.coefficients(sol)
                    if full:
                        pred = np.hstack([pred, 1.0 - pred.sum(axis=1, keepdims=True)])
                    errors[a, c, b] += float(((pred - target) ** 2).sum())
                    bar.update(advance=1)
    bar.close()
    errors /= n * (Y.shape[1] + int(full))
    for a, t in enumerate(transforms):
        for c, w in enumerate(weights):
            for b, r in enumerate(ratios):
                results["transform"].append(t.spec())
                results["alpha"].append(float(beta_of(r)))
                results["ridge_ratio"].append(None if r is None else float(r))
                results["ambient_weight"].append(None if w is None else float(w))
                results["error"].append(float(errors[a, c, b]))
    a, c, b = np.unravel_index(int(np.argmin(errors)), errors.shape)
    w = weights[c]
    note = (f"{len(folds)}-fold cross-validation on {n} labelled rows over "
            f"{len(transforms)} transform(s) × {len(weights)} ambient weight(s) × "
            f"{len(ratios)} ridge value(s): {transforms[a].spec()}, "
            f"alpha = {beta_of(ratios[b]):.4g}"
            + ("" if ratios[b] is None else f" (r = {ratios[b]:g})")
            + ("" if w is None else f", ambient weight {w:g}"))
    return (transforms[a], ratios[b], beta_of(ratios[b]), w), results, len(folds), note
