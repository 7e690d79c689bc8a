"""``contextures bench alignment``: width × depth × seeds of VICReg encoders against the exact
contexture ([ICML] §4.2; docs/theory.md §12): CCA R² and mutual-KNN heatmaps, and whether larger networks stop helping."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app, settings_from


@bench_app.command("alignment")
@options.grid_options()
def alignment(
    data: str = options.data(),
    context: str = options.context("knn(k=30)"),
    widths: str = typer.Option(None, "--widths",
                               help="Comma-separated widths (default 64,128,256,512,1024,2048)."),
    depths: str = typer.Option(None, "--depths", help="Comma-separated depths (default 2,3,4)."),
    seeds: int = typer.Option(None, "--seeds", min=1,
                              help="Seeds per (width, depth) (default 1; the paper used 15)."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Full-batch epochs (default 200)."),
    n_components: int = options.components(None, help="Exact eigenfunctions compared "
                                                      "(default 128)."),
    output_dim: int = typer.Option(None, "--output-dim", min=1,
                                   help="Network outputs d₁ before extraction (default 512)."),
    quick: bool = typer.Option(False, "--quick",
                               help="CI profile: 1000 rows, d = 16, widths 32,128, depths 2,3, "
                                    "60 epochs (about a minute)."),
    out: Path = typer.Option(Path("results/bench-alignment"), "--out", help="Output directory."),
    *, runner: dict,
) -> None:
    """Train MLP encoders over width × depth × seeds and compare them with the exact contexture."""
    from ..experiments.alignment import AlignmentSettings, run_alignment_bench

    settings = settings_from(AlignmentSettings, quick, dataset=data, context=context,
                             widths=widths, depths=depths, seeds=seeds, epochs=epochs,
                             n_components=n_components, output_dim=output_dim)
    check_inputs(settings.dataset, settings.split_seed, settings.max_rows, settings.context)
    run_alignment_bench(out, settings, **runner)
    typer.echo((out / "report.md").read_text())
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'cells.csv'}, {out / 'report.md'}, "
               f"{out / 'cca_r2.png'} and {out / 'mutual_knn.png'}")


def check_inputs(dataset: str, split_seed: int, max_rows: int | None, context: str) -> None:
    """Fail before the grid starts on a dataset that does not load or a context that does not
    parse (see :func:`contextures.experiments.common.check_dataset_and_context`)."""
    from ..experiments.common import check_dataset_and_context

    check_dataset_and_context(dataset, split_seed, max_rows, context)
