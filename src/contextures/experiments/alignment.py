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

Resume: the output directory's ``grid.json`` records the *protocol* (data, context, d, d₁,
epochs, optimiser...), not the grid axes, so rerunning with more seeds or another width list in
the same directory reuses every finished cell; a different protocol is refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..reports.files import write_text
from ..reports.markdown import fmt, markdown_table
from ..runner import Cell, worker_cache
from ..validation import check_int

CELL_FN = "contextures.experiments.alignment:alignment_cell"

DEFAULT_WIDTHS = (64, 128, 256, 512, 1024, 2048)
DEFAULT_DEPTHS = (2, 3, 4)
DEFAULT_SEEDS = 1
PAPER_SEEDS = 15
PLATEAU_TOLERANCE = 0.01
"""CCA R² differences below this count as "no gain" in the report's verdict."""


# --- shared by the neural benches ----------------------------------------------------------------
def prepared_data(dataset: str, split_seed: int, max_rows: int | None):
    """The split, preprocessed dataset (cached per worker process)."""
    from ..datasets import prepare

    return worker_cache(("bench-prepare", dataset, split_seed, max_rows),
                        lambda: prepare(dataset, split_seed=split_seed, max_rows=max_rows))


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


def current_torch_threads() -> int:
    """The torch intra-op threads of this process (the grid runner caps them per worker)."""
    import torch

    return max(1, int(torch.get_num_threads()))


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (sd 0 for one value; None for none)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None, None
    sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), sd


