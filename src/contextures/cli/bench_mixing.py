"""``contextures bench mixing``: single contexts vs their mixtures vs raw-feature baselines."""

from __future__ import annotations

from pathlib import Path

import typer

from .bench import (
    BACKEND,
    OVERWRITE,
    SCHEDULER,
    WORKERS,
    bench_app,
    runner_options,
    settings_from,
)


@bench_app.command("mixing")
def mixing(
    suite: str = typer.Option("offline", "--suite", help="Dataset suite (labelled members)."),
    data: list[str] = typer.Option(None, "--data", help="Datasets instead of a suite (repeat)."),
    quick: bool = typer.Option(False, "--quick", help="Two small datasets, small encoders."),
    out: Path = typer.Option(Path("results/bench-mixing"), "--out", help="Output directory."),
    workers: int = WORKERS,
    backend: str = BACKEND,
    scheduler: str = SCHEDULER,
    overwrite: bool = OVERWRITE,
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
    result = run_study(MIXING, settings, out, threads_per_worker=1 if workers > 1 else None,
                       **runner_options(workers=workers, backend=backend, scheduler=scheduler,
                                        overwrite=overwrite))
    typer.echo((out / "table.md").read_text())
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'mixing.png'}"
               f" ({result.summary['n_datasets']} datasets)")
