"""``contextures bench mixing``: single contexts vs their mixtures vs raw-feature baselines."""

from __future__ import annotations

from pathlib import Path

import typer

from .bench import BACKEND, OVERWRITE, SCHEDULER, WORKERS, bench_app, runner_options


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
    from ..datasets import suite as get_suite
    from ..experiments.mixing import run_mixing_bench

    datasets = list(data) if data else None
    if datasets is None and not quick:
        get_suite(suite)  # an unknown suite fails here, with its message
    summary = run_mixing_bench(out, datasets=datasets, suite_name=suite, quick=quick,
                               **runner_options(workers=workers, backend=backend,
                                                scheduler=scheduler, overwrite=overwrite))
    typer.echo((out / "table.md").read_text())
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'mixing.png'}"
               f" ({summary['n_datasets']} datasets)")
