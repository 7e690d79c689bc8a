"""Per-feature value codes of a sample, and sums over matching feature values.

Augmentations that copy values from other rows (SCARF, cutmix) produce draws whose feature
values are values of the sample, so their densities depend on which features of a draw equal
those of a row. ``ValueCodes`` maps each column's distinct values to codes 0..V_f − 1 (with their
counts: the empirical marginal), and ``MatchSum`` evaluates Σ_f g[s, f]·1{x_if = a_sf} for blocks of
rows against all draws: low-cardinality columns with a dense one-hot product (BLAS),
high-cardinality columns (continuous features, ~n distinct values) with a sparse product, whose
cost is the number of actual matches.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._memory import default_budget

LOW_CARDINALITY = 64
_DENSE_TABLE_BYTES = 256 * 1024**2


class ValueCodes:
    """Distinct values, codes and counts of every column of X (n × F)."""

    def __init__(self, X: np.ndarray):
        n, F = X.shape
        self.n_samples = n
        self.uniques: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.codes = np.empty((n, F), dtype=np.int64)
        for f in range(F):
            u, inverse, c = np.unique(X[:, f], return_inverse=True, return_counts=True)
            self.uniques.append(u)
            self.counts.append(c)
            self.codes[:, f] = inverse.ravel()
        self.sizes = np.array([u.size for u in self.uniques], dtype=np.int64)

    @property
    def n_features(self) -> int:
        return len(self.uniques)

    def encode(self, Z: np.ndarray) -> np.ndarray:
        """Codes of the values of Z (m × F); −1 where a value does not occur in the sample."""
        out = np.empty(Z.shape, dtype=np.int64)
        for f, u in enumerate(self.uniques):
            pos = np.searchsorted(u, Z[:, f])
            pos_c = np.minimum(pos, u.size - 1)
            out[:, f] = np.where(u[pos_c] == Z[:, f], pos_c, -1)
        return out

    def count_of(self, codes: np.ndarray) -> np.ndarray:
        """How many sample rows share each coded value (0 for −1)."""
        out = np.zeros(codes.shape, dtype=np.int64)
        for f, c in enumerate(self.counts):
            ok = codes[:, f] >= 0
            out[ok, f] = c[codes[ok, f]]
        return out


class MatchSum:
    """L[b, s] = Σ_f g[s, f] · 1{row_codes[b, f] = draw_codes[s, f]} for blocks of rows.

    ``draw_codes`` (S × F) must be valid codes (draws take their values from the sample).
    """

    def __init__(self, values: ValueCodes, draw_codes: np.ndarray, g: np.ndarray):
        S, F = draw_codes.shape
        self.S = S
        order = np.argsort(values.sizes, kind="stable")
        low: list[int] = []
        rows_low = 0
        # the dense table takes at most 1/8 of the memory budget (and 256 MiB)
        table_bytes = min(_DENSE_TABLE_BYTES, default_budget() / 8)
        for f in order:
            size = int(values.sizes[f])
            if size <= LOW_CARDINALITY and (rows_low + size) * S * 8 <= table_bytes:
                low.append(int(f))
                rows_low += size
        self.low = np.array(sorted(low), dtype=np.int64)
        self.high = np.array([f for f in range(F) if f not in set(low)], dtype=np.int64)
        cols = np.arange(S)
        self.low_offsets = np.concatenate([[0], np.cumsum(values.sizes[self.low])])[:-1]
        self.high_offsets = np.concatenate([[0], np.cumsum(values.sizes[self.high])])[:-1]
        self.n_low = int(values.sizes[self.low].sum())
        self.n_high = int(values.sizes[self.high].sum())
        self.G_low = np.zeros((self.n_low, S))
        for off, f in zip(self.low_offsets, self.low, strict=True):
            self.G_low[off + draw_codes[:, f], cols] = g[:, f]
        if self.high.size:
            r = (self.high_offsets[None, :] + draw_codes[:, self.high]).ravel(order="F")
            c = np.tile(cols, self.high.size)
            v = g[:, self.high].ravel(order="F")
            self.G_high = sp.csr_matrix((v, (r, c)), shape=(self.n_high, S))
        else:
            self.G_high = None

    def __call__(self, row_codes: np.ndarray) -> np.ndarray:
        B = row_codes.shape[0]
        if self.low.size:
            E = np.zeros((B, self.n_low))
            for off, f in zip(self.low_offsets, self.low, strict=True):
                ok = np.flatnonzero(row_codes[:, f] >= 0)
                E[ok, off + row_codes[ok, f]] = 1.0
            out = E @ self.G_low
        else:
            out = np.zeros((B, self.S))
        if self.G_high is not None:
            codes = row_codes[:, self.high]
            ok = codes >= 0
            rr, ff = np.nonzero(ok)
            E = sp.csr_matrix((np.ones(rr.size), (rr, self.high_offsets[ff] + codes[rr, ff])),
                              shape=(B, self.n_high))
            R = (E @ self.G_high).tocoo()
            out[R.row, R.col] += R.data
        return out
