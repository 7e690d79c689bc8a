"""The ``contextures`` command line: one Typer app, one module per command group.

Every command module under ``contextures.cli`` registers its commands on :data:`app` when
imported; :func:`main` imports them, runs the app and turns every error into one line on stderr
with an exit code (the project's typed errors carry their own), never a traceback. Set
``CONTEXTURES_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import importlib
import os
import sys

import click
import typer

from ..exceptions import ContexturesError

app = typer.Typer(
    name="contextures",
    help="Contexture theory of representation learning: exact spectra, tau, encoders, benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"contextures {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", "-V", callback=_show_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """Contexture theory of representation learning: exact spectra, tau, encoders, benchmarks."""

# Command modules, imported in this order; each registers its commands on `app`.
COMMAND_MODULES = [
    "datasets",
    "train",
    "evaluate",
    "spectrum",
    "bench",
    "bench_mixing",
    "bench_correlation",
    "run",
    "bench_alignment",
    "bench_estimation",
    "bench_extension",
    "semisup", "bench_semisup",
    "shift", "bench_shift",
]

EXIT_INTERRUPTED = 130
INTERRUPTED_MESSAGE = "interrupted; finished work is kept, rerun the same command to resume"
INTERRUPTED_NOTHING_KEPT = "interrupted; nothing was written (this command does not resume)"
EXIT_INTERNAL = 70
EXIT_OUTPUT = 12   # an OSError while writing (exceptions.OutputError has the same code)

# Commands that keep finished work (one cell file per finished grid cell) and resume on a rerun.
RESUMABLE = {"run", "bench correlation", "bench alignment", "bench estimation", "bench semisup"}


def _command(args: list[str]) -> str:
    """``run``, ``bench correlation``… : the command words of ``args`` (before any option)."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    if words[:1] == ["bench"]:
        return " ".join(words[:2])
    return " ".join(words[:1])


def check_environment() -> None:
    """Refuse a malformed ``CONTEXTURES_MEMORY_BUDGET`` or ``CONTEXTURES_SOLVER_THREADS`` before
    any command starts (a grid would otherwise record every dataset as failed)."""
    from .._memory import parse_bytes
    from ..exceptions import ParameterError
    from ..spectral.threads import env_threads

    budget = os.environ.get("CONTEXTURES_MEMORY_BUDGET", "")
    if budget:
        try:
            parse_bytes(budget)
        except ParameterError as exc:
            raise ParameterError(f"CONTEXTURES_MEMORY_BUDGET: {exc}") from None
    env_threads()


def _interrupted(args: list[str]) -> int:
    message = INTERRUPTED_MESSAGE if _command(args) in RESUMABLE else INTERRUPTED_NOTHING_KEPT
    return _fail(message, EXIT_INTERRUPTED)


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def _fail(message: str, code: int) -> int:
    print(f"contextures: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``contextures`` script; returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        _load_commands()
        if args and not {"-h", "--help"} & set(args):
            check_environment()
        result = app(args=args, prog_name="contextures", standalone_mode=False)
        code = int(result) if isinstance(result, int) else 0
        if code == EXIT_INTERRUPTED:  # typer's click returns 130 for Ctrl-C when not standalone
            return _interrupted(args)
        return code
    except ContexturesError as exc:
        return _fail(str(exc), exc.exit_code)
    except (click.exceptions.Exit, typer.Exit) as exc:
        if exc.exit_code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into Exit(130)
            return _interrupted(args)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except typer.TyperException as exc:  # typer's own click: usage errors, bad option values
        return _fail(exc.format_message(), int(getattr(exc, "exit_code", 2) or 2))
    except (KeyboardInterrupt, click.exceptions.Abort, typer.Abort):
        return _interrupted(args)
    except BrokenPipeError:
        return 0
    except MemoryError:
        return _fail("out of memory; lower the problem size or the memory budget "
                     "(CONTEXTURES_MEMORY_BUDGET)", 5)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        return _fail(f"{exc.strerror}: {exc.filename}", 3)
    except OSError as exc:   # a full or read-only file system outside the atomic writer
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"I/O error ({exc.strerror or exc}){where}", EXIT_OUTPUT)
    except Exception as exc:  # an unexpected failure: one line, traceback on request
        if os.environ.get("CONTEXTURES_DEBUG"):
            raise
        return _fail(f"internal error ({type(exc).__name__}: {exc}); rerun with "
                     "CONTEXTURES_DEBUG=1 for the traceback and please report it", EXIT_INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
