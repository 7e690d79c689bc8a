"""``contextures run``: the context selector — which context should I pretrain with on my data, and why?"""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .app import app


@app.command("run")
@options.grid_options("backend", "scheduler", "overwrite", "quiet")
def run(
    data: str = options.data(),
    context: list[str] = options.contexts(help="Candidate context spec (repeat); default: chosen "
                                           "from a τ scan of KNN and RBF strengths (up to 4 per "
                                           "family where τ ranks), one masked KNN and RBF, and "
                                           "SCARF on mostly categorical data."),
    out: Path = typer.Option(Path("results/run"), "--out", help="Output directory."),
    d0: int = options.d0(512),
    max_fit: int = typer.Option(1500, "--max-fit", min=8,
                                help="Fit contexts on at most this many pretrain rows (a seeded "
                                     "subsample beyond, extended to the rest)."),
    max_rows: int = options.max_rows(low=20),
    beta: float = typer.Option(1.0, "--beta", help="τ's β."),
    seed: int = typer.Option(0, "--seed", min=0,
                             help="Seed of the split and of the fitting subsample."),
    stream: bool = typer.Option(False, "--stream",
                                help="Read a Parquet table by row groups, never whole: fit on "
                                     "the --max-fit sample and stream the downstream rows to the "
                                     "probes (automatic for a Parquet file over the memory "
                                     "budget)."),
    max_time: str = options.max_time("a run"),
    workers: int = typer.Option(0, "--workers", min=0,
                                help="Cells run at once, one thread each (default 0: one per "
                                     "core this process may use). The results do not depend on "
                                     "it."),
    *, runner: dict,
) -> None:
    """Rank candidate contexts by τ, validate with the exact encoder's probe, write a report."""
    from .._timeguard import parse_duration
    from ..experiments.selector import SelectorSettings, run_selector

    limit = parse_duration(max_time)
    settings = SelectorSettings(data=data, d0=d0, beta=beta, split_seed=seed, fit_seed=seed,
                                max_fit=max_fit, max_rows=max_rows, contexts=tuple(context or ()),
                                stream=stream)
    from .._resources import available_cores

    runner.setdefault("echo", typer.echo)
    runner["workers"] = workers or available_cores()
    result = run_selector(out, settings, max_time=limit or None, **runner)
    typer.echo("")
    for line in result.table:
        typer.echo(line)
    rec = result.summary["recommendation"]
    typer.echo("")
    if rec.get("context"):
        typer.echo(f"recommended: {rec['context']} — {rec['why']}")
    else:
        typer.echo(f"no recommendation: {rec['why']}")
    corr = result.summary["correlation"]
    if corr.get("pearson") is not None:
        typer.echo(f"τ vs probe error over {corr['n']} ranked candidates: Pearson "
                   f"{corr['pearson']:.3f}, Spearman {corr['spearman']:.3f}")
    typer.echo(f"wrote {out / 'report.md'}, {out / 'results.csv'}, {out / 'summary.json'} "
               f"and {len(result.written) - 3} figures")
