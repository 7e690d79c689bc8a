"""Do reweighted probes end up close to ERM as the encoder grows? A check of Zhai et al. (ICLR 2023).

"Understanding Why Generalized Reweighting Does Not Improve Over ERM" shows that, for
over-parameterised models trained on a squared loss, every generalised reweighting (static group
weights, or dynamic weights such as DRO's) converges to the same model as ERM when the training
data is interpolated, and that a small ℓ2 penalty does not change this; only a large one does.
For a linear probe on D features and n downstream-train rows, over-parameterised means D ≥ n.

The check, on one dataset with a group column (default: abalone, grouped by sex):

1. a :class:`~contextures.encoders.ContextureEncoder` (VICReg on ``knn(k=30)``) of width w
   (``hidden = w`` units per layer and ``output_dim = d₁ = w`` outputs) is trained on the
   pretrain rows, for w over ``widths``;
2. its d₁ raw features (``features``, before extraction) are the probe's inputs on the
   downstream-train rows (n of them) and the test rows;
3. every probe of :mod:`contextures.evaluation.robust` is fitted at two penalties λ (the default
   1e-3 and a small 1e-6); the iterative risks start from zero (``warm_start=False``), so that
   they do not start at ERM's answer;
4. recorded per probe: test average and worst-group error, and the distance of its test
   predictions from ERM's, relative to the spread of ERM's,

       gap = ‖f − f_ERM‖ / ‖f_ERM − mean(f_ERM)‖   (on the test rows),

   and ERM's training error (≈ 0 once the probe interpolates).

The ICLR 2023 result predicts gap → 0 for the reweighting probes as D passes n at small λ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import ParameterError
from ..runner import Cell, partition_records

PROBES = ("erm", "reweight", "cvar", "chi2", "doro")


def grw_cell(dataset: str, group: str, width: int, seed: int, max_rows: int, epochs: int,
             l2s: list[float], context: str = "knn(k=30)") -> dict:
    """One encoder width and seed: every probe at every λ on the encoder's raw features."""
    from ..datasets.groups import prepare_grouped
    from ..encoders import ContextureEncoder
    from ..evaluation.robust import RobustProbe, group_errors
    from ..evaluation.scoring import standardised_targets

    start = time.perf_counter()
    grouped = prepare_grouped(dataset, group, split_seed=seed, max_rows=max_rows)
    data = grouped.data
    enc = ContextureEncoder(context, objective="vicreg", n_components=min(8, width),
                            output_dim=width, hidden=width, depth=2, epochs=epochs,
                            random_state=seed, n_threads=1).fit(data.X_pre)
    F_train, F_test = enc.features(data.X_train), enc.features(data.X_test)
    y_train, y_test, _ = standardised_targets(data.y_train, data.y_test, data.task)
    out = {"width": width, "n_train": int(F_train.shape[0]), "features": int(F_train.shape[1]),
           "rank": int(np.linalg.matrix_rank(F_train - F_train.mean(axis=0))),
           "task": data.task, "probes": {}}
    for lam in l2s:
        preds, fits = {}, {}
        for name in PROBES:
            probe = RobustProbe(name, data.task, l2=lam, warm_start=False, max_iter=2000)
            probe.fit(F_train, y_train, groups=grouped.groups_train)
            preds[name] = probe.decision_function(F_test)
            fits[name] = probe
        ref = preds["erm"]
        spread = float(np.linalg.norm(ref - ref.mean(axis=0)))
        train_err = group_errors(y_train, fits["erm"].predict(F_train), grouped.groups_train,
                                 data.task)["average_error"]
        entry = {"erm_train_error": train_err}
        for name in PROBES:
            errors = group_errors(y_test, fits[name].predict(F_test), grouped.groups_test,
                                  data.task)
            gap = float(np.linalg.norm(preds[name] - ref)) / spread if spread > 0 else None
            entry[name] = {"average": errors["average_error"],
                           "worst": errors["worst_group_error"], "gap": gap,
                           "converged": fits[name].converged_}
        out["probes"][f"{lam:g}"] = entry
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


CELL_FN = f"{__name__}:grw_cell"


@dataclass(frozen=True)
class GrwSettings:
    """Dataset and group column, widths, seeds, rows, epochs and the probes' penalties."""

    dataset: str = "abalone"
    group: str = "sex"
    widths: tuple[int, ...] = (8, 32, 128, 512)
    seeds: tuple[int, ...] = (0, 1)
    max_rows: int = 1000
    epochs: int = 100
    l2s: tuple[float, ...] = (1e-3, 1e-6)

    @classmethod
    def quick(cls, **overrides) -> GrwSettings:
        """Two narrow widths, one seed, 400 rows, 10 epochs (CI profile)."""
        return cls(**{"widths": (4, 16), "seeds": (0,), "max_rows": 400, "epochs": 10,
                      **overrides})

    def __post_init__(self):
        if not self.widths or any(isinstance(w, bool) or not isinstance(w, int) or not
                                  1 <= w <= 512 for w in self.widths):
            raise ParameterError(f"widths must be integers in [1, 512], got {self.widths!r}")

    def protocol(self) -> dict:
        return {"study": "grw", "dataset": self.dataset, "group": self.group,
                "max_rows": self.max_rows, "epochs": self.epochs, "l2s": list(self.l2s)}

    def cells(self) -> list[Cell]:
        return [Cell(f"width={w}/seed={s}", CELL_FN,
                     {"dataset": self.dataset, "group": self.group, "width": w, "seed": s,
                      "max_rows": self.max_rows, "epochs": self.epochs, "l2s": list(self.l2s)})
                for w in self.widths for s in self.seeds]


