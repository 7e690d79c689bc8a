"""Block Krylov-Schur: the top eigenpairs of a symmetric PSD operator orthogonal to known vectors.

This is the iterative core behind the ``krylov`` and ``matrix_free`` solvers. It finds the
``n_wanted`` largest eigenpairs of the deflated operator

    M̃ = (I − D Dᵀ) M (I − D Dᵀ)

where D holds known orthonormal eigenvectors of M = Q Qᵀ (a :class:`Deflation`): usually only
p = √π (eigenvalue s_0² = 1), so exactly one direction (the constant function) is removed; for a
context with r connected components, the r component vectors √π·1_c/‖√π·1_c‖ (all of eigenvalue
1), because a block Krylov method with block size b cannot find more than b copies of a repeated
eigenvalue.

Algorithm (block Lanczos with full reorthogonalisation and thick restarts, i.e. the block form of
Stewart's Krylov-Schur method):

1. expand an orthonormal basis V = [X_0, X_1, ...] block by block: W = M X_j, orthogonalise W
   against the previous and current blocks (the block three-term recurrence), then once more
   against the whole basis (full reorthogonalisation in one BLAS-3 pass, a second pass only when
   the first removed most of W), and take W = X_{j+1} R_j by a rank-revealing QR (an exhausted
   direction is replaced by a fresh random one, with zero coupling);
2. the coefficients give T = Vᵀ M V exactly, with the Krylov relation M V = V T + X_next E;
3. when the basis reaches ``max_basis`` vectors: Rayleigh-Ritz, T = Z Θ Zᵀ; the residual of Ritz
   pair i is ‖E z_i‖ at no cost; stop when the ``n_wanted`` leading ones are below ``tol``;
   otherwise keep the ``keep`` leading Ritz vectors (thick restart: V ← V Z_keep, T ← Θ_keep
   bordered by E Z_keep) and expand again from X_next.

With block size b between 8 and 16 the number of products matches single-vector Lanczos (ARPACK)
while every operation is a block (BLAS-3) product.

Two options trade work between the parts of a step: ``power`` q iterates on M̃^q (q products per
vector, fewer vectors; see :func:`block_krylov_schur`), and ``parts`` splits every pass over the n
rows between threads (see :mod:`contextures.spectral.parts`).

Product tracking (``track_products=True``, for operators whose products dominate the cost, such as a
stored dense Q): ``apply(X)`` returns the pair (M X, Qᵀ X) and the engine keeps both for every basis
vector, transformed alongside the basis at restarts, so that the Ritz vectors Y = Z V come with
M Y = Z (M V) and Qᵀ Y = Z (Qᵀ V): the float64 residuals ‖M y − θ y‖ and the right singular
vectors then cost no further product (each column of M V is an actual product with the operator;
only the linear combination is new, with rounding error of order eps·‖Z‖).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg.blas import get_blas_funcs

from .. import _progress as progress
from .parts import RowParts, inner_products

# a float32 block's components along the basis above this are removed (about 30 eps32: 1e-4
# measurably degrades the float64-refined eigenvalues)
SEMI_ORTHOGONALITY_FLOAT32 = 1e-5


@dataclass
class KrylovOutput:
    """Ritz pairs of the deflated operator, in the engine's row order and working precision."""

    values: np.ndarray          # (n_wanted,) descending Ritz values θ_i ≈ s_i²
    vectors: np.ndarray         # (n_wanted, n) Ritz vectors as rows, orthonormal
    residual_estimates: np.ndarray  # (n_wanted,) ‖E z_i‖ from the Krylov relation
    converged: bool
    restarts: int
    products: int               # number of columns multiplied by M
    power_rejected: bool = False  # a run on M^q (q > 1) gave up: see ``power`` in block_krylov_schur
    extra_values: np.ndarray = field(default_factory=lambda: np.empty(0))
    extra_vectors: np.ndarray | None = None  # the next Ritz vectors (rows)
    products_of_vectors: tuple[np.ndarray, np.ndarray] | None = None  # (M Y, Qᵀ Y) rows, tracked
    stats: dict = field(default_factory=dict)  # seconds per phase, full reorthogonalisations


