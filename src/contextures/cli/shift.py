"""``contextures shift``: how a pretrained contexture and robust probes fare across groups.

    contextures shift --data abalone --context "knn(k=30)" --group sex --pretrain-groups M \\
        --json shift.json

The group column leaves the features; the contexture is fitted on the pretrain rows of the
pretraining groups (default: all; ``majority``: the largest group), the shift diagnostic compares
it with the downstream rows of every group, and each probe (``--probe``, repeatable; default all
five) is fitted on the downstream-train rows and scored per group on the test rows
(:mod:`contextures.experiments.shift`). ``--json PATH`` writes exactly::

    {"groups": [names], "diagnostic": {"covariance_eigenvalues": [...], "condition_number": c,
     "principal_angles": [...]}, "probes": {"erm": {"average_error": e, "worst_group_error": w,
     "per_group": {name: e}}, ...}}

for the feature set ``--features`` (``contexture``, default, or ``raw``).
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from .._io import check_output_path
from ._output import echo, json_to_stdout, write_json
from .app import app


@app.command("shift")
def shift(
    data: str = typer.Option(..., "--data", "-D", help="Dataset spec with a target."),
    context: str = typer.Option(..., "--context", "-c", help="Context spec of the contexture."),
    group: str = typer.Option(..., "--group", "-g", help="The group column (removed from the "
                                                         "features)."),
    pretrain_groups: list[str] = typer.Option(None, "--pretrain-groups",
                                              help="Groups whose pretrain rows fit the "
                                                   "contexture (repeat or comma-separate; "
                                                   "'majority': the largest; default all)."),
    probe: list[str] = typer.Option(None, "--probe", "-p",
                                    help="erm, reweight, cvar, chi2 or doro (repeat; default "
                                         "all)."),
    features: str = typer.Option("contexture", "--features",
                                 help="Features of the probes: contexture or raw."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the results as JSON here "
                                                          "('-': to stdout, lines to stderr)."),
    n_components: int = typer.Option(64, "-d", "--components", min=1,
                                     help="d₀, components of the contexture."),
    eps: float | None = typer.Option(None, "--eps", help="DORO's outlier fraction ε in "
                                                         "[0, 0.5) (default 0.1)."),
    alpha: float | None = typer.Option(None, "--alpha", help="CVaR level α in (0, 1] "
                                                             "(default 0.2)."),
    rho: float | None = typer.Option(None, "--rho", help="χ² radius ρ > 0 (default 8)."),
    l2: float | None = typer.Option(None, "--l2", min=0.0, help="Ridge penalty λ of every "
                                                                "probe (default 1e-3)."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=10,
                                        help="Cap the dataset to this many rows (seeded)."),
    max_fit: int = typer.Option(1500, "--max-fit", min=20, help="Rows the contexture is "
                                                                "fitted on at most."),
    seed: int = typer.Option(0, "--seed", help="Split seed and seed of every draw."),
) -> None:
    """Shift diagnostic and per-group test error of ERM and robust probes."""
    from ..contexts import make_context
    from ..datasets.groups import prepare_grouped
    from ..evaluation.robust import check_alpha, check_eps, check_rho
    from ..exceptions import ParameterError
    from ..experiments.shift import FEATURES, PROBES, json_payload, shift_comparison

    if json_path is not None and not json_to_stdout(json_path):
        check_output_path(json_path)
    make_context(context)
    for value, check in ((eps, check_eps), (alpha, check_alpha), (rho, check_rho)):
        if value is not None:
            check(value)
    chosen = list(dict.fromkeys(p.strip() for item in (probe or list(PROBES))
                                for p in item.split(",") if p.strip()))
    unknown = [p for p in chosen if p not in PROBES]
    if unknown or not chosen:
        raise ParameterError(f"unknown probe(s) {', '.join(unknown) or '(none)'}; known: "
                             f"{', '.join(PROBES)}")
    if features not in FEATURES:
        raise ParameterError(f"--features must be one of {', '.join(FEATURES)}, got {features!r}")
    pretrain = None
    if pretrain_groups:
        pretrain = [g.strip() for item in pretrain_groups for g in item.split(",") if g.strip()]
    grouped = prepare_grouped(data, group, split_seed=seed, max_rows=max_rows)
    result = shift_comparison(grouped, context, pretrain_groups=pretrain, probes=chosen,
                              features=[features], n_components=n_components, max_fit=max_fit,
                              alpha=alpha, rho=rho, eps=eps, l2=l2, random_state=seed)

    def say(line: str) -> None:
        echo(line, json_path)

    diag = result["diagnostic"]
    counts = result["counts"]
    say(f"{grouped.data.name}: {result['task']}, group column {group!r}, "
        f"{len(result['groups'])} groups; contexture {result['context']} fitted on "
        f"{result['n_fit']} pretrain rows of {', '.join(result['pretrain_groups'])} "
        f"({result['n_resolved']} of {result['d0']} components resolved)")
    say("rows per group (pretrain/train/test): " + ", ".join(
        f"{g} {c['pretrain']}/{c['train']}/{c['test']}" for g, c in counts.items()))
    lam = diag["covariance_eigenvalues"] or []
    if lam:
        kappa = diag["condition_number"]
        say(f"features on the downstream rows: covariance eigenvalues {min(lam):.3g} to "
            f"{max(lam):.3g}, condition number "
            f"{'inf' if kappa is None else format(kappa, '.3g')}; input variation "
            f"captured {diag['captured_target']:.3f} (on the pretraining rows "
            f"{diag['captured_source']:.3f})")
    angles = diag["principal_angles"] or []
    base = diag["baseline_angles"] or []
    if angles:
        line = (f"principal angles with the spectrum refitted on the downstream rows (degrees, "
                f"on the union of rows): median {math.degrees(_median(angles)):.1f}, max "
                f"{math.degrees(max(angles)):.1f}")
        if base:
            line += (f"; a refit on as many pretraining rows: median "
                     f"{math.degrees(_median(base)):.1f}")
        say(line)
    failed = result["probes"].get(features, {}).get("failed")
    if failed:
        from ..exceptions import DataError

        raise DataError(f"no probe on {features} features: {failed}")
    metric = ("misclassification rate" if result["task"] == "classification"
              else "MSE of the standardised target")
    say(f"test error ({metric}), probes on {features} features:")
    names = result["groups"]
    say(f"{'probe':<10} {'average':>9} {'worst':>9}  " + "  ".join(
        f"{n[:12]:>12}" for n in names))
    payload = json_payload(result, features)
    for name, r in payload["probes"].items():
        say(f"{name:<10} {r['average_error']:>9.4f} {r['worst_group_error']:>9.4f}  "
            + "  ".join(f"{r['per_group'][n]:>12.4f}" for n in names))
    if json_path is not None:
        write_json(json_path, payload)


def _median(values) -> float:
    values = sorted(values)
    k = len(values)
    return (values[(k - 1) // 2] + values[k // 2]) / 2
