"""``contextures bench correlation``: does τ predict the exact encoder's error ([ICML] §5.3; docs/theory.md §12)?"""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app, settings_from


@bench_app.command("correlation")
@options.grid_options("workers", "backend", "scheduler", "overwrite", "quiet")
def correlation(
    suite: str = typer.Option(None, "--suite", help="offline or paper28 (default: offline)."),
    data: list[str] = options.datasets(),
    contexts: int = typer.Option(None, "--contexts", min=1,
                                 help="Strengths per family (default 35: 4 × 35 = 140 contexts "
                                      "per dataset; 4 with --quick)."),
    quick: bool = typer.Option(False, "--quick",
                               help="CI profile: 3 datasets, 4 strengths per family, n_fit = 300, "
                                    "d₀ = 64."),
    n_fit: int = typer.Option(None, "--n-fit", min=8, help="Fit on at most this many pretrain "
                                                           "rows (default 1500; 300 quick)."),
    d0: int = options.d0(None, help="τ's cut-off D₀, the exact encoder size (default 512)."),
    out: Path = typer.Option(Path("results/bench-correlation"), "--out",
                             help="Output directory."),
    *, runner: dict,
) -> None:
    """τ against err_{d*} per dataset (Pearson, distance correlation) beside the paper's Table 1."""
    from ..experiments.correlation import CORRELATION, CorrelationSettings, resolve_datasets
    from ..runner import run_study

    datasets = resolve_datasets(suite=suite, data=data or (), quick=quick)
    settings = settings_from(CorrelationSettings, quick, strengths=contexts, n_fit=n_fit, d0=d0,
                             datasets=tuple(datasets))
    result = run_study(CORRELATION, settings, out, **runner)
    typer.echo((out / "table.md").read_text())
    s = result.summary.data
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'cells.csv'}, {out / 'table.md'} and "
               f"{out / 'figures'}/ ({len(s['datasets'])} datasets)")
