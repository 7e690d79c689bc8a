"""``contextures run``: the main job — which context should I pretrain with on my data, and why?"""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .app import app


@app.command("run")
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
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of the fitting subsample."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Parallel workers (each with one BLAS thread when > 1)."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Discard earlier results in OUT instead of resuming."),
    quiet: bool = options.QUIET,
) -> None:
    """Rank candidate contexts by τ, validate with the exact encoder's probe, write a report."""
    from ..experiments.main_job import RunSettings, run_main_job

    settings = RunSettings(data=data, d0=d0, beta=beta, split_seed=seed, fit_seed=seed,
                           max_fit=max_fit, max_rows=max_rows)
    result = run_main_job(out, settings, context or None, workers=workers,
                          resume="overwrite" if overwrite else "auto", progress=not quiet,
                          echo=typer.echo)
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
