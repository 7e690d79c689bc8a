"""The block size of the Krylov solvers: one rule, used by the solvers and by the time guard."""

from __future__ import annotations


def krylov_block_size(d: int, kind: str) -> int:
    """Columns per block product for d wanted pairs on an operator of ``kind``.

    A stored dense or matrix-free Q (products cheaper per column in wide blocks): 32 for d ≥ 64,
    16 for d ≥ 16, else 8. A sparse Q: 16 for d ≥ 64, 8 for d ≥ 8, else 4.
    """
    if kind in ("dense", "matrix_free"):
        return 32 if d >= 64 else 16 if d >= 16 else 8
    return 16 if d >= 64 else 8 if d >= 8 else 4
