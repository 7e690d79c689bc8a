"""The context selector's τ scan: a wide grid of KNN and RBF strengths scored by τ alone, and
the candidates chosen from it (see :mod:`contextures.experiments.selector`).

The scan is a study of its own (:data:`SCAN`): one cell per strength, each computing s_1..s_{d₀}
without eigenfunctions (:func:`~contextures.spectral.values.spectrum_values`) and τ from them.
:func:`choose_candidates` keeps, per family, up to :data:`PER_FAMILY` strengths τ ranks (evenly
spread; when τ ranks none, the one closest to ranking, with a note), a masked KNN and a masked
RBF at the middle of those, and SCARF only on mostly categorical data.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DataError
from ..reports.files import write_text
from ..reports.records import json_safe
from ..runner import Cell, partition_records
from ..runner.study import Study
from .encoding import context_cache, fitting_sample, load_prepared
from .strengths import RBFScale, family_of

DEFAULT_DATA = "abalone"
DEFAULT_MAX_FIT = 1500
DEFAULT_KNN = (5, 15, 50, 150)
"""The neighbour lists of the fitting rows are shared up to the largest k here (a cache size)."""
DEFAULT_SCARF = (0.1, 0.3)
SCAN_STRENGTHS = 8
RBF_SCAN_WEAK = 0.03
PER_FAMILY = 4
MASKS = 20
SCARF_MIN_CATEGORICAL = 0.5


@dataclass(frozen=True)
class FitRows:
    """What fixes the rows a context is fitted on, and τ's d₀ and β (shared by the scan and the
    candidates of one run)."""

    data: str = DEFAULT_DATA
    d0: int = 512
    beta: float = 1.0
    split_seed: int = 0
    fit_seed: int = 0
    max_fit: int = DEFAULT_MAX_FIT
    max_rows: int | None = None
    stream: bool = False
    """Stream a Parquet table's downstream rows from its file even when it fits in memory (one
    over the memory budget is streamed anyway; :mod:`~contextures.datasets.streamed`)."""

    def rows(self) -> dict[str, Any]:
        """The cell arguments that fix the rows (``stream`` only when set, so the cells of runs
        made before it existed keep their keys)."""
        rows = {"data": self.data, "split_seed": self.split_seed, "max_rows": self.max_rows,
                "max_fit": self.max_fit, "fit_seed": self.fit_seed}
        return {**rows, "stream": True} if self.stream else rows

    def record(self) -> dict[str, Any]:
        """The settings as recorded in a run's protocol (``stream`` only when set, so a run made
        before it existed resumes)."""
        record = asdict(self)
        if not self.stream:
            record.pop("stream")
        return record

    def prepared(self):
        """The prepared data of these settings (memoised per process)."""
        return fitting_rows(**self.rows())[0]


def fitting_rows(*, data: str, split_seed: int, max_rows: int | None, max_fit: int,
                 fit_seed: int, stream: bool = False):
    """(prepared data, fitting sample, its cache key) of one run's rows, memoised per process.

    A Parquet table over the memory budget (or any, with ``stream``) is prepared with its
    downstream rows streamed from the file and its fitting sample read alone.
    """
    prepared = load_prepared(data, None, split_seed, max_rows, n_fit=max_fit, fit_seed=fit_seed,
                             stream=True if stream else None)
    key = (data, None, split_seed, max_rows, bool(stream))
    return prepared, fitting_sample(prepared, max_fit, fit_seed, key), (*key, max_fit, fit_seed)


@dataclass(frozen=True)
class ScanSettings(FitRows):
    """The τ scan of one selector run: the rows it fits on, d₀ and β."""

    @classmethod
    def of(cls, settings: Any) -> ScanSettings:
        """The scan of a :class:`~contextures.experiments.selector.SelectorSettings`."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(FitRows)})

    @classmethod
    def quick(cls, **overrides: Any) -> ScanSettings:
        return cls(**{"max_fit": 300, "d0": 48, **overrides})

    def protocol(self) -> dict[str, Any]:
        return {"job": "run-scan", "version": 1, "settings": self.record()}

    def grid(self) -> dict[str, list[str]]:
        return scan_grid(fitting_rows(**self.rows())[1])

    def cells(self) -> list[Cell]:
        d0 = min(self.d0, min(self.max_fit, _n_pretrain(self)) - 2)
        fn = f"{__name__}:scan_cell"
        common = {**self.rows(), "d0": d0, "beta": float(self.beta)}
        return [Cell(spec, fn, {**common, "context": spec, "family": family})
                for family, specs in self.grid().items() for spec in specs]


def _n_pretrain(settings: Any) -> int:
    return int(settings.prepared().n_pretrain)


def _g(value: float) -> str:
    return format(float(value), ".6g")


