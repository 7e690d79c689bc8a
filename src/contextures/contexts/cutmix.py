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

Cost: time O(Σ_a |R(a)|·|H(a)|·F) and memory O(Σ_a |R(a)|) over the S = r·n draws, evaluated in
batches of draws (match masks as bit words, all draws with the same |H| at once) rather than draw
by draw. With continuous features R(a) is tiny (the origin, the partner and coincidences) and
this is cheap; with low-cardinality (binary, one-hot) columns nearly every row shares values with
every draw and the exact operator is out of reach: ``operator()`` then raises ParameterError with
the estimated cost (learn cutmix with an encoder instead: ``sample`` always works). Draws that equal a
sample row (all features kept, probability (1 − p)^F, or all taken from the partner) have a
non-zero density under every row, so they make dense columns of P.

The operator is then the Monte-Carlo operator of :mod:`~contextures.contexts.montecarlo`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .._memory import check_allocation, resolve_budget
from ..exceptions import ParameterError
from ._validation import check_fitted, check_new_data
from .base import register_context
from .montecarlo import (
    THRESHOLD,
    row_normalize,
    safe_log,
)
from .scarf import PartnerCorruptionContext, partners

_BATCH_COMPARISONS = 1 << 21  # candidate entries × features compared per batch of draws
_GROUP_PAIRS = 1 << 20  # (row, partner) pairs tested together for draws with equal h
_BASELINE_BLOCK = 1 << 22  # rows × draws of the baseline columns of W built at once


