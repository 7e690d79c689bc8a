"""``contextures spectrum``: the exact singular values of a context on a dataset.

    contextures spectrum --data abalone --context "knn(k=30)" -d 16 --json spectrum.json

Loads the dataset through :mod:`contextures.datasets` (the pretrain split by default, every row
with ``--all-rows``), fits the context, solves for s_1..s_d with the spectral engine and prints a
table of s_i and s_i². ``--json PATH`` writes exactly (``--json -``: to stdout, and the table to
stderr)::

    {"singular_values": [s_1, ..., s_d], "n_samples": n, "context": "<canonical spec>",
     "solver": "<solver that ran>", "seconds": t, "max_residual": r}

where t is the wall time of building the operator (neighbour search included) and solving,
without start-up or data loading.

Long work is visible and guarded: progress lines on stderr (the neighbour search, matrix-free
passes over a kernel, Krylov-Schur cycles; none with ``--quiet``), an estimate of the solve's time
before it starts, and a refusal (exit code 11) when that estimate exceeds ``--max-time`` (default
1h; ``--max-time 0`` removes the limit). See :mod:`contextures._timeguard`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from .._io import check_output_path
from . import options
from ._output import echo, json_to_stdout, write_json
from .app import app


def load_rows(data: str, *, all_rows: bool, split_seed: int):
    """(X, y, description) of a dataset spec: the pretrain part, or every row."""
    import warnings

    from ..datasets import load_dataset, prepare
    from ..datasets.preprocess import encode_target, fit_preprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if all_rows:
            dataset = load_dataset(data)
            _, (X,) = fit_preprocess(dataset.X_raw)
            y = None
            if dataset.y_raw is not None:
                y, _ = encode_target(dataset.y_raw, dataset.task)
            return X, y, f"all {X.shape[0]} rows"
        prepared = prepare(data, split_seed=split_seed)
        return prepared.X_pre, prepared.y_pre, (f"pretrain split ({prepared.X_pre.shape[0]} "
                                                f"rows, split seed {split_seed})")


@app.command("spectrum")
def spectrum(
    data: str = options.data(),
    context: str = options.context(..., help="Context spec, e.g. knn(k=30)."),
    d: int = options.components(..., help="Number of singular values s_1..s_d."),
    solver: str = typer.Option("auto", "--solver", help="auto, dense, svd_thin, krylov, "
                               "matrix_free, arpack, nystrom(m=...), subsample(m=...)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here "
                                                               "(- for stdout)."),
    all_rows: bool = typer.Option(False, "--all-rows", help="Use every row, not the pretrain "
                                                            "split."),
    split_seed: int = options.split_seed(help="Seed of the pretrain split."),
    memory_budget: str | None = typer.Option(None, "--memory-budget",
                                             help="Memory the solve may use, e.g. 8G "
                                                  "(default: half the available memory)."),
    tol: float | None = typer.Option(None, "--tol", help="Residual tolerance of the iterative "
                                                         "solvers (default 1e-5)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the solver's random start."),
    max_time: str = options.max_time("a solve"),
    quiet: bool = options.QUIET,
) -> None:
    """Exact singular values s_1..s_d of a context on a dataset (s_0 = 1 excluded)."""
    from .._memory import budget_scope, resolve_budget
    from ..exceptions import ParameterError
    from ..spectral import DEFAULT_TOL, Contexture, parse_solver

    if d < 1:
        raise ParameterError(f"-d must be a positive integer, got {d}")
    from .._progress import reporting, say
    from .._timeguard import parse_duration, time_limit

    parse_solver(solver)
    if json_path is not None and not json_to_stdout(json_path):
        check_output_path(json_path)
    limit = parse_duration(max_time)
    budget = resolve_budget(memory_budget)
    from ..contexts import make_context

    ctx = make_context(context)
    with reporting(not quiet):
        X, y, rows = load_rows(data, all_rows=all_rows, split_seed=split_seed)
        if X.shape[0] >= 20_000:
            say(f"{data}: {rows}, {X.shape[1]} features; fitting {ctx.spec()} and solving for "
                f"d = {d}")
        model = Contexture(ctx, n_components=d, solver=solver, random_state=seed,
                           memory_budget=budget, tol=DEFAULT_TOL if tol is None else tol)
        with time_limit(limit, components=d, solver=solver), budget_scope(budget):
            model.fit(X, y)
    s = model.singular_values_
    result = model.result_   # None for concat(...): one solve per component
    solver_name = model.solver_
    max_residual = float(np.max(model.residuals_)) if np.size(model.residuals_) else 0.0
    notes = model.solver_notes_ if result is None else result.notes
    echo(f"{data}: {rows}, {X.shape[1]} features; context {model.context_.spec()}", json_path)
    echo(f"solver {solver_name}: {model.fit_time_:.2f} s (build + solve), "
         f"max residual {max_residual:.2e}" + ("" if model.converged_ else " (NOT converged)"),
         json_path)
    for note in notes:
        echo(f"  note: {note}", json_path)
    echo(f"{'i':>5}  {'s_i':>12}  {'s_i^2':>12}", json_path)
    for i, value in enumerate(s, start=1):
        echo(f"{i:>5}  {value:12.8f}  {value * value:12.8f}", json_path)
    if json_path is not None:
        payload = {
            "singular_values": [float(v) for v in s],
            "n_samples": int(X.shape[0]),
            "context": model.context_.spec(),
            "solver": solver_name,
            "seconds": float(model.fit_time_),
            "max_residual": max_residual,
        }
        write_json(json_path, payload)
