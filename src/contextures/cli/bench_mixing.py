"""``contextures bench mixing``: single contexts vs their mixtures vs raw-feature baselines."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app, settings_from


@bench_app.command("mixing")
@options.grid_options("workers", "backend", "scheduler", "overwrite")
def mixing(
    suite: str = typer.Option("offline", "--suite", help="Dataset suite (labelled members)."),
    data: list[str] = options.datasets(),
    quick: bool = typer.Option(False, "--quick", help="Two small datasets, small encoders."),
    out: Path = typer.Option(Path("results/bench-mixing"), "--out", help="Output directory."),
    *, runner: dict,
) -> None:
    """Compare each single context, their mixtures and two baselines by downstream test error."""
    from ..experiments.common import labelled_suite
    from ..experiments.mixing import MIXING, MixingSettings
    from ..runner import run_study

    if data:
        settings = settings_from(MixingSettings, quick, datasets=tuple(data))
    elif quick:
        settings = MixingSettings.quick()
    else:
        settings = MixingSettings(datasets=tuple(labelled_suite(suite)))  # fails on a bad suite
    result = run_study(MIXING, settings, out, threads_per_worker=1 if runner["workers"] > 1 else None,
                       **runner)
    typer.echo((out / "table.md").read_text())
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'mixing.png'}"
               f" ({result.summary['n_datasets']} datasets)")
