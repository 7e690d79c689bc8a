"""``contextures bench alignment``: do neural encoders learn the contexture, and does size help?

Protocol of [ICML] §4.2 / App. E (docs/theory.md §12). One dataset (default abalone), split 70/15/15 with
``split_seed``; context ``knn(k=30)`` on the pretrain rows; the exact reference is the top-d
(d = 128) eigenfunctions μ_1..μ_d of the spectral engine (:class:`~contextures.spectral.Contexture`)
fitted on the pretrain rows and extended to the test rows. Each cell of the grid
width × depth × seed trains one :class:`~contextures.encoders.ContextureEncoder`: an MLP with Tanh
and skip connections, VICReg, full-batch AdamW, d₁ = 512 outputs, then extraction (docs/theory.md §8) to
the ordered top d. On the held-out test rows it scores

- CCA R² = mean squared canonical correlation of the encoder's d functions with μ_1..μ_d,
- mutual-KNN = mean fraction of shared 10 nearest neighbours after centring and whitening both,
- the eigenvalue MAE mean_i |λ̂_i − s_i²| (i ≤ d), and CCA R² against the top 32 alone.

Per (width, depth) the summary holds mean ± sd over seeds; ``report.md`` compares, at each depth,
the best width with the widest one to say whether larger networks stop helping (the paper: at
depth 3 the best width is 512 and wider is worse).

The study runs on :func:`~contextures.runner.run_study` (:data:`ALIGNMENT`); its report is
written by :func:`contextures.reports.summaries.alignment_report`.

Resume: the output directory's ``grid.json`` records the *protocol* (data, context, d, d₁,
epochs, optimiser...), not the grid axes, so rerunning with more seeds or another width list in
the same directory reuses every finished cell; a different protocol is refused.
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
from ..reports.figures import heatmap
from ..reports.files import write_text
from ..reports.records import records_csv
from ..reports.summaries import alignment_report
from ..runner import Cell, Study, run_study, worker_cache
from ..validation import check_int
from .common import (
    SummaryAndRecords,
    current_torch_threads,
    group_results,
    parse_int_list,
    prepared_data,
)
from .statistics import mean_sd

CELL_FN = "contextures.experiments.alignment:alignment_cell"

DEFAULT_WIDTHS = (64, 128, 256, 512, 1024, 2048)
DEFAULT_DEPTHS = (2, 3, 4)
DEFAULT_SEEDS = 1
PAPER_SEEDS = 15
PLATEAU_TOLERANCE = 0.01
"""CCA R² differences below this count as "no gain" in the report's verdict."""


def exact_reference(dataset: str, split_seed: int, max_rows: int | None, context: str,
                    n_components: int):
    """(μ on the test rows, s_1²..s_d²) of the exact contexture fitted on the pretrain rows."""
    from ..spectral import Contexture

    def compute():
        data = prepared_data(dataset, split_seed, max_rows)
        model = Contexture(context, n_components=n_components, random_state=0).fit(data.X_pre)
        s2 = np.asarray(model.singular_values_, dtype=np.float64) ** 2
        return np.asarray(model.transform(data.X_test)), s2

    return worker_cache(("bench-exact", dataset, split_seed, max_rows, context, n_components),
                        compute)



# --- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlignmentSettings:
    """The alignment bench: the protocol (recorded in grid.json) and the grid axes."""

    dataset: str = "abalone"
    context: str = "knn(k=30)"
    objective: str = "vicreg"
    n_components: int = 128
    output_dim: int = 512
    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    split_seed: int = 0
    max_rows: int | None = None
    mutual_k: int = 10
    widths: tuple[int, ...] = field(default=DEFAULT_WIDTHS)
    depths: tuple[int, ...] = field(default=DEFAULT_DEPTHS)
    seeds: int = DEFAULT_SEEDS

    def __post_init__(self) -> None:
        for name in ("n_components", "output_dim", "epochs", "mutual_k", "seeds"):
            check_int(getattr(self, name), name, low=1)
        if self.output_dim < self.n_components:
            raise ParameterError(f"output_dim d₁ = {self.output_dim} must be ≥ n_components "
                                 f"d = {self.n_components}")
        check_int(self.max_rows, "max_rows", low=10, allow_none=True)
        object.__setattr__(self, "widths", parse_int_list(self.widths, "widths"))
        object.__setattr__(self, "depths", parse_int_list(self.depths, "depths"))
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0 or (
                    name == "lr" and value == 0):
                raise ParameterError(f"{name} must be a {'positive' if name == 'lr' else 'non-negative'}"
                                     f" number, got {value!r}")

    @classmethod
    def quick(cls, **overrides: Any) -> AlignmentSettings:
        """CI profile (about a minute on 2 cores): 1000 rows, d = 16, d₁ = 64, 2 × 2 cells."""
        base = {"max_rows": 1000, "n_components": 16, "output_dim": 64, "epochs": 60,
                "widths": (32, 128), "depths": (2, 3), "seeds": 1}
        return replace(cls(), **{**base, **overrides})

    def protocol(self) -> dict[str, Any]:
        """What grid.json records: everything except the grid axes."""
        full = asdict(self)
        return {"bench": "alignment",
                **{k: v for k, v in full.items() if k not in ("widths", "depths", "seeds")}}

    def cells(self) -> list[Cell]:
        proto = {k: v for k, v in self.protocol().items() if k != "bench"}
        return [Cell(key=f"width={w}/depth={d}/seed={s}", fn=CELL_FN,
                     config={**proto, "width": w, "depth": d, "seed": s})
                # cheapest first: an interrupted run has the small networks of every depth
                for w in sorted(self.widths) for d in sorted(self.depths)
                for s in range(self.seeds)]


