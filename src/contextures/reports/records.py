"""Cell records as CSV and as strict JSON: the tables every study writes beside its summary."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV with a header line, one line per row; None is written as an empty field."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    return out.getvalue()


def records_csv(records: Sequence[Mapping[str, Any]], config_columns: Sequence[str],
                result_columns: Sequence[str]) -> str:
    """One CSV row per cell record: key, status, configuration and result columns, error."""
    columns = ["key", "status", *config_columns, *result_columns, "elapsed_seconds", "error"]
    rows = []
    for rec in records:
        result = rec.get("result") or {}
        row = {"key": rec["key"], "status": rec["status"], "error": rec.get("error") or "",
               "elapsed_seconds": rec.get("elapsed_seconds")}
        row.update({c: rec["config"].get(c) for c in config_columns})
        row.update({c: result.get(c) for c in result_columns})
        rows.append(row)
    return csv_text(columns, rows)


def read_csv_rows(text: str, numbers: Sequence[str] = (), flags: Sequence[str] = (),
                  convert: Callable[[str], Any] = float) -> list[dict[str, Any]]:
    """Rows of a CSV written by :func:`csv_text`, with the ``numbers`` columns as floats (empty:
    None) and the ``flags`` columns as booleans, to redraw a figure from saved outputs."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        out: dict[str, Any] = dict(row)
        for c in numbers:
            out[c] = convert(row[c]) if row.get(c) not in (None, "") else None
        for c in flags:
            out[c] = row.get(c) == "True"
        rows.append(out)
    return rows


def write_summary_and_table(out_dir, summary: Mapping[str, Any], table: str) -> list:
    """``summary.json`` (JSON-safe, indented) and ``table.md`` in ``out_dir``, atomically; their
    paths."""
    import json
    from pathlib import Path

    from .files import write_text

    out = Path(out_dir)
    return [write_text(out / "summary.json",
                       json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n"),
            write_text(out / "table.md", table)]
