"""Does the two-term error bound hold on real tables, how tight is it, and does κ rank contexts?

One cell per (dataset, context, seed), on the same pool / test split and labelled draw as the
semi-supervised bench (:func:`~contextures.experiments.semisup.pool_and_test`,
:func:`~contextures.experiments.semisup_methods.draw_labelled`, 5 % of the pool labelled by default):

1. the exact top-D contexture of the context, fitted on the pool (every row, labels unused), its
   singular values s_1..s_D and the context complexity κ of the fitted context
   (:func:`~contextures.evaluation.complexity.context_complexity`);
2. the target's coefficients u_i = ⟨f − E f, μ_i⟩ on the pool (every pool label: the bound is
   evaluated with the population quantities it is stated in, estimated on the 80 % pool), for a
   regression target standardised on the pool, for classes each one-hot column (summed terms,
   averaged over the columns);
3. for each d ≤ D (``dims``, with d + 2 < n): the terms of
   :func:`~contextures.evaluation.complexity.bound_terms` — the approximation term
   A_d = Var f − Σ_{i≤d} u_i² (exact on the pool) and the estimation term σ²(d + 1)/n with the
   noise level the probe sees, σ² = A_d (the part of the target outside the span acts as noise
   for least squares on the span) — so that the bound reads B_d = A_d (1 + (d + 1)/n); and the
   sample requirement (κ² / s_d²) log d, which says whether n is large enough for the bound's
   regime;
4. the measured error: least squares (with an intercept) on μ_1..μ_d of the n labelled rows,
   test MSE on the test rows through the stable extension (the same standardised / one-hot
   target).

The summary reads, over every (dataset, context, d): the share where the measured error is at most
B_d ("holds"), the median of measured / B_d ("tightness"), both also restricted to the cells where
n meets the sample requirement; and per dataset the Spearman correlation over contexts between κ
and the best measured error over d (does a smaller κ mean a smaller error?).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runner import Cell

CELL_FN = f"{__name__}:bound_cell"
CONTEXTS = ("knn(k=10)", "knn(k=30)", "knn(k=100)", "rbf(gamma=median)")
DIMS = (2, 4, 8, 16, 32)


def _targets(y_pool, y_test, task):
    """(Y_pool, Y_test): standardised values (one column) or one-hot classes, pool statistics."""
    if task == "classification":
        C = int(max(y_pool.max(), y_test.max()) + 1)
        return np.eye(C)[y_pool], np.eye(C)[y_test]
    mean, std = float(np.mean(y_pool)), float(np.std(y_pool)) or 1.0
    return ((y_pool - mean) / std)[:, None], ((y_test - mean) / std)[:, None]


def bound_cell(dataset: str, context: str, seed: int, fraction: float = 0.05,
               max_rows: int | None = 4000, n_components: int = 64, dims=DIMS) -> dict:
    """κ, the bound's terms and the measured probe error at each d (module docstring)."""
    from ..evaluation.complexity import bound_terms, context_complexity, target_coefficients
    from ..spectral import Contexture
    from .semisup import pool_and_test
    from .semisup_methods import draw_labelled

    X_pool, y_pool, X_test, y_test, task = pool_and_test(dataset, seed, max_rows)
    labelled = draw_labelled(y_pool, fraction, task, random_state=seed)
    n = int(labelled.size)
    Y_pool, Y_test = _targets(y_pool, y_test, task)
    D = int(min(n_components, X_pool.shape[0] - 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Contexture(context, n_components=D, random_state=seed).fit(X_pool)
    s = np.asarray(model.singular_values_, dtype=float)
    mu = np.asarray(model.eigenfunctions_, dtype=float)
    kappa = context_complexity(model.context_)
    F_test = model.transform(X_test)           # the stable extension (resolved columns only)
    resolved = np.asarray(model.components_resolved_)
    out = {"task": task, "n_labelled": n, "n_pool": int(X_pool.shape[0]), "D": D,
           "kappa": kappa.kappa, "kernel_trace": kappa.mean_diagonal,
           "singular_values": [float(format(v, ".6g")) for v in s], "dims": []}
    for d in dims:
        if d >= D or d + 2 >= n:
            continue
        cols = [j for j in range(d) if j in set(resolved.tolist())]
        approx, est, req = [], [], None
        for c in range(Y_pool.shape[1]):
            u, var = target_coefficients(mu, Y_pool[:, c])
            a_d = float(max(0.0, var - np.sum(u[:d] ** 2)))
            terms = bound_terms(s, n, d, kappa=kappa.kappa, coefficients=u,
                                target_variance=var, noise=a_d)
            approx.append(terms.approximation)
            est.append(terms.estimation)
            req = terms.sample_requirement
        # least squares with an intercept on the d components of the labelled rows
        pos = {j: i for i, j in enumerate(resolved.tolist())}
        Z_lab = np.hstack([np.ones((n, 1)), mu[labelled][:, cols]])
        Z_test = np.hstack([np.ones((X_test.shape[0], 1)), F_test[:, [pos[j] for j in cols]]])
        coef, *_ = np.linalg.lstsq(Z_lab, Y_pool[labelled], rcond=None)
        measured = float(np.mean((Z_test @ coef - Y_test) ** 2))
        A, E = float(np.mean(approx)), float(np.mean(est))
        out["dims"].append({"d": d, "approximation": A, "estimation": E, "bound": A + E,
                            "measured": measured, "sample_requirement": req,
                            "in_regime": bool(n >= req), "resolved_used": len(cols)})
    return out


@dataclass(frozen=True)
class BoundSettings:
    """Datasets (specs), contexts, seeds, labelled fraction, row cap, D and the d's."""

    datasets: tuple[str, ...] = field(default_factory=lambda: tuple(_offline()))
    contexts: tuple[str, ...] = CONTEXTS
    seeds: tuple[int, ...] = (0,)
    fraction: float = 0.05
    max_rows: int | None = 4000
    n_components: int = 64
    dims: tuple[int, ...] = DIMS

    @classmethod
    def quick(cls, **overrides) -> BoundSettings:
        """Two small datasets, two contexts, 600 rows."""
        values = {"datasets": ("diabetes", "sklearn:breast_cancer"),
                  "contexts": ("knn(k=10)", "knn(k=50)"), "max_rows": 600,
                  "n_components": 32, "fraction": 0.2}
        values.update(overrides)
        return cls(**values)

    def protocol(self) -> dict:
        return {"study": "complexity_bound", "datasets": list(self.datasets),
                "contexts": list(self.contexts), "seeds": list(self.seeds),
                "fraction": self.fraction, "max_rows": self.max_rows,
                "n_components": self.n_components, "dims": list(self.dims)}

    def cells(self) -> list[Cell]:
        return [Cell(f"{ds}|{ctx}|{seed}", CELL_FN,
                     {"dataset": ds, "context": ctx, "seed": int(seed),
                      "fraction": float(self.fraction), "max_rows": self.max_rows,
                      "n_components": self.n_components, "dims": list(self.dims)})
                for ds in self.datasets for ctx in self.contexts for seed in self.seeds]


def _offline() -> list[str]:
    from .common import labelled_suite

    return labelled_suite("offline")


def _spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    rho = spearmanr(a, b).statistic
    return float(rho) if math.isfinite(rho) else None


def summarize(records, settings: BoundSettings, run=None) -> dict:
    """Holds / tightness over every (dataset, context, d), and κ's ranking of contexts."""
    from ..runner.study import partition_records
    from .semisup import short_name

    ok, failed = partition_records(records, ("dataset", "context"))
    rows = []
    for rec in ok:
        cfg, res = rec["config"], rec["result"]
        for entry in res["dims"]:
            rows.append({"dataset": short_name(cfg["dataset"]), "context": cfg["context"],
                         "seed": cfg["seed"], "task": res["task"], "n": res["n_labelled"],
                         "kappa": res["kappa"], **entry})

    def reading(sub):
        if not sub:
            return {"cells": 0, "holds": None, "median_ratio": None}
        ratio = [r["measured"] / r["bound"] for r in sub if r["bound"] > 0]
        return {"cells": len(sub),
                "holds": float(np.mean([r["measured"] <= r["bound"] for r in sub])),
                "median_ratio": float(np.median(ratio)) if ratio else None,
                "quartiles": [float(q) for q in np.quantile(ratio, [0.25, 0.75])]
                if ratio else None}

    by_d = {str(d): reading([r for r in rows if r["d"] == d]) for d in settings.dims}
    ranking = []
    for ds in sorted({r["dataset"] for r in rows}):
        best = {}
        for r in rows:
            if r["dataset"] == ds:
                cur = best.get(r["context"])
                if cur is None or r["measured"] < cur[1]:
                    best[r["context"]] = (r["kappa"], r["measured"], r["d"])
        ctxs = sorted(best)
        kap = [best[c][0] for c in ctxs]
        err = [best[c][1] for c in ctxs]
        ranking.append({"dataset": ds, "contexts": ctxs, "kappa": kap, "best_error": err,
                        "spearman_kappa_error": _spearman(kap, err),
                        "smallest_kappa_is_best": bool(int(np.argmin(kap)) == int(np.argmin(err)))
                        if ctxs else None})
    rhos = [r["spearman_kappa_error"] for r in ranking if r["spearman_kappa_error"] is not None]
    summary = {
        "rows": rows, "failed": failed,
        "overall": reading(rows),
        "in_regime": reading([r for r in rows if r["in_regime"]]),
        "out_of_regime": reading([r for r in rows if not r["in_regime"]]),
        "by_d": by_d,
        "ranking": ranking,
        "kappa_ranking": {
            "datasets": len(ranking),
            "median_spearman": float(np.median(rhos)) if rhos else None,
            "positive": int(sum(r > 0 for r in rhos)), "negative": int(sum(r < 0 for r in rhos)),
            "smallest_kappa_is_best": int(sum(bool(r["smallest_kappa_is_best"])
                                              for r in ranking))},
        "profile": {k: v for k, v in settings.protocol().items() if k != "datasets"},
    }
    if run is not None:
        summary["elapsed_seconds"] = run.elapsed_seconds
    return summary


def bound_table(summary: dict) -> str:
    """Markdown: the headline readings, per d, and κ's ranking per dataset."""
    from ..reports.markdown import markdown_table

    def f(v, spec=".3g"):
        return "—" if v is None else format(v, spec)

    lines = ["# The two-term bound against the measured probe error", ""]
    body = []
    for label, key in (("every cell", "overall"), ("n ≥ (κ²/s_d²) log d", "in_regime"),
                       ("n below it", "out_of_regime")):
        r = summary[key]
        body.append([label, str(r["cells"]), f(r["holds"], ".0%") if r["holds"] is not None
                     else "—", f(r["median_ratio"]),
                     "—" if not r.get("quartiles") else
                     f"{r['quartiles'][0]:.3g}–{r['quartiles'][1]:.3g}"])
    for d, r in summary["by_d"].items():
        body.append([f"d = {d}", str(r["cells"]), f(r["holds"], ".0%") if r["holds"] is not None
                     else "—", f(r["median_ratio"]),
                     "—" if not r.get("quartiles") else
                     f"{r['quartiles'][0]:.3g}–{r['quartiles'][1]:.3g}"])
    lines += markdown_table(["cells", "n", "measured ≤ bound", "median measured / bound",
                             "quartiles"], body)
    k = summary["kappa_ranking"]
    lines += ["", f"κ ranks contexts: over {k['datasets']} datasets, Spearman(κ, best measured "
              f"error) has median {f(k['median_spearman'])} ({k['positive']} positive, "
              f"{k['negative']} negative); the context of smallest κ has the smallest error on "
              f"{k['smallest_kappa_is_best']}.", ""]
    body = [[r["dataset"], ", ".join(f"{c}: κ={kp:.3g}, err={e:.3g}" for c, kp, e in
                                     zip(r["contexts"], r["kappa"], r["best_error"],
                                         strict=True)),
             f(r["spearman_kappa_error"], "+.2f")] for r in summary["ranking"]]
    lines += markdown_table(["dataset", "context: κ, best measured error", "Spearman"], body)
    for fl in summary["failed"]:
        lines.append(f"- failed: {fl['dataset']} {fl['context']}: {fl['error']}")
    return "\n".join(lines) + "\n"


def write_outputs(summary: dict, out_dir) -> list[Path]:
    """``summary.json`` and ``table.md``."""
    from ..reports.records import write_summary_and_table

    return write_summary_and_table(out_dir, summary, bound_table(summary))


def describe(settings: BoundSettings) -> list[str]:
    return [f"complexity bound: {len(settings.datasets)} datasets × {len(settings.contexts)} "
            f"contexts × seeds {', '.join(map(str, settings.seeds))}, {settings.fraction:g} "
            f"labelled, D = {settings.n_components}"]


def _study():
    from ..runner.study import Study

    return Study("complexity_bound", BoundSettings, summarize, write_outputs, describe)


def run_bound_study(out_dir, settings: BoundSettings, **runner) -> dict:
    """Run the study's missing cells on the grid runner, then summarise and write."""
    from ..runner.study import run_study

    return run_study(_study(), settings, out_dir, **runner).summary
