"""Cutmix context: one partner row l (uniform over the other rows) per draw; each feature, with
probability p, is taken from the partner.

Density. For a training row x_i (partner over the n − 1 other rows)

    q(a | x_i) = 1/(n−1) Σ_{l ≠ i} Π_f [ (1 − p)·1{a_f = x_if} + p·1{a_f = x_lf} ],

and for a new point x the mean is over all n rows (1/n Σ_l). With m_i ⊆ {1..F} the features where
a matches x_i and |m_i| their number, a term is non-zero only if m_i ∪ m_l covers every feature,
and then equals p^{F−|m_i|} (1 − p)^{|m_i \\ m_l|}. The evaluation is exact and restricted to
candidates: for a draw a, R(a) = rows sharing at least one value with a; a pair (i, l) can cover
only if one of them is *heavy* (|m| ≥ F/2), so the pairs evaluated are R × H and H × (R \\ H)
(H the heavy rows), plus closed forms for rows outside R: a row with no match needs a partner
equal to a (p^F per such partner), and a row equal to a gets (1 − p)^F from every partner outside R.

Cost: time O(Σ_a |R(a)|·|H(a)|·F) and memory O(Σ_a |R(a)|) over the S = r·n draws. With
continuous features R(a) is tiny (the origin, the partner and coincidences) and this is cheap;
with low-cardinality (binary, one-hot) columns nearly every row shares values with every draw
and the exact operator is out of reach: ``operator()`` then raises ParameterError with the
estimated cost (learn cutmix with an encoder instead: ``sample`` always works). Draws that equal a
sample row (all features kept, probability (1 − p)^F, or all taken from the partner) have a
non-zero density under every row, so they make dense columns of P.

The operator is then the Monte-Carlo operator of :mod:`~contextures.contexts.montecarlo`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation
from ..exceptions import ParameterError
from ._validation import check_fitted, check_new_data
from .base import register_context
from .montecarlo import (
    THRESHOLD,
    row_normalize,
    safe_log,
)
from .scarf import PartnerCorruptionContext, partners


def _logsumexp_rows(L: np.ndarray) -> np.ndarray:
    """log Σ_j exp(L[:, j]) with −inf for empty/all −inf rows."""
    if L.shape[1] == 0:
        return np.full(L.shape[0], -np.inf)
    peak = L.max(axis=1)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(L - safe[:, None]).sum(axis=1))


def _pair_log_terms(mq: np.ndarray, ml: np.ndarray, F: int, log_p: float, log_q: float,
                    same: np.ndarray | None) -> np.ndarray:
    """log of p^{F−|m_i|}(1−p)^{|m_i \\ m_l|} where m_i ∪ m_l covers all features, −inf elsewhere.

    ``same[i]`` is the column of ``ml`` that is row i itself (excluded), or −1.
    """
    fq = mq.astype(np.float64)
    fl = ml.astype(np.float64)
    both_miss = (1.0 - fq) @ (1.0 - fl).T
    inter = fq @ fl.T
    cq = fq.sum(axis=1)[:, None]
    L = (F - cq) * log_p + (cq - inter) * log_q
    L[both_miss > 0.5] = -np.inf
    if same is not None:
        rows = np.flatnonzero(same >= 0)
        L[rows, same[rows]] = -np.inf
    return L


@register_context
class CutmixContext(PartnerCorruptionContext):
    """Cutmix with one partner row per draw (see the module docstring).

    Parameters
    ----------
    p : float in [0, 1], probability of taking each feature from the partner
    draws : int ≥ 2, mixed copies per row for the Monte-Carlo operator
    random_state : int or None, seed of the draws
    """

    spec_name = "cutmix"
    max_pair_evaluations = 2e9  # feature-pair evaluations allowed for the exact density
    max_candidates = 1e8  # (row, draw) pairs sharing a value

    def _draw(self, origins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, F = self.X_.shape
        partner = partners(origins, n, (origins.size,), rng)
        take = rng.random((origins.size, F)) < self.p_
        return np.where(take, self.X_[partner], self.X_[origins])

    def _after_draws(self) -> None:
        self._draw_codes = self._values.encode(self.A_)
        self._tables = None

    # --- candidates -------------------------------------------------------------------------------
    def _candidates(self, memory_budget: int | None) -> sp.csr_matrix:
        """S × n CSR: row s lists the training rows sharing at least one value with a_s."""
        vals = self._values
        n, F = self.X_.shape
        S = self.n_draws_
        upper = np.minimum(n, vals.count_of(self._draw_codes).sum(axis=1)).sum()
        if upper > self.max_candidates:
            raise ParameterError(
                f"{self.spec()}: the exact cutmix density needs up to {upper:.3g} (row, draw) "
                f"candidate pairs (limit {self.max_candidates:.0e}): the features have too few "
                "distinct values (binary or one-hot columns make every row a candidate). Use "
                "fewer draws or rows, or learn this context with an encoder (sample access)")
        check_allocation(16.0 * upper, memory_budget, "the cutmix candidate sets")
        offsets = np.concatenate([[0], np.cumsum(vals.sizes)])[:-1]
        total = int(vals.sizes.sum())
        E = sp.csr_matrix((np.ones(n * F), (np.repeat(np.arange(n), F),
                                            (vals.codes + offsets[None, :]).ravel())),
                          shape=(n, total))
        D = sp.csr_matrix((np.ones(S * F), (np.repeat(np.arange(S), F),
                                            (self._draw_codes + offsets[None, :]).ravel())),
                          shape=(S, total))
        C = sp.csr_matrix(D @ E.T)
        C.sort_indices()
        return C

    def _draw_candidates(self, C: sp.csr_matrix, codes: np.ndarray, s: int, heavy_min: int):
        """Draw s's candidate rows R, their feature matches m (|R| × F), match counts, and the
        positions in R of the heavy (≥ heavy_min matches) and light rows."""
        R = C.indices[C.indptr[s]:C.indptr[s + 1]]
        m = codes[R] == self._draw_codes[s][None, :]
        cnt = m.sum(axis=1)
        return R, m, cnt, np.flatnonzero(cnt >= heavy_min), np.flatnonzero(cnt < heavy_min)

    def _compute(self, memory_budget: int | None) -> None:
        """log q(a_s | x_i) on the candidates, the baselines and log P̂_A, for every draw."""
        n, F = self.X_.shape
        S = self.n_draws_
        C = self._candidates(memory_budget)
        codes = self._values.codes
        log_p, log_q = float(safe_log(self.p_)), float(safe_log(1.0 - self.p_))
        heavy_min = math.ceil(F / 2)
        cost = 0.0
        entries_vals: list[np.ndarray] = []
        baseline = np.full(S, -np.inf)
        log_pa = np.empty(S)
        for s in range(S):
            R, m, cnt, heavy, light = self._draw_candidates(C, codes, s, heavy_min)
            cost += (R.size * heavy.size + heavy.size * light.size) * F
            if cost > self.max_pair_evaluations:
                raise ParameterError(
                    f"{self.spec()}: the exact cutmix density needs more than "
                    f"{self.max_pair_evaluations:.0e} feature-pair evaluations (at draw {s} of "
                    f"{S}); the features share too many values. Use fewer draws or rows, or "
                    "learn this context with an encoder (sample access)")
            # row i against heavy partners l ∈ H (l ≠ i)
            same = np.full(R.size, -1)
            same[heavy] = np.arange(heavy.size)
            parts = [_pair_log_terms(m, m[heavy], F, log_p, log_q, same)]
            logq_R = _logsumexp_rows(parts[0])
            if heavy.size and light.size:
                extra = _logsumexp_rows(_pair_log_terms(m[heavy], m[light], F, log_p, log_q, None))
                logq_R[heavy] = np.logaddexp(logq_R[heavy], extra)
            full = cnt == F
            outside = n - R.size
            if outside and full.any():
                logq_R[full] = np.logaddexp(logq_R[full], np.log(outside) + F * log_q)
            logq_R -= np.log(n - 1)
            n_full = int(full.sum())
            if outside and n_full:
                baseline[s] = np.log(n_full) + F * log_p - np.log(n - 1)
            total = _logsumexp_rows(logq_R[None, :])[0]
            if np.isfinite(baseline[s]):
                total = np.logaddexp(total, np.log(outside) + baseline[s])
            log_pa[s] = total - np.log(n)
            entries_vals.append(logq_R - log_pa[s])
        self._log_pa = log_pa
        self._tables = (C, np.concatenate(entries_vals) if entries_vals else np.empty(0),
                        baseline - log_pa)

    def log_marginal(self) -> np.ndarray:
        check_fitted(self)
        if self._tables is None:
            self._compute(None)
        return self._log_pa

    def _weights(self, memory_budget: int | None) -> tuple[sp.csr_matrix, float]:
        if self._tables is None:
            self._compute(memory_budget)
        C, vals, base = self._tables
        n, S = self.n_samples_, self.n_draws_
        CT = sp.csr_matrix((vals, C.indices, C.indptr), shape=(S, n)).T.tocsr()
        # the row maximum over candidate entries and the baseline entries of each row
        rowmax = np.full(n, -np.inf)
        np.maximum.at(rowmax, C.indices, vals)
        with_base = np.flatnonzero(np.isfinite(base))
        unresolved = np.arange(n)
        for s in with_base[np.argsort(-base[with_base], kind="stable")]:
            inside = np.isin(unresolved, C.indices[C.indptr[s]:C.indptr[s + 1]])
            rowmax[unresolved[~inside]] = np.maximum(rowmax[unresolved[~inside]], base[s])
            unresolved = unresolved[inside]
            if not unresolved.size:
                break
        log_thr = np.log(THRESHOLD)
        coo = CT.tocoo()
        finite = np.isfinite(coo.data)
        rel = np.where(finite, coo.data - rowmax[coo.row], -np.inf)
        keep = rel >= log_thr
        rows = [coo.row[keep]]
        cols = [coo.col[keep]]
        data = [np.exp(rel[keep])]
        dropped_mass = np.zeros(n)
        lost = finite & ~keep
        np.add.at(dropped_mass, coo.row[lost], np.exp(rel[lost]))
        nnz = int(keep.sum())
        for s in with_base:
            outside = np.ones(n, dtype=bool)
            outside[C.indices[C.indptr[s]:C.indptr[s + 1]]] = False
            rel = base[s] - rowmax
            take = outside & (rel >= log_thr)
            dropped_mass[outside & ~take] += np.exp(rel[outside & ~take])
            idx = np.flatnonzero(take)
            nnz += idx.size
            check_allocation(16.0 * nnz, memory_budget, "the cutmix transition matrix")
            rows.append(idx)
            cols.append(np.full(idx.size, s))
            data.append(np.exp(rel[idx]))
        W = sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n, S))
        W.sort_indices()
        kept = np.asarray(W.sum(axis=1)).ravel()
        dropped = float(np.max(dropped_mass / np.maximum(kept + dropped_mass, 1e-300)))
        return W, dropped

    def transition(self, X_new: np.ndarray) -> sp.csr_matrix:
        """Rows ∝ q(a_s | x)/P̂_A(a_s) over the training draws, q with the mean over all n rows."""
        check_fitted(self)
        X_new = check_new_data(X_new, self.n_features_in_, f"{self.spec()}.transition")
        log_pa = self.log_marginal()
        C = self._tables[0]
        n, F = self.X_.shape
        S = self.n_draws_
        m_new = X_new.shape[0]
        check_allocation(8.0 * m_new * S, None, f"{m_new}×{S} cutmix transition rows")
        L = np.full((m_new, S), -np.inf)
        codes = self._values.codes
        new_codes = self._values.encode(X_new)
        log_p, log_q = float(safe_log(self.p_)), float(safe_log(1.0 - self.p_))
        heavy_min = math.ceil(F / 2)
        for s in range(S):
            R, mR, cR, heavy, light = self._draw_candidates(C, codes, s, heavy_min)
            mx = new_codes == self._draw_codes[s][None, :]
            cx = mx.sum(axis=1)
            out = np.full(m_new, -np.inf)
            hit = np.flatnonzero(cx > 0)
            if hit.size and heavy.size:
                out[hit] = _logsumexp_rows(_pair_log_terms(mx[hit], mR[heavy], F, log_p, log_q,
                                                           None))
            hx = hit[cx[hit] >= heavy_min]
            if hx.size and light.size:
                extra = _logsumexp_rows(_pair_log_terms(mx[hx], mR[light], F, log_p, log_q, None))
                out[hx] = np.logaddexp(out[hx], extra)
            n_full = int((cR == F).sum())
            if n_full:
                miss = cx == 0
                out[miss] = np.log(n_full) + F * log_p
            outside = n - R.size
            full_x = cx == F
            if outside and full_x.any():
                out[full_x] = np.logaddexp(out[full_x], np.log(outside) + F * log_q)
            L[:, s] = out - np.log(n) - log_pa[s]
        peak = L.max(axis=1, keepdims=True)
        if not np.all(np.isfinite(peak)):
            raise ParameterError(f"{self.spec()}.transition: a new point cannot produce any of "
                                 "the training draws (density 0 everywhere)")
        L -= peak
        L[L < np.log(THRESHOLD)] = -np.inf
        W = sp.csr_matrix(np.exp(L))
        return row_normalize(W)
