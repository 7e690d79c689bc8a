"""Distribution shift from pretraining to the downstream task, on data with a group column.

One comparison (:func:`shift_comparison`, what ``contextures shift`` prints and one cell of
``contextures bench shift`` computes):

1. **Data.** :func:`~contextures.datasets.groups.prepare_grouped`: the group column leaves the
   features, the rows are split 70/15/15 into pretrain / downstream-train / test.
2. **Pretrain.** The exact contexture (:class:`~contextures.spectral.Contexture`, d₀ components,
   the stable extension) on the pretrain rows *of the pretraining groups* (all groups, or some:
   ``pretrain_groups``; ``"majority"`` names the largest group), at most ``max_fit`` of them
   (a seeded subsample).
3. **Diagnostic** (:func:`~contextures.evaluation.shift.shift_diagnostic`): P = those fitted
   rows, Q = the downstream rows of every group (downstream-train and test, features only, at
   most ``max_fit``), with the sampling baseline (a refit on |Q| rows of P).
4. **Probes** (:class:`~contextures.evaluation.robust.RobustProbe`): each of ``erm``,
   ``reweight``, ``cvar``, ``chi2``, ``doro`` is fitted on the downstream-train rows of every
   group (regression targets standardised with the downstream-train mean and deviation) and
   scored on the test rows: per-group error, the average over test rows and the worst group's.
   Errors are the mean squared error of the standardised target (regression) or the
   misclassification rate (classification). Features: the contexture's resolved columns
   (``contexture``) and the preprocessed inputs (``raw``).

Every group needs at least :data:`MIN_GROUP_ROWS` rows in downstream-train (``reweight`` weighs
each group by its rows there) and as many in test (its error is a mean over them).

The benchmark (:func:`run_shift_bench`) runs one cell per (dataset, pretraining population) on
the grid runner, through the study skeleton (:mod:`contextures.runner.study`): the datasets of
the offline suite with a natural group column (:data:`GROUP_COLUMNS`), pretrained on all rows
and on the majority group only; ``table.md``, ``summary.json``, ``shift.png``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import DataError, ParameterError
from ..runner import Cell, partition_records

PROBES = ("erm", "reweight", "cvar", "chi2", "doro")
FEATURES = ("contexture", "raw")
MIN_GROUP_ROWS = 5
ALL_GROUPS = "all"
MAJORITY = "majority"
DEFAULT_N_COMPONENTS = 64
DEFAULT_MAX_FIT = 1500

# The offline datasets with a natural group column (a subpopulation, a site or a period), one
# column each, chosen from the tables' columns before any result was seen.
GROUP_COLUMNS = {
    "abalone": ("sex", "subpopulation: male, female, infant"),
    "cmc": ("wife_education", "subpopulation: four education levels"),
    "HI": ("region", "site: four US regions"),
    "CPS1988": ("ethnicity", "subpopulation: two ethnicity groups"),
    "wa_churn": ("senior_citizen", "subpopulation: senior citizens or not"),
    "mlc_churn": ("area_code", "site: three telephone area codes"),
    "k401ksubs": ("male", "subpopulation: men and women"),
    "BudgetFood": ("town", "site: five town sizes"),
    "HealthInsurance": ("region", "site: four US regions"),
    "rwm5yr": ("year", "period: five survey years"),
}


# --- one comparison -----------------------------------------------------------------------------
def resolve_pretrain_groups(grouped, pretrain_groups) -> list[str]:
    """The pretraining groups: all (None or ``"all"``), the largest (``"majority"``) or the
    named ones (a list, or one comma-separated string)."""
    names = list(grouped.group_names)
    if pretrain_groups is None:
        return names
    if isinstance(pretrain_groups, str):
        pretrain_groups = [g.strip() for g in pretrain_groups.split(",") if g.strip()]
    chosen = list(dict.fromkeys(pretrain_groups))
    if chosen == [ALL_GROUPS]:
        return names
    if chosen == [MAJORITY]:
        return [grouped.majority_group]
    unknown = [g for g in chosen if g not in names]
    if unknown or not chosen:
        raise ParameterError(f"unknown pretraining group(s) {', '.join(unknown) or '(none)'} in "
                             f"column {grouped.column!r}; its groups: {', '.join(names)} (or "
                             f"'{ALL_GROUPS}', '{MAJORITY}')")
    return chosen


def check_group_sizes(grouped, minimum: int = MIN_GROUP_ROWS) -> None:
    """Every group has at least ``minimum`` rows in downstream-train and in test (DataError)."""
    counts = grouped.counts()
    short = [f"{g!r} ({c['train']} downstream-train, {c['test']} test)"
             for g, c in counts.items() if c["train"] < minimum or c["test"] < minimum]
    if short:
        raise DataError(f"group column {grouped.column!r}: group(s) {', '.join(short)} have fewer "
                        f"than {minimum} rows in downstream-train or test; the reweight probe "
                        f"weighs each group by its training rows and the worst-group error needs "
                        f"test rows of each group: use more rows (--max-rows), another column, "
                        f"or merge the small groups")


def _probe_result(probe, F_train, y_train, g_train, F_test, y_test, g_test, task) -> dict:
    from ..evaluation.robust import group_errors

    start = time.perf_counter()
    probe.fit(F_train, y_train, groups=g_train)
    errors = group_errors(y_test, probe.predict(F_test), g_test, task)
    errors.update(objective=probe.objective_value_, converged=probe.converged_,
                  n_iter=probe.n_iter_, seconds=round(time.perf_counter() - start, 3))
    return errors


def shift_comparison(grouped, context: str, *, pretrain_groups=None,
                     probes: Sequence[str] = PROBES, features: Sequence[str] = FEATURES,
                     n_components: int = DEFAULT_N_COMPONENTS, max_fit: int = DEFAULT_MAX_FIT,
                     alpha: float | None = None, rho: float | None = None,
                     eps: float | None = None, l2: float | None = None,
                     random_state: int = 0, baseline: bool = True) -> dict:
    """Pretrain, diagnose, probe (module docstring); a JSON-ready dict.

    ``{"groups", "group_column", "pretrain_groups", "counts", "task", "n_fit",
    "n_resolved", "diagnostic": ShiftDiagnostic.record(), "probes": {feature set: {probe:
    {"average_error", "worst_group_error", "per_group", "objective", "converged", ...}}},
    "seconds"}``.
    """
    from ..evaluation.robust import (
        DEFAULT_ALPHA,
        DEFAULT_EPS,
        DEFAULT_L2,
        DEFAULT_RHO,
        RobustProbe,
        check_alpha,
        check_eps,
        check_rho,
    )
    from ..evaluation.scoring import standardised_targets
    from ..evaluation.shift import shift_diagnostic
    from ..spectral import Contexture

    alpha = check_alpha(DEFAULT_ALPHA if alpha is None else alpha)
    rho = check_rho(DEFAULT_RHO if rho is None else rho)
    eps = check_eps(DEFAULT_EPS if eps is None else eps)
    l2 = DEFAULT_L2 if l2 is None else l2
    bad = [p for p in probes if p not in PROBES]
    if bad or not probes:
        raise ParameterError(f"unknown probe(s) {', '.join(bad) or '(none)'}; known: "
                             f"{', '.join(PROBES)}")
    bad = [f for f in features if f not in FEATURES]
    if bad or not features:
        raise ParameterError(f"unknown feature set(s) {', '.join(bad) or '(none)'}; known: "
                             f"{', '.join(FEATURES)}")
    data = grouped.data
    if data.task is None:
        raise DataError(f"{data.name} has no target: the probes need labels")
    start = time.perf_counter()
    chosen = resolve_pretrain_groups(grouped, pretrain_groups)
    check_group_sizes(grouped)
    rng = np.random.default_rng(random_state)
    rows = np.flatnonzero(np.isin(grouped.groups_pre, chosen))
    if rows.size > max_fit:
        rows = np.sort(rng.choice(rows, size=max_fit, replace=False))
    if rows.size < 20:
        raise DataError(f"the pretraining group(s) {', '.join(chosen)} have {rows.size} pretrain "
                        f"rows; at least 20 are needed to fit a contexture")
    X_P = data.X_pre[rows]
    d0 = min(int(n_components), rows.size - 2)
    y_P = None if data.y_pre is None else data.y_pre[rows]
    model = Contexture(context, n_components=d0, random_state=random_state).fit(X_P, y_P)
    X_Q = np.vstack([data.X_train, data.X_test])
    if X_Q.shape[0] > max_fit:
        X_Q = X_Q[np.sort(rng.choice(X_Q.shape[0], size=max_fit, replace=False))]
    diagnostic = shift_diagnostic(model, X_P, X_Q, baseline=baseline,
                                  random_state=random_state)
    y_train, y_test, _ = standardised_targets(data.y_train, data.y_test, data.task)
    results: dict[str, dict] = {}
    for feature_set in features:
        if feature_set == "contexture":
            F_train, F_test = model.transform(data.X_train), model.transform(data.X_test)
            if F_train.shape[1] == 0:
                results[feature_set] = {"failed": "no component resolved"}
                continue
        else:
            F_train, F_test = data.X_train, data.X_test
        results[feature_set] = {
            name: _probe_result(RobustProbe(objective=name, task=data.task, alpha=alpha,
                                            rho=rho, eps=eps, l2=l2),
                                F_train, y_train, grouped.groups_train, F_test, y_test,
                                grouped.groups_test, data.task)
            for name in probes}
    return {"groups": list(grouped.group_names), "group_column": grouped.column,
            "pretrain_groups": chosen, "counts": grouped.counts(), "task": data.task,
            "context": model.context_.spec() if hasattr(model.context_, "spec") else context,
            "n_fit": int(rows.size), "d0": d0,
            "n_resolved": int(model.n_components_resolved_),
            "parameters": {"alpha": alpha, "rho": rho, "eps": eps, "l2": l2},
            "diagnostic": diagnostic.record(), "probes": results,
            "seconds": round(time.perf_counter() - start, 3)}


def json_payload(result: dict, feature_set: str = "contexture") -> dict:
    """The ``contextures shift --json`` document: groups, the three diagnostic numbers and, per
    probe, the average, worst-group and per-group test errors (nothing else)."""
    diag = result["diagnostic"]
    probes = result["probes"].get(feature_set, {})
    return {"groups": list(result["groups"]),
            "diagnostic": {"covariance_eigenvalues": diag["covariance_eigenvalues"],
                           "condition_number": diag["condition_number"],
                           "principal_angles": diag["principal_angles"]},
            "probes": {name: {"average_error": r["average_error"],
                              "worst_group_error": r["worst_group_error"],
                              "per_group": dict(r["per_group"])}
                       for name, r in probes.items() if isinstance(r, dict)
                       and "average_error" in r}}


# --- the benchmark ------------------------------------------------------------------------------
def shift_cell(dataset: str, group: str, pretrain: str, context: str, n_components: int,
               max_rows: int | None, max_fit: int, split_seed: int) -> dict:
    """One (dataset, pretraining population) cell of the benchmark (every probe, both feature
    sets, the diagnostic)."""
    from ..datasets.groups import prepare_grouped

    grouped = prepare_grouped(dataset, group, split_seed=split_seed, max_rows=max_rows)
    return shift_comparison(grouped, context, pretrain_groups=pretrain,
                            n_components=n_components, max_fit=max_fit,
                            random_state=split_seed)


CELL_FN = f"{__name__}:shift_cell"


def _suite_specs() -> dict[str, str]:
    from ..datasets.suites import suite

    return {m.name: m.spec for m in suite("offline")}


@dataclass(frozen=True)
class ShiftSettings:
    """The benchmark: datasets (suite names, each with its :data:`GROUP_COLUMNS` entry),
    pretraining populations, the context, d₀, the row caps and the split seed."""

    datasets: tuple[str, ...] = tuple(GROUP_COLUMNS)
    pretrain: tuple[str, ...] = (ALL_GROUPS, MAJORITY)
    context: str = "knn(k=30)"
    n_components: int = DEFAULT_N_COMPONENTS
    max_rows: int | None = 4000
    max_fit: int = DEFAULT_MAX_FIT
    split_seed: int = 0
    columns: dict = field(default_factory=lambda: {k: v[0] for k, v in GROUP_COLUMNS.items()})

    @classmethod
    def quick(cls, **overrides) -> ShiftSettings:
        """Two small datasets (abalone by sex, mlc_churn by area code), 600 rows, d₀ = 16."""
        values = {"datasets": ("abalone", "mlc_churn"), "n_components": 16, "max_rows": 600,
                  "max_fit": 600}
        values.update(overrides)
        return cls(**values)

    def __post_init__(self):
        unknown = [d for d in self.datasets if d not in self.columns]
        if unknown or not self.datasets:
            raise ParameterError(f"no group column known for {', '.join(unknown) or '(none)'}; "
                                 f"datasets with one: {', '.join(GROUP_COLUMNS)}")
        bad = [p for p in self.pretrain if p not in (ALL_GROUPS, MAJORITY)]
        if bad or not self.pretrain:
            raise ParameterError(f"pretraining populations are '{ALL_GROUPS}' and '{MAJORITY}', "
                                 f"got {', '.join(bad) or '(none)'}")

    def protocol(self) -> dict:
        return {"study": "shift", "datasets": list(self.datasets), "pretrain": list(self.pretrain),
                "context": self.context, "n_components": self.n_components,
                "max_rows": self.max_rows, "max_fit": self.max_fit,
                "split_seed": self.split_seed,
                "columns": {d: self.columns[d] for d in self.datasets}}

    def cells(self) -> list[Cell]:
        specs = _suite_specs()
        return [Cell(f"{name}/{mode}", CELL_FN,
                     {"dataset": specs.get(name, name), "group": self.columns[name],
                      "pretrain": mode, "context": self.context,
                      "n_components": self.n_components, "max_rows": self.max_rows,
                      "max_fit": self.max_fit, "split_seed": self.split_seed})
                for name in self.datasets for mode in self.pretrain]


def _name_of(spec: str) -> str:
    for name, s in _suite_specs().items():
        if s == spec:
            return name
    return spec


def summarize(records, settings=None, run=None) -> dict:
    """Rows (dataset, pretraining, feature set) with every probe's average and worst-group error;
    medians per probe; where DORO's worst-group error is at most ERM's."""
    ok, failed = partition_records(records, ("dataset", "pretrain"))
    for fl in failed:
        fl["dataset"] = _name_of(fl["dataset"])
    rows = []
    for rec in ok:
        cfg, res = rec["config"], rec["result"]
        name = _name_of(cfg["dataset"])
        diag = res["diagnostic"]
        angles = diag.get("principal_angles") or []
        base = diag.get("baseline_angles") or []
        for feature_set, probes in res["probes"].items():
            if feature_set == "raw" and cfg["pretrain"] != ALL_GROUPS:
                continue    # raw features do not depend on the pretraining population
            if "failed" in probes:
                failed.append({"dataset": name, "pretrain": cfg["pretrain"],
                               "error": f"{feature_set}: {probes['failed']}"})
                continue
            rows.append({
                "dataset": name, "group": res["group_column"], "task": res["task"],
                "pretrain": cfg["pretrain"], "pretrain_groups": res["pretrain_groups"],
                "features": feature_set, "n_groups": len(res["groups"]),
                "n_resolved": res["n_resolved"],
                "condition_number": diag["condition_number"],
                "median_angle": float(np.median(angles)) if angles else None,
                "median_baseline_angle": float(np.median(base)) if base else None,
                "captured_target": diag["captured_target"],
                "captured_source": diag["captured_source"],
                "errors": {p: {"average": r["average_error"], "worst": r["worst_group_error"],
                               "converged": r.get("converged")}
                           for p, r in probes.items()}})
    medians: dict[str, dict] = {}
    doro_vs_erm: dict[str, dict] = {}
    for key in sorted({(r["pretrain"], r["features"]) for r in rows}):
        sub = [r for r in rows if (r["pretrain"], r["features"]) == key]
        label = f"{key[0]}/{key[1]}"
        medians[label] = {
            p: {"average": float(np.median([r["errors"][p]["average"] for r in sub])),
                "worst": float(np.median([r["errors"][p]["worst"] for r in sub]))}
            for p in PROBES if all(p in r["errors"] for r in sub)}
        pairs = [r for r in sub if "doro" in r["errors"] and "erm" in r["errors"]]
        ratios = [r["errors"]["doro"]["worst"] / r["errors"]["erm"]["worst"] for r in pairs
                  if r["errors"]["erm"]["worst"] > 0]
        doro_vs_erm[label] = {
            "datasets": len(pairs),
            "doro_at_most_erm": sum(r["errors"]["doro"]["worst"] <= r["errors"]["erm"]["worst"]
                                    for r in pairs),
            "median_ratio": float(np.median(ratios)) if ratios else None,
            "worse": [r["dataset"] for r in pairs
                      if r["errors"]["doro"]["worst"] > r["errors"]["erm"]["worst"]]}
    summary = {"rows": rows, "medians": medians, "doro_vs_erm": doro_vs_erm, "failed": failed}
    if settings is not None:
        summary["protocol"] = settings.protocol()
    if run is not None:
        summary["run"] = run.counts()
    return summary


def write_outputs(summary: dict, out_dir) -> list[Path]:
    """``summary.json``, ``table.md`` and ``shift.png`` (worst-group against average error)."""
    from ..reports.files import write_text
    from ..reports.shift import shift_table, worst_against_average

    out = Path(out_dir)
    paths = [write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n"),
             write_text(out / "table.md", shift_table(summary, PROBES, FEATURES))]
    paths.append(worst_against_average(summary["rows"], PROBES, out / "shift.png"))
    return paths


def describe(settings: ShiftSettings) -> list[str]:
    return [f"shift: {len(settings.datasets)} datasets × pretraining {', '.join(settings.pretrain)}"
            f", context {settings.context}, d0 {settings.n_components}"]


def _study():
    from ..runner.study import Study

    return Study("shift", ShiftSettings, summarize, write_outputs, describe)


def run_shift_bench(out_dir, settings: ShiftSettings, **runner) -> dict:
    """Run the benchmark's missing cells on the grid runner, then summarise and write."""
    from ..runner.study import run_study

    result = run_study(_study(), settings, out_dir, **runner)
    return result.summary
