"""The cutmix exact density as it was computed draw by draw (one Python iteration per draw),
kept as the reference the vectorised ``CutmixContext._compute`` and ``_weights`` are compared
against (tests/test_cutmix_vectorised.py, benchmarks/cutmix_density.py).

For every draw a_s with candidate rows R(a_s): log q(a_s | x_i) for i ∈ R from the pairs (i, l),
l ∈ R, l ≠ i, whose matches cover every feature (term p^{F−|m_i|}(1 − p)^{F−|m_l|}), plus the
closed forms for the rows outside R, and log P̂_A(a_s) = log (1/n) Σ_i q(a_s | x_i).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from contextures._memory import check_allocation
from contextures.contexts.cutmix import CutmixContext, _logsumexp_rows, _pair_log_terms
from contextures.contexts.montecarlo import THRESHOLD, safe_log
from contextures.exceptions import ParameterError


class ReferenceCutmix(CutmixContext):
    """CutmixContext with the per-draw loops (same draws, same spec, same operator)."""

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