# --- one cell ------------------------------------------------------------------------------------
def alignment_cell(*, dataset: str, context: str, objective: str, n_components: int,
                   output_dim: int, epochs: int, lr: float, weight_decay: float, split_seed: int,
                   max_rows: int | None, mutual_k: int, width: int, depth: int,
                   seed: int) -> dict[str, Any]:
    """Train one encoder (width × depth, seed) and score it against the exact contexture.

    A network narrower than d has at most ``width`` independent features (its outputs are affine
    in the last hidden layer), so it is compared on k = min(d, width) functions: its top k
    extracted functions against the exact μ_1..μ_k (``n_compared`` in the result).
    """
    from ..encoders import ContextureEncoder
    from ..evaluation import cca_r2, mutual_knn

    data = prepared_data(dataset, split_seed, max_rows)
    mu_test, s2 = exact_reference(dataset, split_seed, max_rows, context, n_components)
    k = min(n_components, width)
    cpu_start = time.process_time()
    enc = ContextureEncoder(context, objective=objective, n_components=k,
                            output_dim=output_dim, hidden=width, depth=depth, activation="tanh",
                            skip=True, epochs=epochs, batch_size=None, lr=lr,
                            weight_decay=weight_decay, random_state=seed, device="cpu",
                            n_threads=current_torch_threads())
    enc.fit(data.X_pre)
    cpu_seconds = time.process_time() - cpu_start
    Z = enc.transform(data.X_test)
    top = min(32, k)
    lam = np.asarray(enc.eigenvalues_, dtype=np.float64)[:k]
    return {
        "cca_r2": cca_r2(Z, mu_test[:, :k]),
        "mutual_knn": mutual_knn(Z, mu_test[:, :k], k=mutual_k),
        "eigenvalue_mae": float(np.mean(np.abs(lam - s2[:k]))),
        f"cca_r2_top{min(32, n_components)}": cca_r2(Z[:, :top], mu_test[:, :top]),
        "n_compared": k,
        "train_seconds": float(enc.train_time_),
        "fit_seconds": float(enc.fit_time_),
        "fit_cpu_seconds": float(cpu_seconds),
        "final_loss": float(enc.history_["train"][-1]) if enc.history_.get("train") else None,
        "n_pretrain": int(data.X_pre.shape[0]),
        "n_test": int(data.X_test.shape[0]),
        "threads": current_torch_threads(),
    }


# --- summary and report --------------------------------------------------------------------------
METRICS = ("cca_r2", "mutual_knn", "eigenvalue_mae")


def summarize(records: Sequence[Mapping[str, Any]], settings: AlignmentSettings,
              run: Any = None) -> SummaryAndRecords:
    """Per (width, depth): mean ± sd over seeds of every metric; failures listed."""
    groups, failed = group_results(records, lambda cfg: (cfg["width"], cfg["depth"]))
    top = min(32, settings.n_components)
    cells = []
    for depth in settings.depths:
        for width in settings.widths:
            results = groups.get((width, depth), [])
            row: dict[str, Any] = {"width": width, "depth": depth, "n_seeds": len(results)}
            for metric in (*METRICS, f"cca_r2_top{top}", "train_seconds", "fit_cpu_seconds"):
                mean, sd = mean_sd([r.get(metric) for r in results])
                row[metric] = {"mean": mean, "sd": sd}
            cells.append(row)
    summary = {"bench": "alignment", "protocol": settings.protocol(),
               "widths": list(settings.widths), "depths": list(settings.depths),
               "seeds": settings.seeds, "cells": cells, "failed": failed,
               "paper": {"cca_r2": 0.9, "mutual_knn": 0.8,
                         "claim": "at depth 3 the best width is 512 and wider is worse"}}
    summary["scaling"] = scaling_verdicts(summary)
    return SummaryAndRecords(summary, list(records))


def _mean(row: Mapping[str, Any], metric: str) -> float | None:
    return row[metric]["mean"]


