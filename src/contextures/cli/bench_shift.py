"""``contextures bench shift`` and ``bench grw``: robust probes under a shift, over a suite.

    contextures bench shift --suite offline --out results/bench-shift
    contextures bench grw --out results/bench-grw

``shift``: one grid cell per (dataset, pretraining population) on the offline datasets with a
natural group column (:data:`contextures.experiments.shift.GROUP_COLUMNS`), pretrained on all
groups and on the majority group only; resumable; ``table.md``, ``summary.json`` and
``shift.png``. ``--quick``: two datasets at 600 rows (about a minute).

``grw``: reweighted probes against ERM on the features of neural encoders of growing width
(:mod:`contextures.experiments.grw`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app

GRID = ("workers", "backend", "scheduler", "overwrite", "retry_failed", "quiet")


@bench_app.command("shift")
@options.grid_options(*GRID)
def shift(
    suite: str = typer.Option("offline", "--suite", help="Dataset suite (offline: the members "
                                                         "with a known group column)."),
    data: list[str] = typer.Option(None, "--data", "-D", help="Suite names instead (repeat)."),
    quick: bool = typer.Option(False, "--quick", help="Two small datasets (CI profile)."),
    out: Path = typer.Option(Path("results/bench-shift"), "--out", help="Output directory."),
    context: str | None = typer.Option(None, "--context", "-c",
                                       help="Context spec (default knn(k=30))."),
    n_components: int | None = typer.Option(None, "-d", "--components", min=2,
                                            help="d₀ (default 64; quick 16)."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=50,
                                        help="Rows per dataset at most (default 4000)."),
    *, runner: dict,
) -> None:
    """Worst-group and average test error of ERM, reweighting, CVaR, χ² and DORO probes."""
    from ..contexts import make_context
    from ..exceptions import ParameterError
    from ..experiments.shift import GROUP_COLUMNS, ShiftSettings, run_shift_bench

    if suite != "offline":
        raise ParameterError(f"bench shift knows group columns for the offline suite only, got "
                             f"--suite {suite!r}")
    if context is not None:
        make_context(context)
    given = {"context": context, "n_components": n_components, "max_rows": max_rows}
    if data:
        given["datasets"] = tuple(data)
    values = {k: v for k, v in given.items() if v is not None}
    settings = ShiftSettings.quick(**values) if quick else ShiftSettings(**values)
    summary = run_shift_bench(out, settings, **runner, threads_per_worker=1)
    typer.echo((out / "table.md").read_text())
    typer.echo("group columns: " + ", ".join(f"{d} → {GROUP_COLUMNS[d][0]}"
                                              for d in settings.datasets))
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'shift.png'}")
    if summary["failed"] and not summary["rows"]:
        raise typer.Exit(3)


@bench_app.command("grw")
@options.grid_options(*GRID)
def grw(
    quick: bool = typer.Option(False, "--quick", help="Two narrow widths, 10 epochs (CI)."),
    out: Path = typer.Option(Path("results/bench-grw"), "--out", help="Output directory."),
    data: str | None = typer.Option(None, "--data", "-D", help="Dataset spec (default abalone)."),
    group: str | None = typer.Option(None, "--group", "-g", help="Group column (default sex)."),
    widths: str | None = typer.Option(None, "--widths", help="Comma-separated encoder widths "
                                                             "(default 8,32,128,512)."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=50,
                                        help="Rows of the dataset (default 1000: 150 "
                                             "downstream-train rows)."),
    *, runner: dict,
) -> None:
    """Reweighting and DRO probes against ERM on encoders of growing width."""
    from ..exceptions import ParameterError
    from ..experiments.grw import GrwSettings, run_grw_bench

    given = {"dataset": data, "group": group, "max_rows": max_rows}
    if widths is not None:
        try:
            given["widths"] = tuple(int(w) for w in widths.split(",") if w.strip())
        except ValueError:
            raise ParameterError(f"--widths must be comma-separated integers, got "
                                 f"{widths!r}") from None
    values = {k: v for k, v in given.items() if v is not None}
    settings = GrwSettings.quick(**values) if quick else GrwSettings(**values)
    run_grw_bench(out, settings, **runner, threads_per_worker=1)
    typer.echo((out / "table.md").read_text())
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'grw.png'}")
