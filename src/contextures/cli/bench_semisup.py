"""``contextures bench semisup``: STKR against the semi-supervised and supervised baselines.

    CONTEXTURES_DATA=... contextures bench semisup --suite offline --out results/bench-semisup

One grid cell per (dataset, labelled fraction, seed) (:mod:`contextures.experiments.semisup`),
resumable; ``table.md``, ``summary.json`` and ``semisup.png`` in the output directory. Each
dataset is capped to ``--max-rows`` rows (default 4000, seeded) so that the full suite runs on a
small machine. ``--quick``: three small datasets at 5 % labelled, one seed, 600 rows (under a
minute).
"""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app


def _numbers(text: str | None, kind, what: str):
    if text is None:
        return None
    from ..exceptions import ParameterError

    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ParameterError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ParameterError(f"{what}: none given")
    return values


@bench_app.command("semisup")
@options.grid_options("workers", "backend", "scheduler", "overwrite", "retry_failed", "quiet")
def semisup(
    suite: str = typer.Option("offline", "--suite", help="Dataset suite (labelled members)."),
    data: list[str] = options.datasets(),
    quick: bool = typer.Option(False, "--quick", help="Three small datasets, 5 %, one seed."),
    out: Path = typer.Option(Path("results/bench-semisup"), "--out", help="Output directory."),
    fractions: str | None = typer.Option(None, "--fractions",
                                         help="Labelled fractions (default 0.01,0.05,0.2)."),
    seeds: str | None = typer.Option(None, "--seeds", help="Seeds (default 0,1,2)."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=50,
                                        help="Rows per dataset at most (default 4000)."),
    context: str = options.context("knn(k=10)", help="STKR's context."),
    transform: str = typer.Option("inverse_laplacian", "--transform", "-t",
                                  help="STKR's transform (a parameter left out: chosen by CV)."),
    *, runner: dict,
) -> None:
    """Test error of STKR and seven baselines at a few labelled fractions, over a suite."""
    from ..contexts import make_context
    from ..datasets import suite as get_suite
    from ..exceptions import ParameterError
    from ..experiments.semisup import run_semisup_bench
    from ..semisupervised import parse_transform

    make_context(context)
    parse_transform(transform)
    fracs = _numbers(fractions, float, "--fractions")
    if fracs is not None and not all(0 < f < 1 for f in fracs):
        raise ParameterError(f"--fractions must lie in (0, 1), got {fractions!r}")
    seed_list = _numbers(seeds, int, "--seeds")
    datasets = list(data) if data else None
    if datasets is None and not quick:
        get_suite(suite)
    summary = run_semisup_bench(out, datasets=datasets, suite_name=suite, quick=quick,
                                fractions=fracs, seeds=seed_list, max_rows=max_rows,
                                context=context, transform=transform, **runner)
    typer.echo((out / "table.md").read_text())
    n = len({r["dataset"] for r in summary["rows"]})
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'semisup.png'} "
               f"({n} datasets)")
