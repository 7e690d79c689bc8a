"""Where a command's ``--json`` result and its human-readable lines go.

``--json PATH`` writes the result atomically through :mod:`contextures._io` (complete or absent;
an unwritable target is an ``OutputError``, exit code 12). ``--json -`` writes the same JSON, and
nothing else, to stdout; the human-readable lines then go to stderr, so
``contextures spectrum … --json - | jq .`` always receives one valid JSON document.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import typer

from .._io import atomic_write_json, json_text

STDOUT = "-"
_json_stream: ContextVar[Any] = ContextVar("json_stream", default=None)


def json_to_stdout(path: Path | str | None) -> bool:
    """Whether ``--json`` asks for stdout (``-``)."""
    return path is not None and str(path) == STDOUT


def echo(message: str, json_path: Path | str | None = None) -> None:
    """A human-readable line: on stdout, or on stderr when the JSON goes to stdout."""
    typer.echo(message, err=json_to_stdout(json_path))


@contextlib.contextmanager
def human_output(json_path: Path | str | None):
    """Inside the block, with ``--json -``, everything echoed to stdout goes to stderr; the JSON
    written by :func:`write_json` still goes to the real stdout."""
    if not json_to_stdout(json_path):
        yield
        return
    token = _json_stream.set(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _json_stream.reset(token)


def json_stdout(command):
    """Decorator of a command with a ``json_path`` parameter: its human-readable lines go to
    stderr when ``--json -`` (see :func:`human_output`)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with human_output(kwargs.get("json_path")):
            return command(*args, **kwargs)

    return wrapper


def write_json(path: Path | str, payload: Any) -> None:
    """The ``--json`` result: to stdout for ``-``, else atomically to the file (with a note)."""
    if json_to_stdout(path):
        stream = _json_stream.get() or sys.stdout
        stream.write(json_text(payload))
        stream.flush()
        return
    atomic_write_json(path, payload)
    typer.echo(f"wrote {path}")