class Deflation:
    """The projection W ← (I − D Dᵀ) W for orthonormal columns D (n × r), applied in place.

    ``Deflation(p)`` for one dense vector; ``Deflation.components(labels, sqrt_pi)`` for the
    disjoint-support vectors D[:, c] = √π·1_c / ‖√π·1_c‖ of r connected components, stored as a
    sparse n × r matrix (so r may be large).
    """

    def __init__(self, vector: np.ndarray):
        self.D = np.asarray(vector)[:, None]
        self.sparse = False
        self.weights = np.ones(1)

    @classmethod
    def components(cls, labels: np.ndarray, sqrt_pi: np.ndarray, dtype) -> Deflation:
        n = labels.size
        r = int(labels.max()) + 1
        norms = np.sqrt(np.bincount(labels, weights=sqrt_pi**2, minlength=r))
        D = sp.csr_matrix(((sqrt_pi / norms[labels]).astype(dtype), (np.arange(n), labels)),
                          shape=(n, r))
        self = cls.__new__(cls)
        self.D = D
        self.DT = sp.csr_matrix(D.T)
        self.sparse = True
        self.weights = norms / np.sqrt(np.sum(norms**2))
        return self

    def component_space(self, count: int) -> np.ndarray:
        """``count`` orthonormal vectors of span(D) orthogonal to √π = Σ_c a_c D[:, c] (dense).

        With a_c = ‖√π·1_c‖, a Householder reflection H maps e_1 to a; its columns 2..r are an
        orthonormal basis of a^⊥ in R^r, and D H[:, 1:] one of span(D) ⊥ √π.
        """
        a = self.weights
        r = a.size
        v = a.copy()
        v[0] -= 1.0
        vv = float(v @ v)
        B = np.zeros((r, count))
        B[np.arange(1, count + 1), np.arange(count)] = 1.0
        if vv > 0:
            B -= np.outer(v, 2.0 * v[1:count + 1] / vv)
        return np.asarray(self.D @ B)

    @property
    def rank(self) -> int:
        return self.D.shape[1]

    def astype(self, dtype) -> Deflation:
        if self.sparse:
            D = self.D.astype(dtype)
            out = Deflation.__new__(Deflation)
            out.D, out.DT, out.sparse = D, sp.csr_matrix(D.T), True
            out.weights = self.weights
            return out
        return Deflation(self.D[:, 0].astype(dtype))

    def remove(self, W: np.ndarray) -> np.ndarray:
        """W ← (I − D Dᵀ) W for the columns of W (n × b), in place."""
        if self.sparse:
            W -= self.D @ (self.DT @ W)
        else:
            W -= self.D @ (self.D.T @ W)
        return W

    def remove_rows(self, Wt: np.ndarray) -> np.ndarray:
        """The same for vectors stored as the rows of Wt (b × n), in place."""
        if self.sparse:
            self.remove(Wt.T)
        elif Wt.flags.c_contiguous and Wt.dtype == self.D.dtype:
            # a rank-one update in place (BLAS ger on Wtᵀ), without an outer-product temporary
            d = self.D[:, 0]
            ger = get_blas_funcs("ger", (Wt,))
            out = ger(-1.0, d, Wt @ d, a=Wt.T, overwrite_a=True)
            if not np.shares_memory(out, Wt):     # (never seen: f2py updates Wtᵀ in place)
                Wt[...] = out.T
        else:
            d = self.D[:, 0]
            Wt -= np.outer(Wt @ d, d)
        return Wt