def scan_grid(X_fit: np.ndarray) -> dict[str, list[str]]:
    """The wide grid the scan scores by τ: 8 KNN and 8 RBF strengths, weakest first."""
    n = int(X_fit.shape[0])
    ks = sorted({int(round(k)) for k in np.geomspace(3, max(4, n // 5), SCAN_STRENGTHS)
                 if 1 <= round(k) <= n - 1}, reverse=True)
    scale = RBFScale.of(X_fit)
    factors = np.geomspace(RBF_SCAN_WEAK, max(scale.strong_factor, 10 * RBF_SCAN_WEAK),
                           SCAN_STRENGTHS)
    return {"knn": [f"knn(k={k})" for k in ks],
            "rbf": [f"rbf(gamma={_g(f * scale.gamma_median)})" for f in factors]}


def _spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items evenly spread over ``items`` (both ends kept)."""
    if len(items) <= count:
        return list(items)
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, count)).astype(int))
    return [items[i] for i in idx]


def scan_values(spec: str, X_fit: np.ndarray, d0: int, beta: float, cache=None) -> dict[str, Any]:
    """τ of one scanned strength, from its singular values alone."""
    from ..evaluation import tau as tau_of
    from ..spectral.values import spectrum_values

    values, _ = spectrum_values(spec, X_fit, d0, cache=cache)
    t = tau_of(values, beta=beta, d0=d0)
    return {"context": spec, "family": family_of(spec),
            "tau": float(t.tau) if math.isfinite(t.tau) else None,
            "abstain": bool(t.abstain), "d_hat": int(t.d)}


def choose_candidates(scan: Sequence[dict[str, Any]], n_features: int, *,
                      categorical: float) -> tuple[list[str], list[str]]:
    """The candidates (and notes) from the scan's rows {context, family, tau, abstain}: per
    family up to :data:`PER_FAMILY` strengths τ ranks, evenly spread (else the one closest to
    ranking), a masked KNN and RBF at the middle of those, SCARF on mostly categorical data."""
    from ..contexts import make_context
    from ..contexts.masked import n_hidden

    chosen: list[str] = []
    notes: list[str] = []
    middle: dict[str, str] = {}
    for family in ("knn", "rbf"):
        rows = [r for r in scan if r["family"] == family]
        if not rows:
            raise DataError(f"the τ scan has no {family} strength (every one failed)")
        ranked = [r["context"] for r in rows if not r["abstain"]]
        if ranked:
            picked = _spread(ranked, PER_FAMILY)
            middle[family] = ranked[len(ranked) // 2]
        else:
            best = min(rows, key=lambda r: math.inf if r["tau"] is None else r["tau"])
            picked = [best["context"]]
            middle[family] = best["context"]
            notes.append(f"τ abstains on every {family} strength of the scan; kept the one "
                         f"closest to ranking ({best['context']})")
        chosen += picked
    F = int(n_features)
    k_mid = int(make_context(middle["knn"]).k)
    chosen.append(f"knn_mask(k={k_mid},p=0.2,masks={MASKS})")
    g_mid = float(make_context(middle["rbf"]).gamma)
    hidden = n_hidden(F, 0.2) if F > 1 else 0
    chosen.append(f"rbf_mask(gamma={_g(g_mid * F / max(F - hidden, 1))},p=0.2,masks={MASKS})")
    if categorical >= SCARF_MIN_CATEGORICAL:
        chosen += [f"scarf(p={p:g})" for p in DEFAULT_SCARF]
    else:
        notes.append(f"SCARF left out: {categorical:.0%} of the columns are categorical. SCARF "
                     "replaces a value by another row's; on continuous columns the corrupted "
                     "point lands far from every row, the operator is close to the identity "
                     "(s₁..s_{d₀} ≈ 1, τ abstains) and its Monte-Carlo estimate is the slowest "
                     "of all candidates. Give --context 'scarf(p=…)' to score it anyway")
    return chosen, notes


def adaptive_candidates(X_fit: np.ndarray, d0: int, beta: float, *, categorical: float,
                        cache=None) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """The scan and the choice in this process (the driver runs the scan as :data:`SCAN`).

    Returns (candidates, the scan's rows {context, family, tau, abstain, d_hat}, notes).
    """
    scan = [scan_values(spec, X_fit, d0, beta, cache)
            for specs in scan_grid(X_fit).values() for spec in specs]
    candidates, notes = choose_candidates(scan, X_fit.shape[1], categorical=categorical)
    return candidates, scan, notes


# --- the τ scan as a study ------------------------------------------------------------------------
def scan_cell(*, data: str, split_seed: int, max_rows: int | None, max_fit: int, fit_seed: int,
              context: str, family: str, d0: int, beta: float,
              stream: bool = False) -> dict[str, Any]:
    """One strength of the scan: τ from the singular values alone (no eigenfunctions)."""
    start = time.perf_counter()
    _, X_fit, key = fitting_rows(data=data, split_seed=split_seed, max_rows=max_rows,
                                 max_fit=max_fit, fit_seed=fit_seed, stream=stream)
    cache = context_cache(key, X_fit, max_k=max(DEFAULT_KNN))
    row = scan_values(context, X_fit, d0, beta, cache)
    row["family"] = family
    row["seconds"] = time.perf_counter() - start
    return row


def summarize_scan(records: Sequence[dict[str, Any]], settings: ScanSettings,
                   run: Any = None) -> dict[str, Any]:
    """The scan's rows in grid order (failed strengths listed apart)."""
    ok, failed = partition_records(records, ("context",))
    return {"rows": [r["result"] for r in ok], "failed": failed}


def write_scan_outputs(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """``scan.json``: every scanned strength with its τ."""
    path = Path(out_dir) / "scan.json"
    write_text(path, json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    return [path]


SCAN = Study("τ scan", ScanSettings, summarize_scan, write_scan_outputs)
