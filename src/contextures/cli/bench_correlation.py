"""``contextures bench correlation``: does τ predict the exact encoder's error ([ICML] §5.3; docs/theory.md §12)?"""

from __future__ import annotations

from pathlib import Path

import typer

from .bench import (
    BACKEND,
    OVERWRITE,
    QUIET,
    SCHEDULER,
    WORKERS,
    bench_app,
    runner_options,
    settings_from,
)


@bench_app.command("correlation")
def correlation(
    suite: str = typer.Option(None, "--suite", help="offline or paper28 (default: offline)."),
    data: list[str] = typer.Option(None, "--data", help="Datasets instead of a suite (repeat)."),
    contexts: int = typer.Option(None, "--contexts", min=1,
                                 help="Strengths per family (default 35: 4 × 35 = 140 contexts "
                                      "per dataset; 4 with --quick)."),
    quick: bool = typer.Option(False, "--quick",
                               help="CI profile: 3 datasets, 4 strengths per family, n_fit = 300, "
                                    "d₀ = 64."),
    n_fit: int = typer.Option(None, "--n-fit", min=8, help="Fit on at most this many pretrain "
                                                           "rows (default 1500; 300 quick)."),
    d0: int = typer.Option(None, "--d0", min=2, help="Exact encoder size (default 512)."),
    out: Path = typer.Option(Path("results/bench-correlation"), "--out",
                             help="Output directory."),
    workers: int = WORKERS,
    backend: str = BACKEND,
    scheduler: str = SCHEDULER,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """τ against err_{d*} per dataset (Pearson, distance correlation) beside the paper's Table 1."""
    from ..experiments.correlation import CorrelationSettings, resolve_datasets, run_correlation

    datasets = resolve_datasets(suite=suite, data=data or (), quick=quick)
    settings = settings_from(CorrelationSettings, quick, strengths=contexts, n_fit=n_fit, d0=d0)
    result = run_correlation(datasets, out, settings, **runner_options(
        workers=workers, backend=backend, scheduler=scheduler, overwrite=overwrite, quiet=quiet))
    typer.echo((out / "table.md").read_text())
    s = result.summary
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'cells.csv'}, {out / 'table.md'} and "
               f"{out / 'figures'}/ ({len(s['datasets'])} datasets)")
