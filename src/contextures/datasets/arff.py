"""A small reader for dense ARFF files (OpenML's fallback format when no Parquet copy exists).

Supported: ``@relation``, ``@attribute NAME TYPE`` with TYPE ``numeric``/``real``/``integer``
(read as float), ``string``/``date`` (read as text) or a nominal set ``{a,b,...}`` (read as text),
quoted names (``'...'`` or ``"..."``), ``%`` comments, ``?`` for missing values and single- or
double-quoted data values. Sparse ARFF (``{index value,...}`` rows) raises :class:`DataError`.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd

from ..exceptions import DataError

_NUMERIC = {"numeric", "real", "integer"}


def _split_name(rest: str) -> tuple[str, str]:
    """Split ``NAME TYPE`` where NAME may be quoted; returns (name, type text)."""
    rest = rest.strip()
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = rest.find(quote, 1)
        while end > 0 and rest[end - 1] == "\\":
            end = rest.find(quote, end + 1)
        if end < 0:
            raise DataError(f"ARFF: unterminated quoted attribute name in {rest!r}")
        return rest[1:end], rest[end + 1:].strip()
    m = re.match(r"(\S+)\s+(.*)$", rest)
    if not m:
        raise DataError(f"ARFF: cannot read attribute declaration {rest!r}")
    return m.group(1), m.group(2).strip()


def read_arff(text: str) -> pd.DataFrame:
    """Parse a dense ARFF document into a DataFrame (numeric columns float64, others text)."""
    names: list[str] = []
    numeric: list[bool] = []
    lines = text.splitlines()
    data_start = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        low = line.lower()
        if low.startswith("@relation"):
            continue
        if low.startswith("@attribute"):
            name, typ = _split_name(line[len("@attribute"):])
            names.append(name)
            numeric.append(typ.strip().lower() in _NUMERIC)
            continue
        if low.startswith("@data"):
            data_start = i + 1
            break
        raise DataError(f"ARFF: unexpected header line {line[:80]!r}")
    if data_start is None or not names:
        raise DataError("ARFF: no @attribute declarations or no @data section")

    body = [ln for ln in lines[data_start:] if ln.strip() and not ln.lstrip().startswith("%")]
    if body and body[0].lstrip().startswith("{"):
        raise DataError("ARFF: sparse ARFF is not supported")
    rows = []
    reader = csv.reader(io.StringIO("\n".join(body)), quotechar="'", skipinitialspace=True,
                        escapechar="\\")
    for lineno, row in enumerate(reader, 1):
        if len(row) != len(names):
            raise DataError(f"ARFF: data row {lineno} has {len(row)} values, "
                            f"expected {len(names)}")
        rows.append([v.strip().strip('"') for v in row])
    columns = {}
    for j, name in enumerate(names):
        values = [r[j] for r in rows]
        if numeric[j]:
            columns[name] = pd.to_numeric(pd.Series(values, dtype=object).replace("?", np.nan),
                                          errors="coerce").astype("float64")
        else:
            columns[name] = pd.Series([None if v == "?" else v for v in values], dtype=object)
    return pd.DataFrame(columns)
