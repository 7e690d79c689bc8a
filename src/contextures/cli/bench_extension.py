"""``contextures bench extension``: the stable out-of-sample extension on held-out rows."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .bench import bench_app


@bench_app.command("extension")
def extension(
    suite_name: str = typer.Option("offline", "--suite", help="Dataset suite (offline, paper28)."),
    data: list[str] = options.datasets(),
    max_rows: int = options.max_rows(4000, low=50, help="Rows per dataset (seeded)."),
    d0: int = options.d0(128, help="Components fitted (capped at n − 2)."),
    quick: bool = typer.Option(False, "--quick", help="Two small datasets, d₀ = 32."),
    out: Path = typer.Option(Path("results/bench-extension"), "--out", help="Output directory."),
) -> None:
    """Fit on pretrain rows, transform test rows: resolved columns, their variances, probe ratio."""
    from ..datasets.suites import suite
    from ..experiments.extension import ExtensionSettings, run_extension_bench

    if quick:
        settings = ExtensionSettings.quick()
    else:
        specs = list(data) if data else [m.spec for m in suite(suite_name)]
        settings = ExtensionSettings(datasets=specs, max_rows=max_rows, d0=d0)
    summary = run_extension_bench(out, settings, echo=typer.echo)
    typer.echo((out / "report.md").read_text().split("\n\n| dataset")[0])
    typer.echo(f"wrote {out / 'cells.jsonl'}, {out / 'summary.json'} and {out / 'report.md'}")
    if summary["cells"] and summary["failed"] == summary["cells"]:
        raise typer.Exit(3)
