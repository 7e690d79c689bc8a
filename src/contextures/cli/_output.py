"""Where a command's ``--json`` result and its human-readable lines go.

``--json PATH`` writes the result atomically through :mod:`contextures._io` (complete or absent;
an unwritable target is an ``OutputError``, exit code 12). ``--json -`` writes the same JSON, and
nothing else, to stdout; the human-readable lines then go to stderr, so
``contextures spectrum … --json - | jq .`` always receives one valid JSON document.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from .._io import atomic_write_json, json_text

STDOUT = "-"


def json_to_stdout(path: Path | str | None) -> bool:
    """Whether ``--json`` asks for stdout (``-``)."""
    return path is not None and str(path) == STDOUT


def echo(message: str, json_path: Path | str | None = None) -> None:
    """A human-readable line: on stdout, or on stderr when the JSON goes to stdout."""
    typer.echo(message, err=json_to_stdout(json_path))


def write_json(path: Path | str, payload: Any) -> None:
    """The ``--json`` result: to stdout for ``-``, else atomically to the file (with a note)."""
    if json_to_stdout(path):
        sys.stdout.write(json_text(payload))
        sys.stdout.flush()
        return
    atomic_write_json(path, payload)
    typer.echo(f"wrote {path}")
