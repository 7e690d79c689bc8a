"""``contextures bench estimation``: how many samples does the extraction need? (docs/theory.md §12)

Protocol ([ICML] App. D; docs/theory.md §8). Per dataset, split 70/15/15 with ``split_seed``; context
``knn(k=60)`` on the pretrain rows; the exact s_1² ≥ … ≥ s_r² (r = 256) come from the spectral
engine on the whole pretrain split. One encoder per (dataset, seed): a 2-layer Tanh net (one hidden
layer of ``width`` units; the paper used 20 000), d = 512 outputs, VICReg, full-batch AdamW, trained
on the whole pretrain split. Its features Φ (n × d, Φ = TΨ for VICReg on a finite context) are
then turned into eigenvalue estimates λ̂_1..λ̂_r from m sample points, and the cell reports

    MAE(m) = (1/r) Σ_{i ≤ r} |λ̂_i − s_i²|

for two estimators of C_Φ = Cov[Φ] and B_Φ = ⟨Φ̃, T T* Φ̃⟩ (the generalised problem B v = λ C v is
solved by :func:`~contextures.encoders.extraction.solve_generalized`):

- ``batched`` (the headline): the pretrain rows, shuffled with the seed, are cut into ⌈n/m⌉
  near-equal batches of at most m rows; C_Φ and B_Φ are the row-weighted averages
  of the per-batch estimates — batch-centred covariance, and the kernel form on the batch's own
  Gram block of k_X⁺, debiased for a batch of m out of n (:class:`~contextures.encoders.kernels.
  OperatorKernel`). Every row is used; what m limits is which pairs (x_i, x_k) enter B_Φ, as in
  mini-batch training. Works for every m ≥ 2, including m < r.
- ``subsample``: one seeded subsample of m rows, the same estimates on it alone (what
  ``ContextureEncoder(extraction_samples=m)`` does). The covariance of m points has rank < m, so
  this estimator is only defined for m > r (reported as null otherwise).

m = ``full`` is the whole pretrain split (both estimators coincide: the exact forms). The paper
does not state which estimator its m refers to; its abalone figures (m = 100 … 2000, r = 256) need
one that works for m < r, like ``batched``.

The study runs on :func:`~contextures.runner.run_study` (:data:`ESTIMATION`); its table is
written by :func:`contextures.reports.summaries.estimation_table`. Cells are (dataset, m, seed); the trained encoder is cached per worker process, so the cells of one
(dataset, seed) train it once when they run in the same process (workers = 1).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..reports.figures import curves_with_spread
from ..reports.files import write_text
from ..reports.records import records_csv
from ..reports.summaries import estimation_table
from ..runner import Cell, Study, run_study, worker_cache
from ..validation import check_int
from .common import SummaryAndRecords, current_torch_threads, group_results, prepared_data
from .statistics import mean_sd

CELL_FN = "contextures.experiments.estimation:estimation_cell"

DEFAULT_SAMPLE_SIZES = (100, 300, 600, 1000, 2000, "full")
DEFAULT_SEEDS = 1
PAPER_MAE = {"abalone": {100: 0.157, 300: 0.124, 600: 0.088, 1000: 0.104, 2000: 0.110,
                         "full": 0.088},
             "fifa": {"first": 0.218, "full": 0.131},
             "kings_county": {"first": 0.278, "full": 0.177}}
ESTIMATORS = ("batched", "subsample")
BATCHED_RCOND = 1e-12   # as ContextureEncoder's exact extraction (EXACT_RCOND)
SUBSAMPLE_RCOND = 1e-10
# ContextureEncoder's subsample extraction drops directions of C_Φ below 1e-6 of the largest
# (ESTIMATE_RCOND); VICReg features Φ = TΨ of a KNN context keep only ~40 such directions of 512,
# so the bench keeps more, like the batched estimator, and reports what the noise then does.


def parse_sample_sizes(text: str | Sequence[Any]) -> tuple[int | str, ...]:
    """``"100,300,full"`` → (100, 300, "full"); ParameterError on anything else."""
    items = text.split(",") if isinstance(text, str) else list(text)
    sizes: list[int | str] = []
    for item in items:
        token = str(item).strip().lower()
        if token == "full":
            sizes.append("full")
            continue
        try:
            value = int(token)
        except ValueError:
            raise ParameterError(f"sample sizes: {item!r} is neither an integer nor 'full' "
                                 "(e.g. --m 100,300,600,full)") from None
        if value < 2:
            raise ParameterError(f"sample sizes: m must be ≥ 2, got {value}")
        sizes.append(value)
    if not sizes:
        raise ParameterError("sample sizes: give at least one value")
    if len(set(map(str, sizes))) != len(sizes):
        raise ParameterError(f"sample sizes: duplicate values in {sizes}")
    return tuple(sizes)


@dataclass(frozen=True)
class EstimationSettings:
    """The estimation bench: the protocol (recorded in grid.json) and the grid axes."""

    datasets: tuple[str, ...] = ("abalone",)
    context: str = "knn(k=60)"
    objective: str = "vicreg"
    width: int = 2048
    depth: int = 1
    output_dim: int = 512
    n_top: int = 256
    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    split_seed: int = 0
    max_rows: int | None = None
    sample_sizes: tuple[int | str, ...] = field(default=DEFAULT_SAMPLE_SIZES)
    seeds: int = DEFAULT_SEEDS

    def __post_init__(self) -> None:
        for name in ("width", "depth", "output_dim", "n_top", "epochs", "seeds"):
            check_int(getattr(self, name), name, low=1)
        if self.output_dim < self.n_top:
            raise ParameterError(f"the network's d = {self.output_dim} outputs cannot give the "
                                 f"top {self.n_top} eigenvalues; use d ≥ {self.n_top}")
        check_int(self.max_rows, "max_rows", low=10, allow_none=True)
        datasets = tuple(self.datasets)
        if not datasets or len(set(datasets)) != len(datasets):
            raise ParameterError(f"datasets must be a non-empty list without duplicates, got "
                                 f"{list(datasets)}")
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "sample_sizes", parse_sample_sizes(self.sample_sizes))
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ParameterError(f"lr must be a positive number, got {self.lr!r}")

    @classmethod
    def quick(cls, **overrides: Any) -> EstimationSettings:
        """CI profile (well under a minute): 1000 rows, width 256, d = 64, top 32, 60 epochs."""
        base = {"max_rows": 1000, "width": 256, "output_dim": 64, "n_top": 32, "epochs": 60,
                "sample_sizes": (20, 200, "full"), "seeds": 1}
        return replace(cls(), **{**base, **overrides})

    def protocol(self) -> dict[str, Any]:
        """What grid.json records: everything except the grid axes (datasets, m, seeds)."""
        full = asdict(self)
        return {"bench": "estimation",
                **{k: v for k, v in full.items() if k not in ("datasets", "sample_sizes",
                                                                "seeds")}}

    def cells(self) -> list[Cell]:
        proto = {k: v for k, v in self.protocol().items() if k != "bench"}
        return [Cell(key=f"{ds}/m={m}/seed={s}", fn=CELL_FN,
                     config={**proto, "dataset": ds, "m": m, "seed": s})
                for ds in self.datasets for s in range(self.seeds) for m in self.sample_sizes]


# --- one cell ------------------------------------------------------------------------------------
def _exact_spectrum(dataset: str, split_seed: int, max_rows: int | None, context: str,
                    n_top: int) -> np.ndarray:
    from ..spectral import Contexture

    def compute():
        data = prepared_data(dataset, split_seed, max_rows)
        model = Contexture(context, n_components=n_top, random_state=0).fit(data.X_pre)
        return np.asarray(model.singular_values_, dtype=np.float64) ** 2

    return worker_cache(("estimation-exact", dataset, split_seed, max_rows, context, n_top),
                        compute)


def _trained_features(dataset: str, split_seed: int, max_rows: int | None, context: str,
                      objective: str, width: int, depth: int, output_dim: int, n_top: int,
                      epochs: int, lr: float, weight_decay: float, seed: int):
    """(Φ on the pretrain rows (n × d), the context operator, training seconds), cached."""
    from ..encoders import ContextureEncoder

    def compute():
        data = prepared_data(dataset, split_seed, max_rows)
        enc = ContextureEncoder(context, objective=objective, n_components=n_top,
                                output_dim=output_dim, hidden=width, depth=depth,
                                activation="tanh", skip=False, epochs=epochs, lr=lr,
                                weight_decay=weight_decay, random_state=seed, device="cpu",
                                n_threads=current_torch_threads())
        cpu_start = time.process_time()
        enc.fit(data.X_pre)
        cpu = time.process_time() - cpu_start
        features = enc.features(data.X_pre)
        return features, enc.context_.operator(), float(enc.train_time_), float(cpu)

    key = ("estimation-encoder", dataset, split_seed, max_rows, context, objective, width, depth,
           output_dim, n_top, epochs, lr, weight_decay, seed)
    return worker_cache(key, compute)


def batch_partition(n: int, m: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled partition of range(n) into ⌈n/m⌉ near-equal batches (each of at most m rows)."""
    perm = rng.permutation(n)
    return [np.sort(part) for part in np.array_split(perm, -(-n // m))]


def estimate_matrices(features: np.ndarray, op, batches: Sequence[np.ndarray]):
    """Row-weighted averages of the per-batch (C_Φ, B_Φ) estimates (module docstring)."""
    from ..encoders.extraction import kernel_matrices
    from ..encoders.kernels import OperatorKernel

    n, d1 = features.shape
    total = sum(len(rows) for rows in batches)
    C = np.zeros((d1, d1))
    B = np.zeros((d1, d1))
    for rows in batches:
        kernel = OperatorKernel(op, None if len(rows) == n else rows)
        _, Cb, Bb = kernel_matrices(features[rows], kernel)
        C += len(rows) / total * Cb
        B += len(rows) / total * Bb
    return C, B


def estimation_cell(*, dataset: str, context: str, objective: str, width: int, depth: int,
                    output_dim: int, n_top: int, epochs: int, lr: float, weight_decay: float,
                    split_seed: int, max_rows: int | None, m: int | str,
                    seed: int) -> dict[str, Any]:
    """MAE of the top-r eigenvalue estimates from m samples, for both estimators."""
    from ..encoders.extraction import solve_generalized

    s2 = _exact_spectrum(dataset, split_seed, max_rows, context, n_top)
    features, op, train_seconds, fit_cpu_seconds = _trained_features(
        dataset, split_seed, max_rows, context, objective, width, depth, output_dim, n_top,
        epochs, lr, weight_decay, seed)
    n = features.shape[0]
    m_used = n if m == "full" else min(int(m), n)
    rng = np.random.default_rng([seed, m_used])
    batches = batch_partition(n, m_used, rng)
    result: dict[str, Any] = {"n_pretrain": n, "m_used": m_used,
                              "n_batches": len(batches), "batch_rows": max(map(len, batches)), "train_seconds": train_seconds,
                              "fit_cpu_seconds": fit_cpu_seconds,
                              "threads": current_torch_threads()}
    # batched: every row, pairs limited to batches of m
    C, B = estimate_matrices(features, op, batches)
    # The batched C_Φ averages covariances over every row (as accurate as the full one): keep its
    # small directions like the exact extraction does; a single subsample gets the estimate's.
    lam, _, rank = solve_generalized(B, C, n_top, rcond=BATCHED_RCOND)
    lam = np.clip(lam, 0.0, None)
    result["mae_batched"] = float(np.mean(np.abs(lam - s2)))
    result["rank"] = rank
    result["lambda_batched_head"] = [float(v) for v in lam[:8]]
    # subsample: one sample of m rows only (defined when its covariance can have rank ≥ r)
    if m_used > n_top:
        rows = np.arange(n) if m_used == n else np.sort(rng.choice(n, m_used, replace=False))
        Cs, Bs = estimate_matrices(features, op, [rows])
        try:
            lam_s, _, _ = solve_generalized(Bs, Cs, n_top,
                                            rcond=BATCHED_RCOND if m_used == n else
                                            SUBSAMPLE_RCOND)
            result["mae_subsample"] = float(np.mean(np.abs(np.clip(lam_s, 0, None) - s2)))
        except ParameterError as exc:
            result["mae_subsample"] = None
            result["subsample_note"] = str(exc)
    else:
        result["mae_subsample"] = None
        result["subsample_note"] = f"m = {m_used} ≤ r = {n_top}: covariance rank < r"
    result["exact_head"] = [float(v) for v in s2[:8]]
    return result


# --- summary, table, figure ----------------------------------------------------------------------
def summarize(records: Sequence[Mapping[str, Any]], settings: EstimationSettings,
              run: Any = None) -> SummaryAndRecords:
    """Per (dataset, m): mean ± sd over seeds of both estimators' MAE, beside the paper's."""
    groups, failed = group_results(records, lambda cfg: (cfg["dataset"], str(cfg["m"])))
    rows = []
    for ds in settings.datasets:
        for m in settings.sample_sizes:
            results = groups.get((ds, str(m)), [])
            row: dict[str, Any] = {"dataset": ds, "m": m, "n_seeds": len(results),
                                   "m_used": results[0]["m_used"] if results else None,
                                   "n_batches": results[0].get("n_batches") if results else None,
                                   "batch_rows": results[0].get("batch_rows") if results else None}
            for est in ESTIMATORS:
                mean, sd = mean_sd([r.get(f"mae_{est}") for r in results])
                row[f"mae_{est}"] = {"mean": mean, "sd": sd}
            row["paper_mae"] = (PAPER_MAE.get(_paper_name(ds), {}).get(m)
                                if _paper_protocol(settings) else None)
            rows.append(row)
    data = {"bench": "estimation", "protocol": settings.protocol(),
            "datasets": list(settings.datasets), "sample_sizes": list(settings.sample_sizes),
            "seeds": settings.seeds, "rows": rows, "failed": failed,
            "paper": {"width": 20000, "output_dim": 512, "n_top": 256, "context": "knn(k=60)",
                      "mae": PAPER_MAE}}
    return SummaryAndRecords(data, list(records))


def _paper_protocol(settings: EstimationSettings) -> bool:
    """Whether the paper's figures are comparable (same context, r and full data)."""
    return (settings.max_rows is None and settings.n_top == 256 and settings.output_dim == 512
            and settings.context.replace(" ", "") == "knn(k=60)")


def _paper_name(spec: str) -> str:
    return spec.split(":")[-1].split("[")[0].split("(")[0].strip().lower()


def plot_estimation(summary: Mapping[str, Any], path: Path) -> Path:
    """MAE against m (log axis; 'full' at the pretrain size), ours and the paper's."""
    spread = summary["seeds"] > 1
    curves = []
    for ds in summary["datasets"]:
        rows = [r for r in summary["rows"] if r["dataset"] == ds and r["m_used"]]
        for est, style in (("batched", "-o"), ("subsample", "--s")):
            pts = sorted((r["m_used"], r[f"mae_{est}"]["mean"], r[f"mae_{est}"]["sd"])
                         for r in rows if r[f"mae_{est}"]["mean"] is not None)
            if pts:
                x, y, e = map(np.array, zip(*pts, strict=True))
                curves.append({"label": f"{ds}, {est}", "x": x, "y": y, "style": style,
                               "spread": e if spread else None})
        paper = sorted((r["m_used"], r["paper_mae"]) for r in rows if r["paper_mae"] is not None)
        if paper:
            x, y = map(np.array, zip(*paper, strict=True))
            curves.append({"label": f"{ds}, paper", "x": x, "y": y, "style": ":^",
                           "color": "k"})
    proto = summary["protocol"]
    return curves_with_spread(
        curves, path,
        title=f"Eigenvalue estimates from m sample points ({proto['context']}, "
              f"top {proto['n_top']}, {summary['seeds']} seed{'s' if spread else ''})",
        xlabel="m, sample points (rows; 'full' = the pretrain rows)",
        ylabel=rf"MAE $\frac{{1}}{{r}}\sum_{{i \leq r}} |\hat\lambda_i - s_i^2|$, "
               f"r = {proto['n_top']}")


def write_outputs(summary: SummaryAndRecords, out_dir: str | Path) -> list[Path]:
    """summary.json, cells.csv, table.md and estimation.png."""
    out = Path(out_dir)
    return [
        write_text(out / "summary.json", json.dumps(summary.data, indent=2) + "\n"),
        write_text(out / "cells.csv", records_csv(
            summary.records, ("dataset", "m", "seed"),
            ("m_used", "n_batches", "batch_rows", "mae_batched", "mae_subsample", "rank",
             "train_seconds", "fit_cpu_seconds"))),
        write_text(out / "table.md", estimation_table(summary.data)),
        plot_estimation(summary.data, out / "estimation.png"),
    ]


ESTIMATION = Study("estimation", EstimationSettings, summarize, write_outputs)


def run_estimation_bench(out_dir: str | Path, settings: EstimationSettings,
                         **runner: Any) -> dict[str, Any]:
    """:func:`~contextures.runner.run_study` of :data:`ESTIMATION`; returns the summary with the
    run's counts under ``"run"`` (``runner``: run_study's options)."""
    result = run_study(ESTIMATION, settings, out_dir, **runner)
    return {**result.summary.data, "run": result.grid.as_dict()}
