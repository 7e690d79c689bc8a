"""``contextures bench``: the project's benchmarks, one command each.

Other command modules add their benchmarks to :data:`bench_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .app import app
from .options import GRID_OPTIONS, grid_option, runner_options  # noqa: F401

bench_app = typer.Typer(
    name="bench",
    help="Benchmarks: timings against reference implementations, measured side by side.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bench_app, name="bench")

# The grid runner's options are declared once, in .options; bench commands add them with
# @grid_options (these names stay for commands that still list them one by one).
WORKERS, THREADS, BACKEND, SCHEDULER, OVERWRITE, RETRY_FAILED, QUIET = (
    grid_option(name) for name in GRID_OPTIONS)


def settings_from(settings_class: type, quick: bool, **given: Any) -> Any:
    """``settings_class.quick(...)`` or ``settings_class(...)`` with the options the user gave
    (None: not given, so the profile's default stands)."""
    values = {k: v for k, v in given.items() if v is not None}
    return settings_class.quick(**values) if quick else settings_class(**values)


@bench_app.command("spectral")
def spectral(
    quick: bool = typer.Option(False, "--quick", help="Small sizes (about a minute)."),
    cases: str | None = typer.Option(None, "--cases", help="Comma-separated subset of cases: "
                                                           "knn20k, rbf10k, knn100k; the scale "
                                                           "cases knn1m, ann200k run only when "
                                                           "named."),
    json_path: Path = typer.Option(Path("results/bench-spectral.json"), "--json",
                                   help="Where to write the figures."),
    repeats: int = typer.Option(1, "--repeats", help="Repeat each timing, keep the best."),
    cli: bool = typer.Option(False, "--cli", help="Also time the whole `contextures spectrum` "
                                                  "command (start-up included)."),
    reference: bool = typer.Option(False, "--reference", help="Check cases without a baseline "
                                                              "(knn100k) against ARPACK too."),
) -> None:
    """Spectral engine vs scipy ARPACK eigsh on the same operators (ratios and agreement)."""
    from ..experiments.spectral_bench import run

    run(quick=quick, cases=None if cases is None else cases.split(","), json_path=json_path,
        repeats=repeats, cli=cli, reference=reference)


@bench_app.command("encoders")
def encoders(
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per configuration."),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads."),
    out: Path = typer.Option(Path("benchmarks/results/encoders"), "--out",
                             help="Directory for encoders_weights.json and SECTION.md."),
    sections: str = typer.Option("ABCD", "--sections",
                                 help="Subset of A (mini-batch KISE/nested), B (subsample B_Φ), "
                                      "C (Laplacian edges), D (P_X in the sample objectives); "
                                      "SECTION.md is written when all four run."),
) -> None:
    """Encoders under weights and batches: mini-batch estimates, P_X, Laplacian edges."""
    from ..experiments.encoder_bench import run

    unknown = sorted(set(sections) - set("ABCD"))
    if unknown or not sections:
        raise typer.BadParameter(f"sections must be letters among A, B, C, D, got {sections!r}")
    run(seeds=seeds, threads=threads, out=out, sections=sections, echo=typer.echo)
