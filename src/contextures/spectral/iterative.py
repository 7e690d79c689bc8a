"""Iterative solvers on Q: ``krylov`` (sparse or stored dense Q), ``matrix_free`` and ``arpack``.

``krylov`` and ``matrix_free`` run :func:`~contextures.spectral.krylov.block_krylov_schur` on the
products of :class:`~contextures.spectral.products.GramProducts` (never forming M), then report
s_i, μ_i and the residuals ‖M u_i − s_i² u_i‖ computed in float64 on the full operator.

Working precision: ``precision="float32"`` runs the Krylov iteration in single precision (half the
memory traffic of the orthogonalisation, faster products) and then refines in float64 (see
:func:`_refine64`): orthonormal vectors, Rayleigh quotients whose error is of the order of the
squared residual (measured: residuals ~5e-5, eigenvalues within 1e-8 of ARPACK on a 20 000-point
KNN operator). float32 inner products over n terms put a floor of about 1e-4 on the residuals, so
``"auto"`` uses float32 only for large sparse operators (nnz ≥ 200 000) with tol ≥ 1e-5, and
float64 otherwise; a float32 run counts as converged when its float64 residuals are below
max(10·tol, 1e-4).

A float32 run iterates on M³ rather than M (``power``; the refinement then computes the
eigenvalues of M itself): the cube widens the relative gaps at the top of the spectrum, so the
iteration needs fewer basis vectors, hence fewer orthogonalisations and Rayleigh-Ritz steps, for
three products per vector (measured on the 20 000-point KNN operator, d = 256: 40 block steps
and no restart instead of 69 steps and 2 restarts). When the wanted eigenvalues turn out small
(s_d² < 0.1), where the cube would squeeze them towards float32 rounding, it runs again on M
(measured: the cube still converges, to eigenvalues within 1e-7 of ARPACK, at s_d² = 0.04).

Large sparse operators (nnz ≥ 200 000) have the iteration's rows split over the solver's threads
(``split``; see :mod:`~contextures.spectral.parts`).

``arpack`` is scipy's ``eigsh`` on v ↦ M̃ v, the reference the benchmarks compare against.
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext

import numpy as np
from threadpoolctl import threadpool_limits

from .._blocks import krylov_block_size
from .._memory import check_allocation, fits
from ..exceptions import ConvergenceWarning, ParameterError
from ..validation import checked_keywords
from .dense import deflation_vector, solve_dense
from .krylov import Deflation, block_krylov_schur
from .parts import RowParts, inner_products
from .products import GramProducts
from .result import SpectralResult, complete_basis, finish
from .threads import current_threads, with_solver_threads

DEFAULT_TOL = 1e-5
# a sparse Q with this many stored entries has its iteration split over the solver's threads
SPLIT_MIN_NNZ = 200_000
# a float32 iteration runs on M^FLOAT32_POWER unless it finds s_d² below POWER_FLOOR
FLOAT32_POWER = 3
POWER_FLOOR = 0.1
# float32 inner products over n terms limit the residuals of a float32 run (refined in float64)
# to about 5e-5 on n = 20 000: float32 is used only when tol allows it
FLOAT32_RESIDUAL_FLOOR = 1e-4


def krylov_parameters(n: int, d: int, kind: str, block_size: int | None = None,
                      keep: int | None = None, max_basis: int | None = None
                      ) -> tuple[int, int, int]:
    """(block size b, Ritz vectors kept at a restart, maximal basis size) for d wanted pairs.

    Defaults: b = 16 for d ≥ 64 (8 for d ≥ 8, else 4; 32 for a stored dense or matrix-free Q,
    whose products are cheaper per column in wide blocks), keep = d + max(2b, d/4), and
    max_basis = keep + max(2b, keep) rounded to whole blocks: about 2.5 d for large d.
    """
    if block_size is None:
        block_size = krylov_block_size(d, kind)
    b = int(block_size)
    if keep is None:
        keep = d + max(2 * b, math.ceil(d / 4))
    if max_basis is None:
        grow = max(2 * b, keep)
        max_basis = keep + b * math.ceil(grow / b)
    limit = n - 1 - b
    if max_basis > limit:
        max_basis = keep + b * max(2, (limit - keep) // b)
    return b, int(keep), int(max_basis)


def _fits_krylov(n: int, d: int, kind: str) -> bool:
    b, keep, max_basis = krylov_parameters(n, d, kind)
    return d <= keep and keep + 2 * b <= max_basis <= n - 1 - b


@with_solver_threads
@checked_keywords("solver krylov")
def solve_krylov(op, n_components: int, *, tol: float = DEFAULT_TOL, random_state=None,
                 memory_budget: int | None = None, block_size: int | None = None,
                 keep: int | None = None, max_basis: int | None = None,
                 max_restarts: int = 300, precision: str = "auto", check_share: float = 0.3,
                 notes: list[str] | None = None, solver_name: str = "krylov",
                 reorder: bool | None = None, use_torch: bool | None = None,
                 power: int | None = None, split: bool | None = None) -> SpectralResult:
    """Top-d singular triplets of Q by block Krylov-Schur (see the module docstring).

    ``power``: iterate on M^power (default 3 in float32, 1 otherwise; > 1 needs float32).
    ``split``: spread a sparse Q's iteration over the solver's threads by rows (default: when
    nnz ≥ ``SPLIT_MIN_NNZ``; see :mod:`contextures.spectral.parts`).
    """
    n, m = op.shape
    d = n_components
    notes = list(notes or [])
    budget = memory_budget if memory_budget is not None else op.memory_budget
    if precision == "auto":
        precision = ("float32" if op.kind == "sparse" and tol >= 1e-5 and op.nnz >= 200_000
                     else "float64")
    if precision not in ("float32", "float64"):
        raise ParameterError(f"precision must be 'auto', 'float32' or 'float64', got {precision!r}")
    dtype = np.dtype(precision)
    engine = GramProducts(op, dtype=dtype, reorder=reorder, use_torch=use_torch)
    # a block method finds at most b copies of a repeated eigenvalue: the eigenvalue 1 of a
    # disconnected context (one per connected component) is deflated explicitly instead
    r, labels = engine.components()
    if r == 1:
        deflation = Deflation(engine.deflation)
    else:
        deflation = Deflation.components(labels, engine.deflation, np.float64)
    ones = min(r - 1, d)
    if ones:
        notes.append(f"the context graph has {r} connected components: s_1..s_{ones} = 1 exactly "
                     "(component indicator functions), deflated explicitly")
    E = engine.to_original(deflation.component_space(ones)) if ones else None
    d_rest = d - ones
    if d_rest == 0:
        return finish(op, np.ones(ones), E, solver=solver_name, notes=notes)
    n_eff = n - r + 1
    b, keep, max_basis = krylov_parameters(n_eff, d_rest, op.kind, block_size, keep, max_basis)
    if not (d_rest <= keep and keep + b <= max_basis and max_basis + b <= n_eff - 1):
        notes.append(f"n = {n} is too small for a Krylov basis of {max_basis + b} vectors: "
                     "solved densely instead")
        return solve_dense(op, d, random_state=random_state, memory_budget=budget, notes=notes)
    # a stored dense Q: products dominate, so M V and Qᵀ V are kept for the final residuals
    track = op.kind == "dense" and dtype == np.float64

    def basis_bytes_for(max_basis: int) -> float:
        tracked = max_basis * (n + m) * dtype.itemsize if track else 0
        return (max_basis + 2 * b) * n * dtype.itemsize + 4 * n * keep * 8 + tracked

    basis_bytes = basis_bytes_for(max_basis)
    while not fits(basis_bytes, budget) and max_basis - keep > 2 * b:
        max_basis -= b
        basis_bytes = basis_bytes_for(max_basis)
    check_allocation(basis_bytes, budget, f"a Krylov basis of {max_basis + b} vectors of length {n}")
    rng = np.random.default_rng(random_state)
    # a large sparse Q: the iteration's rows are split over the solver's threads, each with a
    # single-threaded BLAS (see spectral.parts); otherwise BLAS gets the threads
    threads = current_threads()
    split = (op.kind == "sparse" and not engine.uses_torch and threads > 1
             and (op.nnz >= SPLIT_MIN_NNZ if split is None else split))
    parts = RowParts(n, threads if split else 1, m)
    engine.split(parts)
    # torch's OpenMP threads and OpenBLAS's threads busy-wait on each other when their calls
    # alternate (10x slowdowns measured on 2 cores): with torch products (opt-in) the cores go to
    # torch and the dense BLAS calls of the iteration run single-threaded.
    single = engine.uses_torch or parts.count > 1
    # a float32 run (refined in float64, which recomputes the eigenvalues of M itself) iterates
    # on M³ (see block_krylov_schur's ``power``), and on M when M³ squeezes the wanted ones
    if power is None:
        power = FLOAT32_POWER if dtype == np.float32 else 1
    if isinstance(power, bool) or not isinstance(power, int | np.integer) or power < 1:
        raise ParameterError(f"power must be a positive integer, got {power!r}")
    if power > 1 and dtype != np.float32:
        raise ParameterError("power > 1 needs precision='float32' (its float64 refinement)")
    with parts, (threadpool_limits(1, user_api="blas") if single else nullcontext()):
        inner_tol = tol if dtype == np.float64 else max(tol, 2e-5)

        def iterate(power: int):
            return block_krylov_schur(
                engine.with_half if track else engine, n, d_rest, deflation, block_size=b,
                max_basis=max_basis, keep=keep, tol=inner_tol, max_restarts=max_restarts,
                rng=rng, dtype=dtype, check_share=check_share, track_products=track,
                m_columns=m, product_cost=product_cost(op), parts=parts, power=power,
                power_floor=POWER_FLOOR)

        out = iterate(power)
        if out.power_rejected:
            notes.append(f"the iteration on M^{power} found s_d² below {POWER_FLOOR} (its float32 "
                         f"resolution there is poor) after {out.products} products: run again "
                         "on M")
            spent = out.products
            out = iterate(1)
            out.products += spent
            power = 1
        if dtype != np.float64:
            refined = _refine64(engine, out, deflation, parts)
    timing = ", ".join(f"{k} {v:.2f} s" if isinstance(v, float) else f"{k} {v}" for k, v in out.stats.items())
    where = (f"rows split over {parts.count} threads, single-threaded BLAS" if parts.count > 1
             else "")
    on = "" if power == 1 else f" on M^{power}"
    notes.append(f"block Krylov-Schur{on}: block {b}, basis {max_basis}, keep {keep}, "
                 f"{out.restarts} restarts, {out.products} products, {precision} "
                 f"({', '.join(filter(None, [engine.description, where]))}); {timing}")
    products = out.products
    MU = QtU = residuals = None
    if dtype != np.float64:
        theta, U, residuals, QtU = refined
        products += U.shape[1]
        notes.append(f"float64 refinement of the {U.shape[1]} Ritz vectors (Cholesky QR, "
                     "Rayleigh quotients, exact residuals)")
    elif track:
        # residuals from the tracked products M V (no further product with Q; dense Q is never
        # reordered, so the engine's order is the sample order)
        theta = out.values
        U = np.ascontiguousarray(out.vectors.T, dtype=np.float64)
        MU = np.ascontiguousarray(out.products_of_vectors[0].T)
        QtU = np.ascontiguousarray(out.products_of_vectors[1].T)
        notes.append("residuals and right vectors from the products kept during the iteration")
    else:
        theta = out.values
        U = engine.to_original(np.ascontiguousarray(out.vectors.T, dtype=np.float64))
    if ones:
        theta = np.concatenate([np.ones(ones), theta])
        U = np.concatenate([E, U], axis=1)
        if QtU is not None:
            QtU_E = np.asarray(op.rmatmat(E))
            MU_E = np.asarray(op.matmat(QtU_E))
            QtU = np.concatenate([QtU_E, QtU], axis=1)
            if residuals is not None:
                residuals = np.concatenate([np.linalg.norm(MU_E - E, axis=0), residuals])
            else:
                MU = np.concatenate([MU_E, MU], axis=1)
    result = finish(op, theta, U, solver=solver_name, converged=out.converged,
                    iterations=out.restarts, notes=notes, products=products, MU=MU, QtU=QtU,
                    residuals=residuals)
    # the final residuals are exact (float64, full operator); allow the slack of the estimate
    limit = 10 * tol if dtype == np.float64 else max(10 * tol, FLOAT32_RESIDUAL_FLOOR)
    result.converged = bool((out.converged or dtype != np.float64)
                            and result.max_residual <= limit)
    if not result.converged:
        msg = (f"{solver_name}: not converged after {out.restarts} restarts "
               f"({out.products} products); max residual {result.max_residual:.2e} "
               f"(tol {tol:g}); returning the current Ritz pairs")
        result.notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return result


SPARSE_FLOP_WEIGHT = 8.0
"""A sparse product's flop costs about this many dense-BLAS flops (memory-bound, measured)."""
MATRIX_FREE_FLOP_WEIGHT = 8.0
"""A matrix-free kernel product recomputes kernel entries: about this many multiply-adds each."""