def scaling_verdicts(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per depth: the best width by mean CCA R², the widest width, and whether size stops helping.

    ``verdict``: ``"wider is worse"`` when the widest is more than PLATEAU_TOLERANCE below the
    best; ``"plateau"`` when within it (the best may still be the widest, by less than the
    tolerance over the next narrower); ``"still improving"`` when the widest beats every narrower
    width by more than the tolerance.
    """
    out = []
    for depth in summary["depths"]:
        rows = [r for r in summary["cells"] if r["depth"] == depth and _mean(r, "cca_r2")
                is not None]
        if not rows:
            continue
        best = max(rows, key=lambda r: _mean(r, "cca_r2"))
        widest = max(rows, key=lambda r: r["width"])
        narrower = [r for r in rows if r["width"] < widest["width"]]
        gap = _mean(best, "cca_r2") - _mean(widest, "cca_r2")
        if len(rows) < 2:
            verdict = "undetermined"
        elif gap > PLATEAU_TOLERANCE:
            verdict = "wider is worse"
        elif narrower and best is widest and (
                _mean(widest, "cca_r2") - max(_mean(r, "cca_r2") for r in narrower)
                > PLATEAU_TOLERANCE):
            verdict = "still improving"
        else:
            verdict = "plateau"
        out.append({"depth": depth, "best_width": best["width"],
                    "best_cca_r2": _mean(best, "cca_r2"), "best_cca_r2_sd": best["cca_r2"]["sd"],
                    "widest_width": widest["width"], "widest_cca_r2": _mean(widest, "cca_r2"),
                    "widest_cca_r2_sd": widest["cca_r2"]["sd"],
                    "best_mutual_knn": _mean(best, "mutual_knn"),
                    "widest_mutual_knn": _mean(widest, "mutual_knn"),
                    "gap": gap, "verdict": verdict})
    return out


CSV_CONFIG = ("width", "depth", "seed")


def draw_heatmap(summary: Mapping[str, Any], metric: str, path: Path, title: str,
                 colorbar_label: str) -> Path:
    """A depth × width heatmap of the mean of ``metric`` (± the sd with two seeds or more)."""
    widths, depths = summary["widths"], summary["depths"]
    by = {(r["width"], r["depth"]): r for r in summary["cells"]}

    def grid(stat: str) -> np.ndarray:
        return np.array([[np.nan if by[(w, d)][metric][stat] is None else by[(w, d)][metric][stat]
                          for w in widths] for d in depths], dtype=float)

    return heatmap(grid("mean"), grid("sd") if summary["seeds"] > 1 else None, path,
                   xticks=widths, yticks=depths, xlabel="width (hidden units per layer)",
                   ylabel="depth (hidden layers)", title=title, colorbar_label=colorbar_label)


def write_outputs(summary: SummaryAndRecords, out_dir: str | Path) -> list[Path]:
    """summary.json, cells.csv, report.md and the two heatmaps."""
    out = Path(out_dir)
    data, proto = summary.data, summary.data["protocol"]
    d, top = proto["n_components"], min(32, proto["n_components"])
    seeds = f"{data['seeds']} seed{'s' if data['seeds'] > 1 else ''}"
    return [
        write_text(out / "summary.json", json.dumps(data, indent=2) + "\n"),
        write_text(out / "cells.csv", records_csv(
            summary.records, CSV_CONFIG, (*METRICS, f"cca_r2_top{top}", "n_compared",
                                          "train_seconds", "fit_cpu_seconds", "final_loss"))),
        write_text(out / "report.md", alignment_report(data, tolerance=PLATEAU_TOLERANCE,
                                                       paper_seeds=PAPER_SEEDS)),
        draw_heatmap(data, "cca_r2", out / "cca_r2.png",
                     f"CCA R² of the encoders against the exact top-{d}\n"
                     f"({proto['dataset']}, {proto['context']}, test rows, {seeds})",
                     "CCA R² (0 to 1)"),
        draw_heatmap(data, "mutual_knn", out / "mutual_knn.png",
                     f"Mutual-KNN of the encoders against the exact top-{d}\n"
                     f"({proto['dataset']}, {proto['context']}, {proto['mutual_k']} neighbours, "
                     f"{seeds})", f"shared {proto['mutual_k']} nearest neighbours (fraction)"),
    ]


ALIGNMENT = Study("alignment", AlignmentSettings, summarize, write_outputs)


def run_alignment_bench(out_dir: str | Path, settings: AlignmentSettings,
                        **runner: Any) -> dict[str, Any]:
    """:func:`~contextures.runner.run_study` of :data:`ALIGNMENT`; returns the summary with the
    run's counts under ``"run"`` (``runner``: run_study's options)."""
    result = run_study(ALIGNMENT, settings, out_dir, **runner)
    return {**result.summary.data, "run": result.grid.as_dict()}
