"""Row partitions: one solve's work split over P threads, each with a single-threaded BLAS.

A sparse product Q (Qᵀ X) runs on one core in scipy, and between the BLAS calls of an iteration
OpenBLAS's idle threads busy-wait on the other cores, so a threaded BLAS and threaded sparse
products cannot share the cores. :class:`RowParts` instead splits the *rows* of every large array
of an iteration (the n sample rows of the basis, the m context values of Qᵀ X) into P contiguous
parts and gives each part to one thread (the caller's thread takes part 0), with BLAS limited to
one thread: products, basis updates and inner products then all run P-way parallel (numpy and
scipy release the GIL inside their kernels).

Inner products over the rows are partial sums, added in part order: the result depends on P (as a
threaded BLAS's depends on its thread count), never on the timing of the threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np


def split(n: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices of range(n), as equal as possible."""
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def inner_products(i: int, rows: list[slice], A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Part i's share of A Bᵀ for vectors stored as the rows of A and B (summed by
    ``RowParts.sum``: the inner products of every row of A with every row of B)."""
    return A[:, rows[i]] @ B[:, rows[i]].T


def csr_row_slices(A, slices: list[slice]) -> list:
    """The row slices of a CSR matrix, as CSR matrices that share its data and indices (no copy
    of the entries, unlike ``A[slice]``)."""
    import scipy.sparse as sp

    out = []
    for rows in slices:
        start, stop = A.indptr[rows.start], A.indptr[rows.stop]
        out.append(sp.csr_matrix((A.data[start:stop], A.indices[start:stop],
                                  A.indptr[rows.start:rows.stop + 1] - start),
                                 shape=(rows.stop - rows.start, A.shape[1]), copy=False))
    return out


def product_part(i: int, slices: list[slice], A_parts: list, X: np.ndarray,
                 out: np.ndarray) -> None:
    """out[slices[i]] = A_parts[i] X: part i of a product split by the rows of A (for
    :meth:`RowParts.run`; each row's sum is computed as in the whole product)."""
    out[slices[i]] = A_parts[i] @ X


class RowParts:
    """P row parts of range(n) (``rows``) and of range(m) (``columns``) and P threads to run them.

    ``run(f, *args)`` calls f(i, *args) for every part i (part 0 on the calling thread) and
    returns the results in part order; ``sum(f, *args)`` adds them in that order. With P = 1 both
    are plain calls. Use as a context manager (or call :meth:`close`) to stop the worker threads.
    """

    def __init__(self, n: int, parts: int = 1, m: int | None = None):
        parts = max(1, min(int(parts), n))
        self.count = parts
        self.rows = split(n, parts)
        self.columns = split(n if m is None else m, parts)
        self._pool = ThreadPoolExecutor(parts - 1, thread_name_prefix="rowparts") if parts > 1 else None

    def run(self, f, *args) -> list:
        if self._pool is None:
            return [f(0, *args)]
        futures = [self._pool.submit(f, i, *args) for i in range(1, self.count)]
        first = f(0, *args)
        return [first] + [future.result() for future in futures]

    def sum(self, f, *args):
        """Σ_i f(i, *args), added in part order (elementwise over a tuple of results)."""
        results = self.run(f, *args)
        total = results[0]
        for part in results[1:]:
            if isinstance(total, tuple):
                total = tuple(t + p for t, p in zip(total, part, strict=True))
            else:
                total = total + part
        return total

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> RowParts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
