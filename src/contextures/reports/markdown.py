"""Markdown helpers: numbers in a fixed short format and GitHub-flavoured tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def fmt(value: Any, spec: str = ".3f") -> str:
    """A number for a table: ``spec`` formatting, "-" for None, "inf"/"nan" spelled out."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return format(value, spec)
    return str(value)


def _escape(cell: str) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: str | None = None) -> list[str]:
    """Lines of a markdown table; ``align`` holds one of ``l``/``r``/``c`` per column."""
    width = len(headers)
    align = (align or "l" * width).ljust(width, "l")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(_escape(h) for h in headers) + " |",
             "|" + "|".join(rule.get(a, "---") for a in align[:width]) + "|"]
    for row in rows:
        cells = [_escape(c) for c in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells[:width]) + " |")
    return lines


def mean_pm(stat: Mapping[str, Any], n: int, spec: str = ".3f") -> str:
    """``mean ± sd`` of a ``{"mean", "sd"}`` statistic over ``n`` seeds; the mean alone when
    ``n < 2`` (the spread of one value says nothing), "-" when there is no mean."""
    if stat.get("mean") is None:
        return "-"
    if n < 2 or stat.get("sd") is None:
        return fmt(stat["mean"], spec)
    return f"{fmt(stat['mean'], spec)} ± {fmt(stat['sd'], spec)}"