def summarize(records, settings=None, run=None) -> dict:
    """Per (λ, width, probe): the median over seeds of the test errors and of the gap."""
    by: dict[tuple, list] = {}
    meta: dict[int, dict] = {}
    ok, failed = partition_records(records)
    for rec in ok:
        res = rec["result"]
        meta.setdefault(res["width"], {"features": res["features"], "n_train": res["n_train"],
                                       "rank": []})["rank"].append(res["rank"])
        for lam, entry in res["probes"].items():
            by.setdefault((lam, res["width"], "_train"), []).append(entry["erm_train_error"])
            for name in PROBES:
                by.setdefault((lam, res["width"], name), []).append(entry[name])
    rows = []
    for (lam, width, name), values in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if name == "_train":
            continue
        gaps = [v["gap"] for v in values if v["gap"] is not None]
        rows.append({"l2": lam, "width": width, "probe": name, "seeds": len(values),
                     "features": meta[width]["features"], "n_train": meta[width]["n_train"],
                     "rank": int(np.median(meta[width]["rank"])),
                     "erm_train_error": float(np.median(by[(lam, width, "_train")])),
                     "average": float(np.median([v["average"] for v in values])),
                     "worst": float(np.median([v["worst"] for v in values])),
                     "gap": float(np.median(gaps)) if gaps else None})
    summary = {"rows": rows, "failed": failed}
    if settings is not None:
        summary["protocol"] = settings.protocol()
    if run is not None:
        summary["run"] = run.counts()
    return summary


def grw_table(summary: dict) -> str:
    """Markdown: per λ, one row per width; each probe's gap to ERM and worst-group error."""
    from ..reports.markdown import fmt, markdown_table

    lines = ["# Reweighted probes against ERM as the encoder grows", ""]
    p = summary.get("protocol")
    if p:
        lines += [f"{p['dataset']}, groups by `{p['group']}`, at most {p['max_rows']} rows, "
                  f"VICReg encoders on knn(k=30) ({p['epochs']} epochs, depth 2, hidden = "
                  f"output width = w); probes on the w raw encoder features. Cells: gap to ERM "
                  f"(‖f − f_ERM‖ / ‖f_ERM − mean‖ on test rows) / worst-group test error; "
                  f"medians over seeds.", ""]
    for lam in sorted({r["l2"] for r in summary["rows"]}, key=float, reverse=True):
        sub = [r for r in summary["rows"] if r["l2"] == lam]
        lines += [f"## λ = {lam}", ""]
        body = []
        for width in sorted({r["width"] for r in sub}):
            at = {r["probe"]: r for r in sub if r["width"] == width}
            first = at["erm"]
            body.append([width, f"{first['features']} (rank {first['rank']})",
                         first["n_train"], fmt(first["erm_train_error"], ".3f"),
                         *[f"{fmt(at[q]['gap'], '.3f')} / {fmt(at[q]['worst'], '.3f')}"
                           for q in PROBES]])
        lines += markdown_table(["width", "features", "n train", "ERM train error", *PROBES],
                                body) + [""]
    for fl in summary["failed"]:
        lines.append(f"- failed: {fl['key']}: {fl['error']}")
    return "\n".join(lines) + "\n"


def write_outputs(summary: dict, out_dir) -> list[Path]:
    """``summary.json``, ``table.md`` and ``grw.png`` (gap to ERM against width)."""
    from ..reports.records import write_summary_and_table
    from ..reports.shift import gap_against_width

    return [*write_summary_and_table(out_dir, summary, grw_table(summary)),
            gap_against_width(summary["rows"], [p for p in PROBES if p != "erm"],
                              Path(out_dir) / "grw.png")]


def run_grw_bench(out_dir, settings: GrwSettings, **runner) -> dict:
    """Run the missing cells on the grid runner, then summarise and write."""
    from ..runner.study import Study, run_study

    study = Study("grw", GrwSettings, summarize, write_outputs,
                  lambda s: [f"grw: {s.dataset} by {s.group}, widths "
                             f"{', '.join(map(str, s.widths))}, seeds "
                             f"{', '.join(map(str, s.seeds))}"])
    return run_study(study, settings, out_dir, **runner).summary