def _svqb(Wt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One SVQB step (Stathopoulos & Wu 2002) on the rows of Wt (b × n): W = X R from the
    eigen-decomposition of WᵀW = Wt Wtᵀ.

    Returns Xt (rows orthonormal where σ > 0), R and the singular values σ of W.
    """
    G = Wt @ Wt.T
    lam, U = np.linalg.eigh(0.5 * (G + G.T))
    lam, U = lam[::-1], U[:, ::-1]
    sigma = np.sqrt(np.clip(lam, 0.0, None))
    inv = np.where(sigma > 0, 1.0 / np.where(sigma > 0, sigma, 1.0), 0.0)
    Xt = (U * inv[None, :]).T.astype(Wt.dtype) @ Wt
    R = sigma[:, None] * U.T
    return Xt, R, sigma


def _orthonormal_rows(Wt: np.ndarray, rng: np.random.Generator, basis: np.ndarray,
                      deflation: Deflation, scale: float, out: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Rank-revealing orthonormalisation of a block stored as rows: W = X R, with Wt = Wᵀ (b × n),
    X orthonormal, ⟂ ``basis`` (rows) and D; returns (Xᵀ, R).

    Two SVQB steps (BLAS-3 Gram matrices; the second restores orthogonality to rounding) when W
    is well conditioned, a Householder QR followed by an SVD of R otherwise. Directions of W below
    ``1e-10 · scale`` are exhausted (the Krylov space became invariant there); they are replaced
    by random directions orthogonal to everything, with a zero row in R. ``out`` (b × n), when
    given, receives Xᵀ (the basis rows it will be, without a copy in the usual case).
    """
    eps = np.finfo(Wt.dtype).eps
    Xt, R1, sigma = _svqb(Wt)
    if sigma[-1] > 1e3 * np.sqrt(eps) * sigma[0]:
        Xt, R2, _ = _svqb(Xt)
        u, s, vt = np.linalg.svd(R2 @ R1)
        Xt = np.matmul(u.T.astype(Wt.dtype), Xt, out=out)
        R = s[:, None] * vt
    else:
        Qw, Rw = np.linalg.qr(Wt.T)
        u, s, vt = np.linalg.svd(Rw)
        Xt = np.ascontiguousarray((Qw @ u.astype(Wt.dtype)).T)
        R = s[:, None] * vt
    small = s <= 1e-10 * max(scale, 1e-300)
    if np.any(small):
        k = int(small.sum())
        fresh = rng.standard_normal((k, Wt.shape[1])).astype(Wt.dtype)
        good = Xt[~small]
        for _ in range(2):
            deflation.remove_rows(fresh)
            if basis.shape[0]:
                fresh -= (fresh @ basis.T) @ basis
            if good.shape[0]:
                fresh -= (fresh @ good.T) @ good
        fresh = np.ascontiguousarray(np.linalg.qr(fresh.T)[0].T)
        Xt = np.concatenate([good, fresh], axis=0)
        R = np.concatenate([R[~small], np.zeros((k, R.shape[1]), dtype=R.dtype)], axis=0)
    if out is not None and Xt is not out:
        out[...] = Xt
        Xt = out
    return Xt, R


# --- the row-part operations of a block step (see spectral.parts); rows = parts.rows --------------
def _transpose_part(i, rows, W, Wt):
    """Wt = Wᵀ on part i's rows."""
    Wt[:, rows[i]] = W[rows[i]].T


def _update_part(i, rows, Wt, coefficients, against, basis):
    """On part i's rows: W −= againstᵀ C (when C is given); then part i's shares of basis·W (when
    ``basis`` is given, else 0) and of the squared norms of the vectors of W."""
    r = rows[i]
    if coefficients is not None:
        Wt[:, r] -= coefficients.T @ against[:, r]
    share = inner_products(i, rows, basis, Wt) if basis is not None else 0.0
    return share, np.einsum("ij,ij->i", Wt[:, r], Wt[:, r])


def _combine_part(i, rows, out, Z, Vt):
    """out = Z Vt on part i's rows (Z Vt[:, r] is formed before ``out`` is written, so ``out`` may
    share rows with Vt)."""
    out[:, rows[i]] = Z @ Vt[:, rows[i]]


def block_krylov_schur(apply, n: int, n_wanted: int, deflation: Deflation, *, block_size: int,
                       max_basis: int, keep: int, tol: float, max_restarts: int,
                       rng: np.random.Generator, dtype=np.float64,
                       start: np.ndarray | None = None, check_share: float = 0.3,
                       track_products: bool = False, m_columns: int | None = None,
                       product_cost: float | None = None, parts: RowParts | None = None,
                       power: int = 1, power_floor: float = 0.1) -> KrylovOutput:
    """Top ``n_wanted`` eigenpairs of (I − ppᵀ) M (I − ppᵀ); see the module docstring.

    ``apply(X)`` returns M X for an (n × b) block; ``deflation`` removes the known eigenvectors.
    Requires n_wanted ≤ keep, keep + block_size ≤ max_basis and max_basis + block_size ≤ n − 1.
    ``start`` (rows) optionally seeds the first block. Besides the Rayleigh-Ritz step at each
    restart, convergence is checked between restarts (once the basis holds ``keep`` vectors)
    whenever the work since the last check is at least the cost of a check divided by
    ``check_share`` (a third of it before the first restart): the checks take at most that share
    of the work, and the iteration stops soon after it converges; a cycle whose worst wanted
    residual did not fall between two checks is not checked again. ``check_share=0`` checks at
    restarts only. Work is counted, not timed, so the schedule (hence every bit of the result) is
    the same on every run: a block step costs b·``product_cost`` (the cost of one product M x in
    dense-BLAS flop equivalents; default 4n²) plus 4·n·k·b for the orthogonalisation, a check
    10·k³ (the k × k eigenproblem). With ``track_products`` ``apply`` returns (M X, Qᵀ X) for a Q with
    ``m_columns`` columns (see the module docstring).

    ``parts`` (a :class:`~contextures.spectral.parts.RowParts` of range(n)) spreads the basis
    updates and inner products over its threads (call under a single-threaded BLAS); ``apply``
    splits its own products.

    ``power`` q > 1 runs the iteration on M̃^q (q products per basis column; M̃ is PSD, so M̃^q has
    the same eigenvectors in the same order, and Ritz values θ ≈ s^{2q}). Raising the operator to
    a power widens the relative gaps at the top of the spectrum, so fewer basis vectors, hence
    fewer orthogonalisations and Rayleigh-Ritz steps, are needed; the products cost more. Pair i
    counts as converged when its residual is below tol · q θ_i^{(q−1)/q}, the slope of λ ↦ λ^q
    at λ_i = θ_i^{1/q} (a vector's M̃-residual is about its M̃^q-residual divided by that
    slope). Small eigenvalues are squeezed towards zero (and towards the rounding floor of a
    float32 iteration) by the power: when a Rayleigh-Ritz step finds the ``n_wanted``-th Ritz
    value below ``power_floor``^q (a lower bound of s_d^{2q}, by interlacing), the run stops with
    ``power_rejected`` set, and the caller runs again on M̃ itself.
    """
    if power > 1 and track_products:
        raise ValueError("power > 1 and track_products exclude each other (the tracked products "
                         "are of M)")
    b = block_size
    parts = RowParts(n) if parts is None else parts
    rows = parts.rows
    dtype = np.dtype(dtype)
    deflation = deflation.astype(dtype)
    # semi-orthogonality level: components of a new block along the basis below it are left
    # (Ritz values stay accurate to rounding, Simon 1984); above it they are removed
    # (and far enough below tol that the Krylov relation, hence the residual estimate, holds)
    semi = min(1e-9, 0.05 * tol) if dtype == np.float64 else SEMI_ORTHOGONALITY_FLOAT32
    Vt = np.empty((max_basis + b, n), dtype=dtype)     # basis vectors as rows
    T = np.zeros((max_basis + b, max_basis + b))       # projected matrix, float64
    if track_products:
        MVt = np.empty((max_basis, n), dtype=dtype)        # M v for the basis rows v
        QtVt = np.empty((max_basis, m_columns), dtype=dtype)  # Qᵀ v

    X0 = rng.standard_normal((b, n)).astype(dtype)
    if start is not None:
        s = min(b, start.shape[0])
        X0[:s] = start[:s]
    deflation.remove_rows(X0)
    Vt[:b], _ = _orthonormal_rows(X0, rng, Vt[:0], deflation, 1.0)

    per_product = float(product_cost) if product_cost is not None else 4.0 * n * n
    work = {"since_check": 0.0}
    stats = dict.fromkeys(["products", "orthogonalisation", "rayleigh_ritz", "restarts"], 0.0)
    stats["reorthogonalisations"] = 0
    stats["checks"] = 0
    # the worst wanted residual at the last check; whether a run on M^q gave up
    cycle = {"worst": None, "checking": True, "rejected": False}

    def rayleigh_ritz(k: int):
        t = time.perf_counter()
        Tk = T[:k, :k]
        top = min(keep, k)
        # numpy's LAPACK, the same library as the block products (two OpenBLAS thread pools
        # alternating busy-wait on each other)
        theta, Z = np.linalg.eigh(0.5 * (Tk + Tk.T))
        theta, Z = theta[::-1][:top], Z[:, ::-1][:, :top]
        res = np.linalg.norm(T[k:k + b, :k] @ Z, axis=0)
        wanted = np.clip(theta[:n_wanted], 0.0, None)
        limit = tol * power * wanted ** ((power - 1) / power) if power > 1 else tol
        work["since_check"] = 0.0
        stats["rayleigh_ritz"] += time.perf_counter() - t
        # a cycle whose worst wanted residual did not fall between two checks is checked no
        # more before its restart (it is still far from converging: on the 20 000-point KNN
        # benchmark the worst residual of such a cycle is ~0.05 against a tol of 2e-5)
        worst = float(res[:n_wanted].max())
        if cycle["worst"] is not None and worst >= cycle["worst"]:
            cycle["checking"] = False
        cycle["worst"] = worst
        if power > 1 and wanted[-1] < power_floor ** power:
            cycle["rejected"] = True
        return theta, Z, res, bool(np.all(res[:n_wanted] <= limit))

    k = 0                 # basis vectors so far; the pending block is rows k..k+b
    coupled_from = 0      # the pending block is coupled to rows coupled_from..k (after a restart: 0)
    products = 0
    restarts = 0
    converged = False
    bar = progress.task("Krylov-Schur", 0, "cycles")
    while True:
        while k + b <= max_basis:
            t0 = time.perf_counter()
            X = Vt[k:k + b].T
            if track_products:
                W, QtX = apply(X)
                W = np.asarray(W, dtype=dtype)
                MVt[k:k + b] = W.T
                QtVt[k:k + b] = np.asarray(QtX).T
            else:
                W = np.asarray(apply(X), dtype=dtype)
                for _ in range(power - 1):
                    W = np.asarray(apply(W), dtype=dtype)
            products += b * power
            t1 = time.perf_counter()
            stats["products"] += t1 - t0
            # the block is kept as rows (b × n, like the basis; W = Wtᵀ): the updates W -= V C
            # then read the basis as one row-major product Cᵀ Vt (measured 1.4× faster than V C),
            # and the new rows are written without a transposition
            Wt = np.empty((b, n), dtype=dtype)
            local = Vt[coupled_from:k + b]
            basis = Vt[:k + b]
            parts.run(_transpose_part, rows, W, Wt)
            deflation.remove_rows(Wt)
            norm_before = np.linalg.norm(Wt, axis=1)
            # local pass: the block three-term recurrence (or the restart's arrow)
            H = np.zeros((k + b, b))
            H_loc = parts.sum(inner_products, rows, local, Wt)
            H[coupled_from:] = H_loc
            # measured reorthogonalisation against the whole basis: one BLAS-3 read (in the same
            # pass as the local update) measures the components; they are removed (a second read)
            # only above the semi-orthogonality level, and the pass is repeated when it removed
            # most of W (Kahan-Parlett "twice is enough")
            C, norm2 = parts.sum(_update_part, rows, Wt, H_loc, local, basis)
            for attempt in range(2):
                norm_in = np.sqrt(norm2)
                if np.abs(C).max() <= semi * max(float(norm_in.max()), 1e-300):
                    break
                H += C
                stats["reorthogonalisations"] += 1
                _, norm2 = parts.sum(_update_part, rows, Wt, C, basis, None)
                deflation.remove_rows(Wt)
                if attempt == 1 or np.all(np.sqrt(norm2) >= 0.7 * norm_in):
                    break
                C, norm2 = parts.sum(_update_part, rows, Wt, None, None, basis)
            t2 = time.perf_counter()
            stats["orthogonalisation"] += t2 - t1
            _, R = _orthonormal_rows(Wt, rng, basis, deflation, float(norm_before.max()),
                                     out=Vt[k + b:k + 2 * b])
            stats["orthogonalisation"] += time.perf_counter() - t2
            T[:k + b, k:k + b] = H
            T[k:k + b, :k + b] = H.T
            T[k + b:k + 2 * b, k:k + b] = R
            T[k:k + b, k + b:k + 2 * b] = R.T
            coupled_from = k
            k += b
            work["since_check"] += b * power * per_product + 4.0 * n * k * b
            # (the first cycle rarely converges before its restart: check three times less)
            share = check_share if restarts else check_share / 3
            if (share > 0 and keep + b <= k <= max_basis - b
                    and cycle["checking"]
                    and work["since_check"] >= 10.0 * float(k) ** 3 / share):
                theta, Z, res, converged = rayleigh_ritz(k)
                stats["checks"] += 1
                if converged or cycle["rejected"]:
                    break
        if not (converged or cycle["rejected"]):
            theta, Z, res, converged = rayleigh_ritz(k)
        bar.update(restarts + 1, detail=f"{products} products, largest residual of the "
                                        f"{n_wanted} wanted {np.max(res[:n_wanted]):.1e}")
        if converged or cycle["rejected"] or restarts >= max_restarts:
            break
        cycle.update(worst=None, checking=True, rejected=False)
        # thick restart: keep the leading Ritz vectors
        t3 = time.perf_counter()
        E = T[k:k + b, :k]
        Zk = np.ascontiguousarray(Z[:, :keep].T, dtype=dtype)
        parts.run(_combine_part, rows, Vt[:keep], Zk, Vt[:k])
        Vt[keep:keep + b] = Vt[k:k + b]
        if track_products:
            MVt[:keep] = Zk @ MVt[:k]
            QtVt[:keep] = Zk @ QtVt[:k]
        Tn = np.zeros_like(T)
        Tn[:keep, :keep] = np.diag(theta[:keep])
        C = E @ Z[:, :keep]
        Tn[keep:keep + b, :keep] = C
        Tn[:keep, keep:keep + b] = C.T
        T = Tn
        k = keep
        coupled_from = 0
        restarts += 1
        stats["restarts"] += time.perf_counter() - t3
    bar.close()
    Zw = np.ascontiguousarray(Z[:, :keep].T, dtype=dtype)
    Y = np.empty((keep, n), dtype=dtype)
    parts.run(_combine_part, rows, Y, Zw, Vt[:k])
    tracked = None
    if track_products:
        Zn = Zw[:n_wanted]
        tracked = (Zn @ MVt[:k], Zn @ QtVt[:k])
    return KrylovOutput(values=theta[:n_wanted].copy(), vectors=Y[:n_wanted],
                        residual_estimates=res[:n_wanted], converged=converged,
                        restarts=restarts, products=products,
                        extra_values=theta[n_wanted:keep].copy(), extra_vectors=Y[n_wanted:],
                        stats=stats, products_of_vectors=tracked,
                        power_rejected=cycle["rejected"])