def product_cost(op) -> float:
    """Cost of one product M x = Q(Qᵀx) in dense-BLAS flop equivalents (schedules the checks)."""
    n, m = op.shape
    if op.kind == "sparse":
        return 4.0 * SPARSE_FLOP_WEIGHT * op.nnz
    if op.kind == "dense":
        return 4.0 * n * m
    return 4.0 * MATRIX_FREE_FLOP_WEIGHT * n * m


def _refine64(engine: GramProducts, out, deflation: Deflation, parts: RowParts):
    """Float64 Rayleigh quotients of the wanted Ritz vectors of a float32 run.

    The float32 vectors are orthonormal to about 1e-5: one Cholesky QR in float64 makes them
    orthonormal to rounding (Uᵀ ← L⁻¹ Uᵀ with UᵀU = L Lᵀ, on the vectors stored as rows), then
    one float64 product gives M U, the Rayleigh quotients θ_i = u_iᵀ M u_i (error of the order of
    the squared residual: measured within 1e-8 of ARPACK on a 20 000-point KNN operator, the same
    as a full Rayleigh-Ritz step, which costs four more n × d × d products) and the exact
    residuals ‖M u_i − θ_i u_i‖. Returns (θ, U in the sample order, residuals, Qᵀ U). Every
    step over the n rows runs on the row ``parts``.
    """
    rows = parts.rows
    Ut = deflation.remove_rows(np.asarray(out.vectors, dtype=np.float64))   # rows, engine order
    G = parts.sum(inner_products, rows, Ut, Ut)
    L = np.linalg.cholesky(0.5 * (G + G.T))
    Linv_t = np.linalg.inv(L).T
    U = np.empty(Ut.shape[::-1])          # n × d
    parts.run(_orthonormalise_part, rows, Ut, Linv_t, U)
    MU, QtU = engine.products64(U, engine_order=True)
    theta = parts.sum(_rayleigh_part, rows, U, MU)
    # (row order does not change a norm)
    residuals = np.sqrt(parts.sum(_residual_part, rows, U, MU, theta))
    return theta, engine.to_original(U), residuals, QtU


