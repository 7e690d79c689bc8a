"""``contextures bench estimation``: error of the extracted singular-value estimates against the
number of sample points m ([ICML] App. D; docs/theory.md §12), beside the paper's figures."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app, settings_from


@bench_app.command("estimation")
@options.grid_options()
def estimation(
    data: list[str] = options.datasets(help="Dataset spec (repeat for several; default abalone)."),
    context: str = options.context("knn(k=60)"),
    width: int = typer.Option(None, "--width", min=1,
                              help="Hidden width of the 2-layer Tanh net (default 2048; the "
                                   "paper used 20000)."),
    output_dim: int = typer.Option(None, "--output-dim", min=1,
                                   help="Network outputs d₁ (default 512)."),
    top: int = typer.Option(None, "--top", min=1,
                            help="Eigenvalues compared, r (default 256)."),
    sample_sizes: str = typer.Option(None, "--m",
                                     help="Comma-separated sample sizes, 'full' = the pretrain "
                                          "split (default 100,300,600,1000,2000,full)."),
    seeds: int = typer.Option(None, "--seeds", min=1, help="Encoder seeds (default 1)."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Full-batch epochs (default 200)."),
    quick: bool = typer.Option(False, "--quick",
                               help="CI profile: 1000 rows, width 256, d = 64, top 32, "
                                    "m = 20,200,full (well under a minute)."),
    out: Path = typer.Option(Path("results/bench-estimation"), "--out",
                             help="Output directory."),
    *, runner: dict,
) -> None:
    """Mean |λ̂_i − s_i²| over the top r against the sample size m of the extraction."""
    from ..experiments.common import check_dataset_and_context
    from ..experiments.estimation import EstimationSettings, run_estimation_bench

    settings = settings_from(EstimationSettings, quick, datasets=tuple(data) if data else None,
                             context=context, width=width, output_dim=output_dim, n_top=top,
                             sample_sizes=sample_sizes, seeds=seeds, epochs=epochs)
    for dataset in settings.datasets:
        check_dataset_and_context(dataset, settings.split_seed, settings.max_rows,
                                  settings.context)
    run_estimation_bench(out, settings, **runner)
    typer.echo((out / "table.md").read_text())
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'cells.csv'}, {out / 'table.md'} and "
               f"{out / 'estimation.png'}")
