"""``contextures evaluate``: score contexts on a dataset by τ, and by the exact encoder's probe.

For each ``--context`` the command scores the context with the project's one scoring function
(:func:`~contextures.evaluation.scoring.score_context`): the exact top-D₀ spectrum on the pretrain
split, τ, the predicted dimension d̂ = argmin_d τ_d, the abstention flag and the decay rate λ,
and, when the data has a target, the ridge probe on the resolved components (the stable
extension to the downstream-train and test rows). The table ranks the contexts by τ (lower is
better); abstentions (τ close to β + 1) are listed last and marked. Its columns are named as the
JSON record's fields: ``d_hat`` (τ's dimension), ``n_resolved``, ``err_at_d_val`` and ``d_val``
(the label-honest reading: d chosen by cross-validation on downstream-train rows), ``err`` and ``d_star`` (min over d of
the test error, the paper's reading), ``kappa`` (the context complexity κ = √max_j k(x_j, x_j)
over the pretrain rows, :mod:`~contextures.evaluation.complexity`). Errors are the MSE of the
standardised target (one-hot MSE for classification). ``--json PATH`` writes ``{"results": [record, ...], "dataset", "split_seed"}``
with :meth:`~contextures.evaluation.scoring.ContextScore.record` for each context; a context that
fails is recorded as ``{"context", "failed": message}`` and the others go on; the command then
ends with the first failure's message and exit code.

Large tables: ``--max-fit N`` fits each context on a seeded subsample of N pretrain rows
(``--fit-seed``; :func:`~contextures.datasets.splits.fit_rows`, as the main job does) and
extends it stably to the downstream rows, which ``Contexture.transform`` computes in row blocks
of bounded memory. A Parquet table is never read whole with ``--stream`` (automatic when it is
over the memory budget and ``--max-fit`` is given): the fitting sample is read alone and the
downstream rows are streamed from the file to the probe (:mod:`~contextures.datasets.streamed`).
Each context's solve is estimated before it starts and refused above ``--max-time`` (default 1 h;
exit code 11, with the estimate). Progress goes to stderr: on large data (:data:`LARGE_ROWS`) a
line as each context starts and one as it ends (its time and τ), on small data the end line of a
context that took over 2 s, and the long steps' own lines (neighbour search, Krylov cycles, the
probe of many downstream rows); none with ``--quiet``. Notes go to stderr too: a lowered D₀, the
subsample, and the solver notes that say the result is not what was asked (:data:`SHOWN_NOTES`:
approximate neighbour lists, or exact ones because an approximate search was asked on fewer
than 5 000 rows).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import typer

from ..contexts.base import make_context
from ..evaluation.contexts import ContextEvaluation, effective_d0, evaluate_context
from ..exceptions import ContexturesError
from ..validation import check_int, check_positive
from . import options
from ._output import json_stdout, write_json
from .app import app

LARGE_ROWS = 20_000
"""From this many rows (fitting plus downstream) each context's start and end are announced on
stderr; on smaller data only a context that took over 2 s gets its line."""
SHOWN_NOTES = ("neighbour", "approximate", "did not reach")
"""The solver notes printed: those that say the result is not what was asked (approximate or
exact-instead-of-approximate neighbour lists, an eigensolver short of its tolerance)."""


def _fmt(value, spec: str = ".4g") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "nan"
    return format(value, spec)


def ranking_table(results: list[ContextEvaluation], task: str | None) -> list[str]:
    """Lines of the terminal table: ranked by τ, abstentions last and marked; the column names
    are the JSON record's."""
    ranked = sorted((r for r in results if not r.tau_result.abstain),
                    key=lambda r: r.tau_result.tau)
    abstained = sorted((r for r in results if r.tau_result.abstain),
                       key=lambda r: r.tau_result.tau)
    metric = "one-hot MSE" if task == "classification" else "MSE, std. target"
    header = ("rank", "context", "tau", "d_hat", "decay_rate", "kappa", "n_resolved",
              f"err_at_d_val ({metric})", "d_val", "err", "d_star", "")
    rows = [header]
    for i, r in enumerate(ranked + abstained, start=1):
        rank = str(i) if not r.tau_result.abstain else "-"
        extra = ""
        if r.accuracy_at_d_val is not None:
            extra = f"acc {r.accuracy_at_d_val:.3f}"
        mark = "abstain" if r.tau_result.abstain else ""
        rows.append((rank, r.context, _fmt(r.tau_result.tau), str(r.tau_result.d),
                     _fmt(r.decay_rate),
                     _fmt(None if r.complexity is None else r.complexity.kappa),
                     str(r.n_resolved), _fmt(r.err_at_d_val),
                     _fmt(r.d_val, "d"), _fmt(r.err), _fmt(r.d_star, "d"),
                     " ".join(x for x in (extra, mark) if x)))
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    left = {1, len(header) - 1}
    return ["  ".join(cell.ljust(widths[c]) if c in left else cell.rjust(widths[c])
                      for c, cell in enumerate(row)).rstrip() for row in rows]