def _match_masks(code_t: np.ndarray, draw_t: np.ndarray, rows: np.ndarray,
                 sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the candidate entries (draw s, row rows[e]), draw s repeated sizes[s] times: the match
    masks m_e = {f : x_{rows[e] f} = a_{s f}} as bits (feature f at bit f mod 64 of word ⌊f/64⌋,
    words of the smallest unsigned type holding min(F, 64) bits; E × ⌈F/64⌉) and |m_e|.

    ``code_t`` (F × n) and ``draw_t`` (F × draws) are the value codes, feature-major.
    """
    F = code_t.shape[0]
    E = rows.size
    bits = min(F, 64)
    word = np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32 if bits <= 32 \
        else np.uint64
    words = np.zeros((-(-F // 64), E), dtype=word)
    cnt = np.zeros(E, dtype=np.int16 if F < 2**15 else np.int64)
    for f in range(F):
        eq = code_t[f][rows] == np.repeat(draw_t[f], sizes)
        cnt += eq
        words[f >> 6] |= eq.view(np.uint8).astype(word) << word(f & 63)
    return np.ascontiguousarray(words.T), cnt


def _covers(a: np.ndarray, b: np.ndarray, full: np.ndarray) -> np.ndarray:
    """1{m_a ∪ m_b = all features} for match masks as bit words (last axis, ``_match_masks``),
    broadcast over the other axes."""
    eq = (a | b) == full
    return eq[..., 0] if eq.shape[-1] == 1 else eq.all(axis=-1)


def _covering_pairs(G: np.ndarray, h: int, starts: np.ndarray, sizes: np.ndarray,
                    heavy: np.ndarray, heavy_list: np.ndarray, heavy_before: np.ndarray,
                    words: np.ndarray, full: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ordered pairs (i, l), i ≠ l, of candidates of the same draw, one of them heavy, with
    m_i ∪ m_l = all features, for the draws G (batch positions) that all have h heavy candidates.

    Entries are batch positions: draw g's candidates are starts[g] .. starts[g] + sizes[g] − 1,
    ``heavy_list`` the heavy positions in order and ``heavy_before[e]`` their number before e.
    """
    H = heavy_list[heavy_before[starts[G]][:, None] + np.arange(h)]  # |G| × h
    wh = words[H]
    hh = _covers(wh[:, :, None], wh[:, None, :], full)
    diag = np.arange(h)
    hh[:, diag, diag] = False
    g, a, b = np.nonzero(hh)
    i_parts = [H[g, a]]
    l_parts = [H[g, b]]
    n_light = sizes[G] - h
    if n_light.sum():
        entries = (np.repeat(starts[G] - (np.cumsum(sizes[G]) - sizes[G]), sizes[G])
                   + np.arange(int(sizes[G].sum())))
        light = entries[~heavy[entries]]
        # the masks of the heavy partners of each light row, repeated per light row
        w_partners = np.repeat(wh, n_light, axis=0)
        r, c = np.nonzero(_covers(words[light][:, None], w_partners, full))
        li = light[r]
        hj = H[np.searchsorted(np.cumsum(n_light), r, side="right"), c]
        i_parts += [li, hj]
        l_parts += [hj, li]
    return np.concatenate(i_parts), np.concatenate(l_parts)


def _segment_logsumexp(x: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """log Σ_{j ∈ [starts_g, starts_g + sizes_g)} exp(x_j) for back-to-back segments covering x,
    −inf for an empty segment."""
    out = np.full(sizes.size, -np.inf)
    nz = np.flatnonzero(sizes > 0)
    if not nz.size:
        return out
    peak = np.maximum.reduceat(x, starts[nz])
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        out[nz] = safe + np.log(np.add.reduceat(np.exp(x - np.repeat(safe, sizes[nz])),
                                                starts[nz]))
    return out


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
        """log q(a_s | x_i) on the candidates, the baselines and log P̂_A, for every draw.

        The draws are taken in batches of consecutive draws (about ``_BATCH_COMPARISONS`` / F
        candidate entries each). For every entry (s, i), i ∈ R(a_s): its match mask m_i (bits),
        |m_i|, and heavy = |m_i| ≥ ⌈F/2⌉. With u_i = (F − |m_i|)·log p and
        v_l = (F − |m_l|)·log(1 − p), a covering pair (m_i ∪ m_l = all features) has the term
        u_i + v_l, and for i ∈ R(a_s)

            log q_R(a_s | x_i) = log Σ_{l ∈ R(a_s), l ≠ i, i or l heavy, m_i ∪ m_l covering}
                                 exp(u_i + v_l).

        The draws with h heavy candidates are evaluated together (``_covering_pairs``: heavy ×
        heavy and light × heavy masks, both orders of a light–heavy pair), and the log-sums are
        taken over the covering pairs of each row. Then the closed forms for the rows outside R,
        the baseline and log P̂_A(a_s) = log (1/n) Σ_i q(a_s | x_i).
        """
        S = self.n_draws_
        C = self._candidates(memory_budget)
        F = self.X_.shape[1]
        indptr = C.indptr.astype(np.int64)
        # feature-major codes (int32: codes are < n) for one gather per feature and batch
        code_t = np.ascontiguousarray(self._values.codes.T, dtype=np.int32)
        draw_t = np.ascontiguousarray(self._draw_codes.T, dtype=np.int32)
        vals = np.empty(C.nnz)
        baseline = np.full(S, -np.inf)
        log_pa = np.empty(S)
        step = max(1, _BATCH_COMPARISONS // F)
        cost = 0
        d0 = 0
        while d0 < S:
            d1 = int(np.searchsorted(indptr, indptr[d0] + step, side="right")) - 1
            d1 = min(S, max(d0 + 1, d1))
            cost = self._compute_batch(C.indices, indptr, code_t, draw_t, d0, d1, cost, vals,
                                       baseline, log_pa)
            d0 = d1
        self._log_pa = log_pa
        self._tables = (C, vals, baseline - log_pa)

    def _compute_batch(self, indices: np.ndarray, indptr: np.ndarray, code_t: np.ndarray,
                       draw_t: np.ndarray, d0: int, d1: int, cost: int, vals: np.ndarray,
                       baseline: np.ndarray, log_pa: np.ndarray) -> int:
        """Draws d0..d1−1 (see ``_compute``): writes their entries of ``vals``, ``baseline`` and
        ``log_pa`` and returns the running count of feature-pair evaluations,
        Σ_s (|R|·|H| + |H|·|R \\ H|)·F, refused above ``max_pair_evaluations``."""
        n, F = self.X_.shape
        S = self.n_draws_
        log_p, log_q = float(safe_log(self.p_)), float(safe_log(1.0 - self.p_))
        e0, e1 = int(indptr[d0]), int(indptr[d1])
        sizes = np.diff(indptr[d0:d1 + 1])
        starts = indptr[d0:d1] - e0
        draw = np.repeat(np.arange(d1 - d0), sizes)
        rows = indices[e0:e1]
        words, cnt = _match_masks(code_t, draw_t[:, d0:d1], rows, sizes)
        heavy = cnt >= math.ceil(F / 2)
        heavy_before = np.concatenate([[0], np.cumsum(heavy)])
        n_heavy = heavy_before[starts + sizes] - heavy_before[starts]
        running = cost + np.cumsum((sizes * n_heavy + n_heavy * (sizes - n_heavy)) * F)
        over = np.flatnonzero(running > self.max_pair_evaluations)
        if over.size:
            raise ParameterError(
                f"{self.spec()}: the exact cutmix density needs more than "
                f"{self.max_pair_evaluations:.0e} feature-pair evaluations (at draw "
                f"{d0 + int(over[0])} of {S}); the features share too many values. Use fewer "
                "draws or rows, or learn this context with an encoder (sample access)")
        # the mask of every feature: row 0 against its own codes
        full_word = _match_masks(code_t[:, :1], code_t[:, :1], np.zeros(1, dtype=np.int64),
                                 np.ones(1, dtype=np.int64))[0][0]
        logq = np.full(e1 - e0, -np.inf)
        heavy_list = np.flatnonzero(heavy)
        for h in np.unique(n_heavy[n_heavy > 0]):
            group = np.flatnonzero(n_heavy == h)
            # consecutive draws of the group with about _GROUP_PAIRS (row, partner) pairs at most
            load = sizes[group] * h
            part = (np.cumsum(load) - load) // _GROUP_PAIRS
            for G in np.split(group, np.flatnonzero(np.diff(part)) + 1):
                row, partner = _covering_pairs(G, int(h), starts, sizes, heavy, heavy_list,
                                               heavy_before, words, full_word)
                if row.size:
                    order = np.argsort(row, kind="stable")
                    row = row[order]
                    partner = partner[order]
                    first = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
                    counts = np.diff(np.append(first, row.size))
                    terms = (F - cnt[row]) * log_p + (F - cnt[partner]) * log_q
                    logq[row[first]] = _segment_logsumexp(terms, first, counts)
        # rows outside R(a_s): a row equal to a_s pairs with every outside partner ((1 − p)^F),
        # an outside row pairs only with a partner equal to a_s (p^F each): the baseline
        outside = n - sizes
        full = cnt == F
        full_before = np.concatenate([[0], np.cumsum(full)])
        n_full = full_before[starts + sizes] - full_before[starts]
        add = np.flatnonzero(full & (outside[draw] > 0))
        logq[add] = np.logaddexp(logq[add], np.log(outside[draw[add]]) + F * log_q)
        logq -= np.log(n - 1)
        with_base = (outside > 0) & (n_full > 0)
        base = np.full(d1 - d0, -np.inf)
        base[with_base] = np.log(n_full[with_base]) + F * log_p - np.log(n - 1)
        total = _segment_logsumexp(logq, starts, sizes)
        fin = np.isfinite(base)
        total[fin] = np.logaddexp(total[fin], np.log(outside[fin]) + base[fin])
        lp = total - np.log(n)
        vals[e0:e1] = logq - lp[draw]
        baseline[d0:d1] = base
        log_pa[d0:d1] = lp
        return int(running[-1])

    def log_marginal(self) -> np.ndarray:
        check_fitted(self)
        if self._tables is None:
            self._compute(None)
        return self._log_pa

    def _weights(self, memory_budget: int | None) -> tuple[sp.csr_matrix, float]:
        """W[i, s] = q(a_s | x_i)/P̂_A(a_s) / max_s' (same), entries below THRESHOLD dropped:
        the finite candidate entries of ``_tables`` and, for a draw with a baseline, every row
        outside R(a_s) (value baseline_s). Returns W and the largest dropped share of a row."""
        if self._tables is None:
            self._compute(memory_budget)
        C, vals, base = self._tables
        n, S = self.n_samples_, self.n_draws_
        finite = np.flatnonzero(np.isfinite(vals))
        ent_row = C.indices[finite]
        ent_draw = np.searchsorted(C.indptr, finite, side="right") - 1
        ent_val = vals[finite]
        # the row maximum over candidate entries and the baseline entries of each row
        rowmax = np.full(n, -np.inf)
        np.maximum.at(rowmax, ent_row, ent_val)
        with_base = np.flatnonzero(np.isfinite(base))
        unresolved = np.arange(n)
        for s in with_base[np.argsort(-base[with_base], kind="stable")]:
            inside = np.isin(unresolved, C.indices[C.indptr[s]:C.indptr[s + 1]])
            rowmax[unresolved[~inside]] = np.maximum(rowmax[unresolved[~inside]], base[s])
            unresolved = unresolved[inside]
            if not unresolved.size:
                break
        log_thr = np.log(THRESHOLD)
        rel = ent_val - rowmax[ent_row]
        keep = rel >= log_thr
        rows = [ent_row[keep]]
        cols = [ent_draw[keep]]
        data = [np.exp(rel[keep])]
        dropped_mass = np.zeros(n)
        np.add.at(dropped_mass, ent_row[~keep], np.exp(rel[~keep]))
        nnz = int(keep.sum())
        limit = resolve_budget(memory_budget)
        step = max(1, _BASELINE_BLOCK // n)
        for b0 in range(0, with_base.size, step):
            block = with_base[b0:b0 + step]
            lo, hi = C.indptr[block], C.indptr[block + 1]
            inside_rows = C.indices[np.repeat(lo - (np.cumsum(hi - lo) - (hi - lo)), hi - lo)
                                    + np.arange(int((hi - lo).sum()))]
            outside = np.ones((n, block.size), dtype=bool)
            outside[inside_rows, np.repeat(np.arange(block.size), hi - lo)] = False
            rel = base[block][None, :] - rowmax[:, None]
            take = outside & (rel >= log_thr)
            lost = outside & ~take
            dropped_mass += np.where(lost, np.exp(np.where(lost, rel, 0.0)), 0.0).sum(axis=1)
            running = nnz + np.cumsum(take.sum(axis=0))
            over = np.flatnonzero(16.0 * running > limit)
            if over.size:
                check_allocation(16.0 * running[over[0]], memory_budget,
                                 "the cutmix transition matrix")
            nnz = int(running[-1])
            idx, col = np.nonzero(take)
            rows.append(idx)
            cols.append(block[col])
            data.append(np.exp(rel[idx, col]))
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