def records_csv(records: Sequence[Mapping[str, Any]], config_columns: Sequence[str],
                result_columns: Sequence[str]) -> str:
    """One CSV row per cell record: key, status, configuration and result columns, error."""
    out = io.StringIO()
    columns = ["key", "status", *config_columns, *result_columns, "elapsed_seconds", "error"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        result = rec.get("result") or {}
        row = {"key": rec["key"], "status": rec["status"], "error": rec.get("error") or "",
               "elapsed_seconds": rec.get("elapsed_seconds")}
        row.update({c: rec["config"].get(c) for c in config_columns})
        row.update({c: result.get(c) for c in result_columns})
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def parse_int_list(text: str | Sequence[int], name: str, minimum: int = 1) -> tuple[int, ...]:
    """``"64,128"`` (or a sequence) → (64, 128); a ParameterError naming ``name`` otherwise."""
    items = text.split(",") if isinstance(text, str) else list(text)
    values = []
    for item in items:
        try:
            value = int(str(item).strip())
        except ValueError:
            raise ParameterError(f"{name}: {item!r} is not an integer (give a comma-separated "
                                 "list such as 64,128,256)") from None
        if value < minimum:
            raise ParameterError(f"{name}: every value must be ≥ {minimum}, got {value}")
        values.append(value)
    if not values:
        raise ParameterError(f"{name}: give at least one value")
    if len(set(values)) != len(values):
        raise ParameterError(f"{name}: duplicate values in {values}")
    return tuple(values)


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


def summarize(records: Sequence[Mapping[str, Any]], settings: AlignmentSettings) -> dict[str, Any]:
    """Per (width, depth): mean ± sd over seeds of every metric; failures listed."""
    groups: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    failed = []
    for rec in records:
        cfg = rec["config"]
        if rec["status"] != "ok":
            failed.append({"key": rec["key"], "error": rec.get("error")})
            continue
        groups.setdefault((cfg["width"], cfg["depth"]), []).append(rec["result"])
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
    return summary


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


def _pm(stat: Mapping[str, Any], spec: str = ".3f") -> str:
    if stat["mean"] is None:
        return "-"
    return f"{fmt(stat['mean'], spec)} ± {fmt(stat['sd'], spec)}"


def report_markdown(summary: Mapping[str, Any]) -> str:
    """report.md: protocol, the two metric tables, and the scaling verdict per depth."""
    proto = summary["protocol"]
    lines = [f"# Alignment bench: {proto['dataset']}, {proto['context']}", "",
             f"Exact reference: top-{proto['n_components']} eigenfunctions of the spectral engine "
             f"on the pretrain rows (split seed {proto['split_seed']}), compared on the held-out "
             f"test rows. Encoders: MLP (Tanh, skip connections), {proto['objective']}, "
             f"full-batch AdamW (lr {proto['lr']:g}, weight decay {proto['weight_decay']:g}), "
             f"{proto['epochs']} epochs, d₁ = {proto['output_dim']} outputs extracted to "
             f"d = {proto['n_components']}. {summary['seeds']} seed(s) per cell "
             f"(the paper used {PAPER_SEEDS}); values are mean ± sd over seeds.", ""]
    widths = summary["widths"]
    by = {(r["width"], r["depth"]): r for r in summary["cells"]}
    for metric, title in (("cca_r2", "CCA R²"), (f"cca_r2_top{min(32, proto['n_components'])}",
                                                 "CCA R² of the top 32 only"),
                          ("mutual_knn", f"mutual-KNN ({proto['mutual_k']} neighbours)"),
                          ("eigenvalue_mae", "eigenvalue MAE, mean |λ̂_i − s_i²|"),
                          ("train_seconds", "training seconds (wall clock)"),
                          ("fit_cpu_seconds", "fit CPU seconds (all threads)")):
        lines += [f"## {title}", ""]
        if metric in ("cca_r2", "mutual_knn", "eigenvalue_mae") and any(
                w < proto["n_components"] for w in widths):
            lines += [f"(Widths below d = {proto['n_components']} have at most `width` "
                      "independent features; they are compared on their top `width` functions "
                      "against the exact top `width`.)", ""]
        rows = [[f"depth {depth}"] + [_pm(by[(w, depth)][metric],
                                          ".1f" if "seconds" in metric else ".3f")
                                      for w in widths] for depth in summary["depths"]]
        lines += markdown_table(["", *[f"width {w}" for w in widths]], rows,
                                "l" + "r" * len(widths))
        lines.append("")
    lines += ["## Do larger networks stop helping?", ""]
    missing = [f"{r['width']}×{r['depth']}" for r in summary["cells"] if r["n_seeds"] == 0]
    if missing:
        lines += [f"**Incomplete grid**: no finished seed for width×depth {', '.join(missing)}; "
                  "the comparison below uses the finished cells only (rerun the same command to "
                  "resume).", ""]
    verdicts = summary["scaling"]
    if not verdicts:
        lines.append("No finished cells.")
    for v in verdicts:
        lines.append(
            f"- depth {v['depth']}: best width {v['best_width']} (CCA R² "
            f"{fmt(v['best_cca_r2'])} ± {fmt(v['best_cca_r2_sd'])}, mutual-KNN "
            f"{fmt(v['best_mutual_knn'])}); widest {v['widest_width']} (CCA R² "
            f"{fmt(v['widest_cca_r2'])} ± {fmt(v['widest_cca_r2_sd'])}, mutual-KNN "
            f"{fmt(v['widest_mutual_knn'])}): **{v['verdict']}** (gap {fmt(v['gap'])}; "
            f"tolerance {PLATEAU_TOLERANCE}).")
    if verdicts:
        stop = [v for v in verdicts if v["verdict"] in ("wider is worse", "plateau")]
        going = [v for v in verdicts if v["verdict"] == "still improving"]
        lines += ["", ("Larger networks stop helping at " + ", ".join(
            f"depth {v['depth']}" for v in stop) + ".") if stop else
                  "Larger networks do not stop helping at any depth with two or more finished "
                  "widths." if going else "Not enough finished widths to tell.",
                  f"Best CCA R² overall: {fmt(max(v['best_cca_r2'] for v in verdicts))} "
                  f"(paper: about {summary['paper']['cca_r2']}; mutual-KNN > "
                  f"{summary['paper']['mutual_knn']} at good sizes; "
                  f"{summary['paper']['claim']})."]
    for f in summary["failed"]:
        lines.append(f"- failed: {f['key']}: {f['error']}")
    return "\n".join(lines) + "\n"


def heatmap(summary: Mapping[str, Any], metric: str, path: Path, title: str) -> Path:
    """A depth × width heatmap of the mean of ``metric``, annotated with mean ± sd."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    widths, depths = summary["widths"], summary["depths"]
    by = {(r["width"], r["depth"]): r for r in summary["cells"]}
    values = np.array([[by[(w, d)][metric]["mean"] if by[(w, d)][metric]["mean"] is not None
                        else np.nan for w in widths] for d in depths], dtype=float)
    fig = Figure(figsize=(1.1 * len(widths) + 2.2, 0.7 * len(depths) + 1.6), dpi=110,
                 layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-9,
                   aspect="auto")
    for i, d in enumerate(depths):
        for j, w in enumerate(widths):
            stat = by[(w, d)][metric]
            if stat["mean"] is None:
                continue
            text = f"{stat['mean']:.3f}" + (f"\n±{stat['sd']:.3f}" if summary["seeds"] > 1 else "")
            shade = (stat["mean"] - vmin) / (vmax - vmin) if vmax > vmin else 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="black" if shade > 0.6 else "white")
    ax.set_xticks(range(len(widths)), [str(w) for w in widths])
    ax.set_yticks(range(len(depths)), [str(d) for d in depths])
    ax.set_xlabel("width")
    ax.set_ylabel("depth")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


CSV_CONFIG = ("width", "depth", "seed")


def write_outputs(out: Path, records: Sequence[Mapping[str, Any]],
                  settings: AlignmentSettings) -> dict[str, Any]:
    summary = summarize(records, settings)
    top = min(32, settings.n_components)
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text(out / "cells.csv", records_csv(
        records, CSV_CONFIG, (*METRICS, f"cca_r2_top{top}", "n_compared", "train_seconds",
                              "fit_cpu_seconds",
                              "final_loss")))
    write_text(out / "report.md", report_markdown(summary))
    heatmap(summary, "cca_r2", out / "cca_r2.png",
            f"CCA R² vs exact top-{settings.n_components} ({settings.context}, test rows)")
    heatmap(summary, "mutual_knn", out / "mutual_knn.png",
            f"mutual-KNN ({settings.mutual_k} neighbours) vs exact top-{settings.n_components}")
    return summary


def run_alignment_bench(out_dir: str | Path, settings: AlignmentSettings, **runner: Any) -> dict[str, Any]:
    """Run the grid (resumable) and write summary.json, cells.csv, report.md and two heatmaps.

    ``runner``: the options of :func:`~contextures.experiments._bench.run_bench` (``workers``,
    ``backend``, ``scheduler``, ``threads_per_worker``, ``resume``, ``retry_failed``,
    ``progress``, ``echo``).
    """
    from ._bench import run_bench

    return run_bench(out_dir, settings.cells(), settings.protocol(),
                     lambda out, records: write_outputs(out, records, settings),
                     description="alignment cells", **runner)