def _orthonormalise_part(i, rows, Ut, Linv_t, U):
    """U = Utᵀ L⁻ᵀ on part i's rows."""
    U[rows[i]] = Ut[:, rows[i]].T @ Linv_t


def _rayleigh_part(i, rows, U, MU):
    """Part i's share of the u_jᵀ M u_j."""
    return np.einsum("ij,ij->j", U[rows[i]], MU[rows[i]])


def _residual_part(i, rows, U, MU, theta):
    """Part i's share of ‖M u_j − θ_j u_j‖² (M U becomes the residuals on those rows)."""
    R = MU[rows[i]]
    R -= U[rows[i]] * theta
    return np.einsum("ij,ij->j", R, R)


@with_solver_threads
def solve_matrix_free(op, n_components: int, **kwargs) -> SpectralResult:
    """``krylov`` through the operator's block products only (for a MatrixFreeTransition)."""
    kwargs.setdefault("precision", "float64")
    return solve_krylov(op, n_components, solver_name="matrix_free", **kwargs)


@with_solver_threads
@checked_keywords("solver arpack")
def solve_arpack(op, n_components: int, *, tol: float = 0.0, random_state=None,
                 memory_budget: int | None = None,
                 notes: list[str] | None = None) -> SpectralResult:
    """scipy ARPACK ``eigsh`` on v ↦ (I − ppᵀ) M (I − ppᵀ) v: the reference solver."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    n, _ = op.shape
    d = n_components
    if d >= n - 1:
        return solve_dense(op, d, random_state=random_state, memory_budget=memory_budget,
                           notes=notes)
    p = deflation_vector(op)

    def apply(V):
        V = np.asarray(V, dtype=np.float64)
        one = V.ndim == 1
        V = V[:, None] if one else V
        V = V - np.outer(p, p @ V)
        W = op.gram_matmat(V)
        W -= np.outer(p, p @ W)
        return W[:, 0] if one else W

    M = LinearOperator((n, n), matvec=apply, matmat=apply, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    v0 = rng.standard_normal(n)
    v0 -= p * (p @ v0)
    theta, U = eigsh(M, k=d, which="LA", tol=tol, v0=v0)
    U -= np.outer(p, p @ U)
    U, _ = np.linalg.qr(U)
    theta = np.clip(theta, 0.0, None)
    return finish(op, theta, U, solver="arpack", notes=list(notes or []))


__all__ = ["DEFAULT_TOL", "complete_basis", "krylov_parameters", "solve_arpack", "solve_krylov",
           "solve_matrix_free"]
