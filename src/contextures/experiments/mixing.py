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
"""

from __future__ import annotations

import numpy as np

from ..datasets import prepare
from ..spectral import Contexture
from ..runner import Cell, worker_cache

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


def mixing_cells(datasets, candidates, *, split_seed: int = 0, n_components: int = 64,
                 n_fit: int = 1500, max_rows: int | None = 10000) -> list[Cell]:
    """The grid: one cell per (dataset, candidate)."""
    return [Cell(key=f"{ds}|{cand}", fn=CELL_FN,
                 config={"dataset": ds, "candidate": cand, "split_seed": split_seed,
                         "n_components": n_components, "n_fit": n_fit, "max_rows": max_rows})
            for ds in datasets for cand in candidates]


def summarize(records, singles, mixtures) -> dict:
    """Per dataset: best single, best mixture, baselines; how often and by how much mixing wins."""
    by_dataset: dict[str, dict[str, dict]] = {}
    failed = []
    for rec in records:
        cfg = rec["config"]
        if rec.get("status") != "ok":
            failed.append({"dataset": cfg["dataset"], "candidate": cfg["candidate"],
                           "error": rec.get("error")})
            continue
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
    return {"datasets": rows, "failed": failed, "n_datasets": len(rows),
            "mixture_wins": int(sum(g > 0 for g in gains)),
            "median_relative_gain": float(np.median(gains)) if gains else None,
            "mean_relative_gain": float(np.mean(gains)) if gains else None}


QUICK = {"datasets": ("diabetes", "sklearn:breast_cancer"), "n_fit": 300, "n_components": 16,
         "max_rows": 1000}
FULL = {"n_fit": 1500, "n_components": 64, "max_rows": 10000}


def labelled_suite(name: str) -> list[str]:
    """The specs of a suite's labelled members (every member of ``offline`` has a target)."""
    from ..datasets import suite

    return [member.spec for member in suite(name)]


def run_mixing_bench(out_dir, *, datasets=None, suite_name: str = "offline", quick: bool = False,
                     singles=DEFAULT_SINGLES, mixtures=DEFAULT_MIXTURES, split_seed: int = 0,
                     workers: int = 1, backend: str = "joblib", scheduler=None,
                     resume: str = "auto", progress: bool = True) -> dict:
    """Run the mixing bench on the grid runner; write ``summary.json``, ``table.md``, a plot."""
    import json
    from pathlib import Path

    from ..runner import run_grid

    profile = QUICK if quick else FULL
    if datasets is None:
        datasets = list(profile["datasets"]) if quick else labelled_suite(suite_name)
    candidates = list(singles) + list(mixtures) + list(BASELINES)
    cells = mixing_cells(datasets, candidates, split_seed=split_seed,
                         n_components=profile["n_components"], n_fit=profile["n_fit"],
                         max_rows=profile["max_rows"])
    grid_config = {"bench": "mixing", "datasets": list(datasets), "candidates": candidates,
                   "split_seed": split_seed, **{k: v for k, v in profile.items()
                                                 if k != "datasets"}}
    out = Path(out_dir)
    records, _ = run_grid(cells, out, grid_config=grid_config, workers=workers, backend=backend,
                          scheduler=scheduler, resume=resume, progress=progress,
                          threads_per_worker=1 if workers > 1 else None,
                          description="mixing cells")
    summary = summarize(records, singles, mixtures)
    summary["profile"] = {k: v for k, v in grid_config.items() if k != "datasets"}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "table.md").write_text(mixing_table(summary))
    plot_mixing(summary, out / "mixing.png")
    return summary


def mixing_table(summary: dict) -> str:
    """Markdown: per dataset, best single vs best mixture vs baselines (test error)."""
    def fmt(v):
        return "—" if v is None else f"{v:.4g}"

    lines = ["| dataset | best single | error | best mixture | error | gain | ridge | gbt |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["datasets"]:
        gain = r.get("mixture_gain")
        lines.append(f"| {r['dataset']} | `{r['best_single']}` | {fmt(r['single_error'])} | "
                     f"`{r['best_mixture']}` | {fmt(r['mixture_error'])} | "
                     f"{'—' if gain is None else f'{100 * gain:+.1f}%'} | "
                     f"{fmt(r.get('ridge_error'))} | {fmt(r.get('gbt_error'))} |")
    lines.append("")
    lines.append(f"Best mixture beats best single context on {summary['mixture_wins']} of "
                 f"{summary['n_datasets']} datasets; median relative gain "
                 f"{fmt(summary['median_relative_gain'])}.")
    for f in summary["failed"]:
        lines.append(f"- failed: {f['dataset']} / {f['candidate']}: {f['error']}")
    return "\n".join(lines) + "\n"


def plot_mixing(summary: dict, path) -> None:
    """Bar chart: each dataset's best-mixture and baseline errors relative to its best single."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in summary["datasets"] if r["single_error"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    for offset, key, label in ((-0.25, "mixture_error", "best mixture"),
                               (0.0, "ridge_error", "ridge (raw)"),
                               (0.25, "gbt_error", "boosted trees (raw)")):
        vals = [(r.get(key) or np.nan) / r["single_error"] for r in rows]
        ax.bar(x + offset, vals, width=0.25, label=label)
    ax.axhline(1.0, color="k", lw=1, label="best single context")
    ax.set_xticks(x, [r["dataset"] for r in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("test error / best single context's")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
