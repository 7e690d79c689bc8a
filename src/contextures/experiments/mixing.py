"""``contextures bench mixing``: do mixtures of contexts beat their components? (docs/theory.md §7)

Protocol, per labelled dataset (split 70/15/15 with ``split_seed``):

- every candidate context (singles and mixtures, spec strings) is fitted exactly on the pretrain
  rows (a seeded subsample of at most ``n_fit`` rows), its top-d eigenfunctions are extended to
  the downstream-train and test rows, and a ridge probe on the first d' ≤ d of them is scored on
  the test rows at the d' and α chosen on a validation part of the downstream-train rows (no test
  label chooses anything);
- two baselines on the raw (preprocessed) features: ridge (α chosen by cross-validation) and
  gradient-boosted trees (scikit-learn's ``HistGradientBoosting*``).

Error: mean squared error for regression, one-hot MSE for classification (the mean over rows and
classes of the squared error of one-hot predictions, as the probes compute it; accuracy reported
too). Label contexts see the pretrain labels only. The summary counts the datasets on which the
best mixture beats the best single context, and by how much.

The study runs on :func:`~contextures.runner.run_study` (:data:`MIXING`): one cell per
(dataset, candidate); outputs ``summary.json``, ``table.md`` and ``mixing.png``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import prepare
from ..reports.figures import relative_error_bars, short_dataset_name
from ..reports.files import write_text
from ..reports.summaries import mixing_table
from ..runner import Cell, Study, partition_records, worker_cache
from ..spectral import Contexture
from .common import labelled_suite

CELL_FN = "contextures.experiments.mixing:mixing_cell"

# Singles and the mixtures built from them (documented in docs/guide.md).
DEFAULT_SINGLES = ("knn(k=10)", "rbf(gamma=median)", "conv(knn(k=10),label)")
DEFAULT_MIXTURES = (
    "conv(knn(k=10),knn(k=10))",
    "mix(0.5*knn(k=10),0.5*rbf(gamma=median))",
    "mix(knn(k=10),rbf(gamma=median),weights=minimax,eta=0.03,rounds=10)",
    "mix(0.5*knn(k=10),0.5*conv(knn(k=10),label))",
    "concat(knn(k=10),rbf(gamma=median))",
)
BASELINES = ("ridge", "gbt")
QUICK_DATASETS = ("diabetes", "sklearn:breast_cancer")


# --- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MixingSettings:
    """Datasets, candidates and sizes of the mixing study (all recorded in grid.json)."""

    datasets: tuple[str, ...] = field(default_factory=lambda: tuple(labelled_suite("offline")))
    singles: tuple[str, ...] = DEFAULT_SINGLES
    mixtures: tuple[str, ...] = DEFAULT_MIXTURES
    split_seed: int = 0
    n_fit: int = 1500
    n_components: int = 64
    max_rows: int | None = 10000

    def __post_init__(self) -> None:
        for name in ("datasets", "singles", "mixtures"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @classmethod
    def quick(cls, **overrides: Any) -> MixingSettings:
        """CI profile: diabetes and breast_cancer, n_fit = 300, d = 16, ≤ 1000 rows."""
        base = cls(datasets=QUICK_DATASETS, n_fit=300, n_components=16, max_rows=1000)
        return replace(base, **overrides)

    @property
    def candidates(self) -> list[str]:
        return [*self.singles, *self.mixtures, *BASELINES]

    def protocol(self) -> dict[str, Any]:
        return {"bench": "mixing", "datasets": list(self.datasets),
                "candidates": self.candidates, "split_seed": self.split_seed,
                "n_fit": self.n_fit, "n_components": self.n_components,
                "max_rows": self.max_rows}

    def cells(self) -> list[Cell]:
        """One cell per (dataset, candidate)."""
        return [Cell(key=f"{ds}|{cand}", fn=CELL_FN,
                     config={"dataset": ds, "candidate": cand, "split_seed": self.split_seed,
                             "n_components": self.n_components, "n_fit": self.n_fit,
                             "max_rows": self.max_rows})
                for ds in self.datasets for cand in self.candidates]


# --- the cell ------------------------------------------------------------------------------------
def _prepared(dataset: str, split_seed: int, max_rows: int | None):
    return worker_cache(("mixing-prepare", dataset, split_seed, max_rows),
                        lambda: prepare(dataset, split_seed=split_seed, max_rows=max_rows))


def _onehot(y: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((y.size, n_classes))
    out[np.arange(y.size), y] = 1.0
    return out


def _errors(pred: np.ndarray, y: np.ndarray, task: str, n_classes: int | None) -> dict:
    if task == "classification":
        return {"error": float(np.mean((pred - _onehot(y, n_classes)) ** 2)),
                "accuracy": float(np.mean(pred.argmax(1) == y))}
    return {"error": float(np.mean((pred.ravel() - y) ** 2)), "accuracy": None}


def _baseline(kind: str, data) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV

    X_fit, y_fit = data.X_train, data.y_train
    C = data.n_classes
    if kind == "ridge":
        target = _onehot(y_fit, C) if data.task == "classification" else y_fit
        model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X_fit, target)
        pred = model.predict(data.X_test)
    elif data.task == "classification":
        model = HistGradientBoostingClassifier(random_state=0).fit(X_fit, y_fit)
        pred = model.predict_proba(data.X_test)
    else:
        model = HistGradientBoostingRegressor(random_state=0).fit(X_fit, y_fit)
        pred = model.predict(data.X_test)
    return _errors(np.asarray(pred), data.y_test, data.task, C)


def mixing_cell(dataset: str, candidate: str, split_seed: int = 0, n_components: int = 64,
                n_fit: int = 1500, max_rows: int | None = 10000, random_state: int = 0) -> dict:
    """One (dataset, candidate) cell: the test error of an exact encoder's probe, or a baseline.

    Both baselines are trained on the downstream-train rows, the labelled rows the probes see.
    """
    from ..evaluation import ridge_probe_curve

    data = _prepared(dataset, split_seed, max_rows)
    if data.task is None:
        raise ValueError(f"{dataset} has no target: the mixing bench needs labelled data")
    if candidate in BASELINES:
        return {"kind": "baseline", **_baseline(candidate, data)}
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(data.X_pre.shape[0], size=min(n_fit, data.X_pre.shape[0]),
                              replace=False))
    X_fit = data.X_pre[rows]
    y_fit = None if data.y_pre is None else data.y_pre[rows]
    d = int(min(n_components, X_fit.shape[0] - 2))
    model = Contexture(candidate, n_components=d, random_state=random_state).fit(X_fit, y_fit)
    F_train = model.transform(data.X_train)
    F_test = model.transform(data.X_test)
    curve = ridge_probe_curve(F_train, data.y_train, F_test=F_test, y_test=data.y_test,
                              task=data.task, random_state=random_state)
    acc = None if curve.accuracy is None else float(curve.accuracy[curve.d_val - 1])
    weights = getattr(model.context_, "weights_", None)
    return {"kind": "encoder", "error": float(curve.error_at_d_val), "accuracy": acc,
            "d": int(curve.d_val), "n_fit": int(X_fit.shape[0]), "solver": model.solver_,
            "weights": None if weights is None else [float(w) for w in weights]}


# --- summary and outputs -------------------------------------------------------------------------
def summarize(records, settings: MixingSettings, run=None) -> dict:
    """Per dataset: best single, best mixture, baselines; how often and by how much mixing wins."""
    singles, mixtures = settings.singles, settings.mixtures
    ok, failed = partition_records(records, ("dataset", "candidate"))
    by_dataset: dict[str, dict[str, dict]] = {}
    for rec in ok:
        cfg = rec["config"]
        by_dataset.setdefault(cfg["dataset"], {})[cfg["candidate"]] = rec["result"]
    rows = []
    for name, res in by_dataset.items():
        best_single = min((c for c in singles if c in res), key=lambda c: res[c]["error"],
                          default=None)
        best_mix = min((c for c in mixtures if c in res), key=lambda c: res[c]["error"],
                       default=None)
        row = {"dataset": name, "best_single": best_single, "best_mixture": best_mix,
               "single_error": None if best_single is None else res[best_single]["error"],
               "mixture_error": None if best_mix is None else res[best_mix]["error"]}
        for b in BASELINES:
            row[f"{b}_error"] = res.get(b, {}).get("error")
        if best_single and best_mix:
            row["mixture_gain"] = (row["single_error"] - row["mixture_error"]) / row["single_error"]
        rows.append(row)
    gains = [r["mixture_gain"] for r in rows if r.get("mixture_gain") is not None]
    protocol = settings.protocol()
    return {"datasets": rows, "failed": failed, "n_datasets": len(rows),
            "mixture_wins": int(sum(g > 0 for g in gains)),
            "median_relative_gain": float(np.median(gains)) if gains else None,
            "mean_relative_gain": float(np.mean(gains)) if gains else None,
            "profile": {k: v for k, v in protocol.items() if k != "datasets"}}


def plot_mixing(summary: dict, path) -> Path:
    """Each dataset's best-mixture and baseline errors relative to its best single context."""
    rows = [r for r in summary["datasets"] if r["single_error"]]
    series = {label: [(r.get(key) or np.nan) / r["single_error"] for r in rows]
              for key, label in (("mixture_error", "best mixture"),
                                 ("ridge_error", "ridge (raw features)"),
                                 ("gbt_error", "boosted trees (raw features)"))}
    return relative_error_bars(
        [short_dataset_name(r["dataset"]) for r in rows], series, path,
        title=f"Mixtures and baselines against the best single context "
              f"({len(rows)} datasets)",
        xlabel="test error ÷ best single context's test error (ratio, log scale)",
        reference_label="best single context (= 1)")


def write_outputs(summary: dict, out_dir) -> list[Path]:
    """``summary.json``, ``table.md`` and ``mixing.png``."""
    out = Path(out_dir)
    return [write_text(out / "summary.json", json.dumps(summary, indent=2)),
            write_text(out / "table.md", mixing_table(summary)),
            plot_mixing(summary, out / "mixing.png")]


MIXING = Study("mixing", MixingSettings, summarize, write_outputs)