@app.command("evaluate")
@json_stdout
def evaluate(
    data: str = options.data(),
    context: list[str] = options.contexts(...),
    d0: int = options.d0(512, help="Components fitted and τ's cut-off D₀ (capped at "
                                   "n_pretrain − 2).", low=None),
    beta: float = typer.Option(1.0, "--beta", help="τ's β (> 0)."),
    split_seed: int = options.split_seed(),
    json_path: Path | None = typer.Option(None, "--json", help="Write the results as JSON here (- for stdout)."),
    probe: bool | None = typer.Option(None, "--probe/--no-probe",
                                      help="Run the ridge probe (default: when the data has a "
                                           "target; --probe without a target is an error)."),
    max_fit: int | None = typer.Option(None, "--max-fit", min=4,
                                       help="Fit each context on a seeded subsample of at most "
                                            "this many pretrain rows and extend it to the rest "
                                            "(default: all pretrain rows)."),
    fit_seed: int = typer.Option(0, "--fit-seed", help="Seed of the --max-fit subsample."),
    stream: bool = typer.Option(False, "--stream",
                                help="Read a Parquet table by row groups, never whole: fit on "
                                     "the --max-fit sample and stream the downstream rows "
                                     "(automatic for a Parquet file over the memory budget "
                                     "when --max-fit is given)."),
    max_time: str = options.max_time("a context whose solve is"),
    quiet: bool = options.QUIET,
) -> None:
    """Score contexts by τ (spectrum only) and, with a target, by the exact encoder's probe error."""
    from .. import _progress
    from .._progress import reporting, say
    from .._timeguard import format_seconds, parse_duration, time_limit
    from ..datasets import prepare
    from ..datasets.splits import fit_rows
    from ..exceptions import DataError

    beta = check_positive(beta, "beta")
    check_int(d0, "d0", low=2)
    limit = parse_duration(max_time)
    for spec in context:  # every spec checked before any work
        make_context(spec)
    if stream and max_fit is None:
        raise DataError("--stream fits the contexts on a sample of the pretrain rows: give its "
                        "size with --max-fit N")
    with reporting(not quiet):
        prepared = prepare(data, split_seed=split_seed, stream=True if stream else None,
                           n_fit=max_fit, fit_seed=fit_seed)
    if probe and prepared.y_train is None:
        raise DataError(f"--probe needs a target, and dataset {data!r} has none")
    n_pre = prepared.n_pretrain
    X_fit = None
    if prepared.streamed:
        typer.echo(f"note: {data} is {prepared.stream_note()}", err=True)
    elif max_fit is not None and max_fit < n_pre:
        X_fit = np.ascontiguousarray(prepared.X_pre[fit_rows(n_pre, max_fit, fit_seed)])
        typer.echo(f"note: contexts fitted on a seeded subsample of {max_fit} of the {n_pre} "
                   f"pretrain rows (--max-fit, fit seed {fit_seed}) and extended to the other "
                   "rows", err=True)
    n_fit = prepared.X_pre.shape[0] if X_fit is None else X_fit.shape[0]
    d_eff, note = effective_d0(d0, n_fit)
    if note:
        typer.echo(f"note: {note}", err=True)
    results: list[ContextEvaluation] = []
    failed: list[dict] = []
    first_error: ContexturesError | None = None
    total = len(context)
    large = n_fit + prepared.X_train.shape[0] + prepared.X_test.shape[0] >= LARGE_ROWS
    with reporting(not quiet):
        for i, ctx in enumerate(context, start=1):
            if large:
                say(f"context {i}/{total}: {ctx}: fitting on {n_fit} rows, D0 = {d_eff}")
            start = time.perf_counter()
            try:
                with time_limit(limit, components=d_eff, solver="auto"):
                    result = evaluate_context(ctx, prepared, d0=d_eff, beta=beta, probe=probe,
                                              X_fit=X_fit)
            except ContexturesError as exc:   # recorded, and the other contexts go on
                failed.append({"context": ctx, "failed": str(exc)})
                first_error = first_error or exc
                continue
            results.append(result)
            for line in result.notes:
                if any(word in line for word in SHOWN_NOTES):
                    typer.echo(f"note: {ctx}: {line}", err=True)
            took = time.perf_counter() - start
            if large or took >= _progress.DELAY:
                say(f"context {i}/{total}: {ctx}: done in {format_seconds(took)} (tau "
                    f"{_fmt(result.tau_result.tau)}, {result.n_resolved} components resolved)")
    sizes = f"{n_pre}/{prepared.X_train.shape[0]}/{prepared.X_test.shape[0]}"
    fitted = f", fitted on {n_fit}" if n_fit < n_pre else ""
    typer.echo(f"dataset {data} (pretrain/train/test rows {sizes}{fitted}, task "
               f"{prepared.task or 'none'}), D0 = {d_eff}, beta = {beta:g}, split seed "
               f"{split_seed}")
    for line in ranking_table(results, prepared.task):
        typer.echo(line)
    threshold = (1 - results[0].tau_result.tol) * (beta + 1) if results else None
    if any(r.tau_result.abstain for r in results):
        typer.echo(f"abstain: tau >= {threshold:.4g} (within {results[0].tau_result.tol:.0%} of "
                   f"beta + 1 or above): extreme association, not ranked")
    tracking = [(r.context, r.curve_tracking) for r in results if r.curve_tracking is not None]
    if tracking:
        typer.echo("does τ_d track the probe error err_d over d? Spearman(τ_d, err_d), d = 1.."
                   f"{d_eff - 1}:")
        for ctx, rho in tracking:
            verdict = ("tracks it" if rho >= 0.5 else "weakly" if rho >= 0.2
                       else "does not track it")
            typer.echo(f"  {ctx}: {rho:+.3f} ({verdict})")
    if json_path is not None:
        payload = {"results": [{**r.record(), "seconds": {k: round(v, 3) for k, v in
                                                          r.seconds.items()}}
                               for r in results] + failed, "dataset": data,
                   "split_seed": int(split_seed)}
        if max_fit is not None:
            payload.update(n_fit=int(n_fit), max_fit=int(max_fit), fit_seed=int(fit_seed))
        if prepared.streamed:
            payload["streamed"] = prepared.metadata["streamed"]
        write_json(json_path, payload)
    if first_error is not None:   # the others are reported; the command still fails
        raise first_error
