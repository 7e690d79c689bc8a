"""ARFF files, parsed by liac-arff (the parser the ``openml`` package uses).

:func:`read_arff` turns an ARFF document into a DataFrame:

- ``numeric``/``real``/``integer`` attributes become float64 columns;
- nominal attributes (``{a,b,...}``) become categorical columns whose levels are the declared
  values in their declared order;
- ``string`` and ``date`` attributes become text (object) columns, dates kept as written;
- ``?`` (or an empty value) is a missing value.

Values may be bare, single-quoted or double-quoted, with backslash escapes inside quotes
(``'it\\'s'``, ``"a,b"``). Sparse rows (``{index value, ...}``) are expanded to full rows: an
omitted numeric value is 0 and an omitted nominal value is the first declared level, as in Weka.

Refused with :class:`DataError`: relational (multi-instance) attributes, sparse files with string
attributes (an omitted string value has no defined meaning), sparse files too large to expand, text
that is not UTF-8, and every malformed line; each message names the line.
"""

from __future__ import annotations

import re

import arff
import numpy as np
import pandas as pd

from ..exceptions import DataError

MAX_EXPANDED_CELLS = 50_000_000
"""Largest rows x attributes a sparse file may expand to (400 MB of float64)."""

_NAME = r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^{}%,\s]+)"""
_ATTRIBUTE = re.compile(rf"^(@attribute\s+)({_NAME})\s+(.*)$", re.IGNORECASE)
_LINE_IN_MESSAGE = re.compile(r",?\s*(?:at|in) line -?\d+")


class _NumberedLines:
    """An iterator over lines that remembers the (1-based) number of the last line handed out."""

    def __init__(self, lines: list[str]):
        self._lines = iter(lines)
        self.number = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.number += 1
        return line


def _unquote(name: str) -> str:
    if name[:1] in ("'", '"') and name[-1:] == name[:1] and len(name) > 1:
        return name[1:-1]
    return name


def _prepare_header(lines: list[str], source: str) -> tuple[list[str], int]:
    """Check the header and the data rows' layout; return the lines with two types rewritten.

    liac-arff reads ``integer`` values with ``int(float(text))`` and knows no ``date`` type, so
    ``integer`` becomes ``numeric`` (``1.5`` stays 1.5 instead of being truncated) and ``date``
    becomes ``string``. Relational attributes, a missing header part and sparse rows this reader
    cannot expand are refused here. Returns (lines, number of attributes).
    """
    lines = list(lines)
    n_attributes = 0
    has_text = False
    data_at = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        low = line.lower()
        if low.startswith("@data"):
            data_at = i
            break
        if not low.startswith("@attribute"):
            continue
        n_attributes += 1
        match = _ATTRIBUTE.match(line)
        if not match:
            continue  # liac-arff reports the malformed declaration with its line
        head, name, kind = match.groups()
        word = kind.split()[0].lower() if kind.split() else ""
        if word == "relational":
            raise DataError(f"{source}, line {i + 1}: attribute {_unquote(name)!r} is relational "
                            f"(multi-instance data), which is not supported")
        if word == "integer":
            lines[i] = f"{head}{name} numeric"
        elif word == "date":
            lines[i] = f"{head}{name} string"
            has_text = True
        elif word == "string":
            has_text = True
    if n_attributes == 0:
        raise DataError(f"{source}: no @attribute declarations")
    if data_at is None:
        raise DataError(f"{source}: no @data section")
    n_rows, sparse = 0, False
    for raw in lines[data_at + 1:]:
        row = raw.lstrip()
        if row and not row.startswith("%"):
            n_rows += 1
            sparse = sparse or row.startswith("{")
    if sparse and has_text:
        raise DataError(f"{source}: sparse ARFF with string or date attributes is not supported "
                        f"(an omitted string value has no defined meaning)")
    if sparse and n_rows * n_attributes > MAX_EXPANDED_CELLS:
        raise DataError(f"{source}: this sparse ARFF file would expand to {n_rows} rows x "
                        f"{n_attributes} attributes, more than the {MAX_EXPANDED_CELLS} values "
                        f"this reader builds")
    return lines, n_attributes


def _reason(exc: Exception, n_attributes: int) -> str:
    if isinstance(exc, arff.BadDataFormat):
        return f"expected one value for each of the {n_attributes} attributes"
    text = _LINE_IN_MESSAGE.sub("", str(exc), count=1).strip()
    return text.rstrip(".") or type(exc).__name__


def _column(values: list, kind) -> pd.Series:
    if isinstance(kind, (list, tuple)):
        levels = list(dict.fromkeys(kind))
        return pd.Series(pd.Categorical(values, categories=levels))
    if kind in ("NUMERIC", "REAL", "INTEGER"):
        return pd.Series(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
    return pd.Series(values, dtype=object)


def decode_text(payload: bytes, source: str = "ARFF") -> str:
    """UTF-8 text of an ARFF file (a leading byte-order mark is dropped); DataError otherwise."""
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = payload[:exc.start].count(b"\n") + 1
        raise DataError(f"{source}, line {line}: the file is not UTF-8 text") from None


def read_arff(text: str, *, source: str = "ARFF") -> pd.DataFrame:
    """Parse an ARFF document (dense or sparse rows) into a DataFrame; see the module docstring.

    ``source`` names the document in error messages (``"ARFF"`` unless given).
    """
    original = text.replace("\r\n", "\n").split("\n")
    lines, n_attributes = _prepare_header(original, source)
    numbered = _NumberedLines(lines)
    try:
        decoded = arff.ArffDecoder().decode(numbered, encode_nominal=False, return_type=arff.DENSE)
    except (arff.ArffException, ValueError, OverflowError) as exc:
        where = numbered.number
        shown = original[where - 1].strip() if 0 < where <= len(original) else ""
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise DataError(f"{source}, line {where}: {_reason(exc, n_attributes)} "
                        f"(the line reads {shown!r})") from None
    attributes = decoded["attributes"]
    rows = decoded["data"]
    columns = {}
    for j, (name, kind) in enumerate(attributes):
        values = [row[j] for row in rows]
        try:
            columns[name] = _column(values, kind)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{source}: attribute {name!r} holds a value of the wrong type "
                            f"({exc})") from None
    return pd.DataFrame(columns)
