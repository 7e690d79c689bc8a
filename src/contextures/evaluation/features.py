"""A user's own representation measured against the exact contexture of a context.

Given features F (n × p) of the n rows a context is fitted on (one row per data row, same order),
:func:`compare_features` fits the exact contexture on those rows, μ_1..μ_D (D = ``n_components``,
by default r = rank F), and reports

- ``cca_r2``, ``mutual_knn``, ``cka``: the alignment of F with μ_1..μ_D
  (:mod:`~contextures.evaluation.alignment`: invariant to invertible linear maps of F, except CKA,
  which is invariant to orthogonal maps and scaling only);
- ``ratio_trace``: RT(F) = Tr(C_F⁻¹ B_F), the share of the context's association F captures, beside
  its Ky Fan bound ``ky_fan_bound`` = s_1² + … + s_r² (RT ≤ bound, with equality exactly when
  span F = span{μ_1..μ_r}); ``ratio_trace_share`` = RT / bound ∈ [0, 1].

:func:`read_features` reads F from a ``.npy``, ``.parquet`` or ``.csv`` file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._memory import check_allocation
from ..datasets.parquet_sample import ParquetRows
from ..exceptions import DataError, MemoryBudgetError, ParameterError
from ..validation import check_array, check_int
from .alignment import cca_r2, linear_cka, mutual_knn, orthonormal_basis, ratio_trace


def _check_parquet_fits(path: Path) -> None:
    """Refuse a Parquet features file whose decoded size (read from its footer) is over the
    memory budget, before reading any row."""
    rows = ParquetRows.of_path(path, f"--features {path}")
    check_allocation(rows.decoded_bytes, None,
                     f"--features {path}: reading its {rows.n_rows} rows × {len(rows.columns)} "
                     "columns")


FEATURE_FORMATS = (".npy", ".parquet", ".csv")


@dataclass
class FeatureComparison:
    """What :func:`compare_features` measured (field names as in the ``compare`` command's JSON)."""

    context: str
    n_rows: int
    n_features: int
    rank: int
    n_components: int
    cca_r2: float
    mutual_knn: float
    cka: float
    ratio_trace: float
    ky_fan_bound: float
    ratio_trace_share: float
    singular_values: list[float] = field(repr=False)

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def compare_features(features, X, context, *, y=None, n_components: int | None = None,
                     mutual_k: int = 10, solver: str = "auto", random_state: int | None = 0,
                     memory_budget=None) -> FeatureComparison:
    """Measure features F (n × p) of the rows of X against the exact contexture of ``context``.

    ``X`` (n × m) are the rows the context is fitted on (``y`` its labels for a label context),
    ``features`` one row per row of X, in the same order. ``n_components`` D: how many exact
    eigenfunctions F is aligned with (default r = rank F, at most n − 2). See the module docstring.
    """
    from ..spectral import Contexture

    X = check_array(X, what="compare_features: X", min_samples=3)
    F = check_array(features, what="compare_features: features", allow_1d=True)
    n = X.shape[0]
    if F.shape[0] != n:
        raise ParameterError(f"compare_features: the features have {F.shape[0]} rows, the data "
                             f"{n}: they need one row per data row, in the data's order")
    if np.ptp(F, axis=0).max() == 0:
        raise ParameterError("compare_features: every feature column is constant")
    rank = min(orthonormal_basis(F, name="features").shape[1], n - 2)
    d = rank if n_components is None else check_int(n_components, "n_components", low=1,
                                                    high=n - 2, note=f" (n = {n} rows)")
    k = check_int(mutual_k, "mutual_k", low=1, high=n - 1)
    exact = Contexture(context, n_components=max(d, rank), solver=solver,
                       random_state=random_state, memory_budget=memory_budget)
    exact.fit(X, y, keep_operator=True)
    s = np.asarray(exact.singular_values_, dtype=np.float64)
    mu = exact.eigenfunctions_[:, :d]
    rt = ratio_trace(F, exact.operator_)
    bound = float(np.sum(s[:rank] ** 2))
    return FeatureComparison(
        context=exact.context_.spec(), n_rows=n, n_features=F.shape[1], rank=rank,
        n_components=d, cca_r2=cca_r2(F, mu), mutual_knn=mutual_knn(F, mu, k=k),
        cka=linear_cka(F, mu), ratio_trace=rt, ky_fan_bound=bound,
        ratio_trace_share=rt / bound if bound > 0 else float("nan"),
        singular_values=[float(v) for v in s])


def read_features(path: str | Path) -> np.ndarray:
    """Features from a ``.npy`` (a 2-D numeric array, no pickles), ``.parquet`` or ``.csv`` file
    (every column numeric; a CSV has a header row). NaN, infinite values and non-numeric columns
    are refused with a message naming them."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FEATURE_FORMATS:
        raise DataError(f"--features {path}: unknown format {suffix or '(no suffix)'!r}; use "
                        f"{', '.join(FEATURE_FORMATS)}")
    if not path.is_file():
        raise DataError(f"--features {path}: no such file")
    try:
        if suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            if suffix == ".parquet":
                _check_parquet_fits(path)
            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
            bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
            if bad:
                shown = ", ".join(bad[:5]) + (f", … ({len(bad)} columns)" if len(bad) > 5 else "")
                raise ParameterError(f"--features {path}: non-numeric column(s) {shown}")
            values = frame.to_numpy(dtype=np.float64)
    except (ParameterError, DataError, MemoryBudgetError):
        raise
    except Exception as exc:  # a corrupt or unreadable file, whatever the reader raises
        raise DataError(f"--features {path}: cannot be read ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from exc
    if not np.issubdtype(np.asarray(values).dtype, np.number) or np.iscomplexobj(values):
        raise ParameterError(f"--features {path}: holds {np.asarray(values).dtype} values, not "
                             "real numbers")
    return check_array(values, what=f"--features {path}", allow_1d=True)
