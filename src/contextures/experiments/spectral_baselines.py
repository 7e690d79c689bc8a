"""Shared parts of the spectral benchmarks: the cases' tables and the scikit-learn + ARPACK
baselines, and the timing helpers (best of repeats, the two sides called in turn, peak memory).

The baseline operator of a KNN case is built from scikit-learn's neighbours as
Q = P D_c^{-1/2} (P the row-stochastic k-neighbour matrix, D_c its column sums), and its top
eigenvalues come from ARPACK ``eigsh`` (tol = 0) on v ↦ Q(Qᵀv).
"""

from __future__ import annotations

import gc
import time
import warnings

import numpy as np
import scipy.sparse as sp

AGREEMENT = 1e-6
"""Largest |s_i² − ARPACK's| for a case to agree."""


def load_table(spec: str, rows: int) -> np.ndarray:
    """``rows`` rows of a dataset spec, preprocessed on all of them (standardised numerics)."""
    from ..datasets import load_dataset
    from ..datasets.preprocess import fit_preprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(f"{spec}:max_rows={rows}")
        _, (X,) = fit_preprocess(dataset.X_raw)
    return X


def sklearn_knn_q(X: np.ndarray, k: int) -> sp.csr_matrix:
    """The baseline operator: scikit-learn neighbours (self excluded by index), Q = P D_c^{-1/2}."""
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    ind = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X, return_distance=False)
    is_self = ind == np.arange(n)[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    ind = ind[~is_self].reshape(n, k)
    P = sp.csr_matrix((np.full(n * k, 1.0 / k), ind.ravel(), np.arange(0, n * k + 1, k)),
                      shape=(n, n))
    c = np.asarray(P.sum(axis=0)).ravel()
    keep = c > 0
    return sp.csr_matrix((P @ sp.diags(1.0 / np.sqrt(np.where(keep, c, 1.0))))[:, keep])


def arpack_gram(apply, n: int, n_eigs: int, seed: int = 0) -> np.ndarray:
    """Top ``n_eigs`` eigenvalues (descending) of v ↦ apply(v) by ARPACK with tol=0."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = LinearOperator((n, n), matvec=apply, matmat=apply, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    return np.sort(eigsh(op, k=n_eigs, which="LA", tol=0, v0=v0, return_eigenvectors=False))[::-1]


def _sparse_gram(Q: sp.csr_matrix):
    QT = sp.csr_matrix(Q.T)
    return lambda v: Q @ (QT @ v)


def _best(fn, repeats: int, threads: int):
    """Best wall time of ``repeats`` calls under a limit of ``threads`` BLAS threads (the count
    the solvers use: the baselines run with the same count, so that both sides get the same
    cores)."""
    (best, value), = _best_alternating([fn], repeats, threads)
    return best, value


def _best_alternating(fns, repeats: int, threads: int) -> list[tuple[float, object]]:
    """(best wall time, last value) of each function, called in turn ``repeats`` times
    (ours, baseline, ours, baseline...) under a limit of ``threads`` BLAS threads: a slow spell
    of the machine, which can last a minute on a shared VM, then falls on both sides instead of
    on one."""
    from ..spectral.threads import solver_threads

    best = [np.inf] * len(fns)
    values: list = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            gc.collect()
            with solver_threads(threads):
                start = time.perf_counter()
                values[i] = fn()
                best[i] = min(best[i], time.perf_counter() - start)
    return list(zip(best, values, strict=True))
