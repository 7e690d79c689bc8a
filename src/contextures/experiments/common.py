"""Helpers shared by several studies: cached prepared data, thread counts, suites, list options.

Nothing here knows a particular study; studies import from here, never from each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import ParameterError
from ..runner import worker_cache


def prepared_data(dataset: str, split_seed: int, max_rows: int | None):
    """The split, preprocessed dataset (cached per worker process)."""
    from ..datasets import prepare

    return worker_cache(("bench-prepare", dataset, split_seed, max_rows),
                        lambda: prepare(dataset, split_seed=split_seed, max_rows=max_rows))


def current_torch_threads() -> int:
    """The torch intra-op threads of this process (the grid runner caps them per worker)."""
    import torch

    return max(1, int(torch.get_num_threads()))


def labelled_suite(name: str) -> list[str]:
    """The specs of a suite's labelled members (every member of ``offline`` has a target)."""
    from ..datasets import suite

    return [member.spec for member in suite(name)]


def parse_int_list(text: str | Sequence[int], name: str, minimum: int = 1) -> tuple[int, ...]:
    """``"64,128"`` (or a sequence) → (64, 128); a ParameterError naming ``name`` otherwise."""
    items = text.split(",") if isinstance(text, str) else list(text)
    values = []
    for item in items:
        try:
            value = int(str(item).strip())
        except ValueError:
            raise ParameterError(f"{name}: {item!r} is not an integer (give a comma-separated "
                                 "list such as 64,128,256)") from None
        if value < minimum:
            raise ParameterError(f"{name}: every value must be ≥ {minimum}, got {value}")
        values.append(value)
    if not values:
        raise ParameterError(f"{name}: give at least one value")
    if len(set(values)) != len(values):
        raise ParameterError(f"{name}: duplicate values in {values}")
    return tuple(values)


@dataclass
class SummaryAndRecords:
    """A study's summary: ``data`` (what ``summary.json`` holds) and the cell records the
    writers also need (for ``cells.csv``)."""

    data: dict[str, Any]
    records: list[dict[str, Any]]


def check_dataset_and_context(dataset: str, split_seed: int, max_rows: int | None,
                              context: str) -> None:
    """Fail before a grid starts on a dataset that does not load or a context that does not
    parse (the prepared data stays cached for the cells run in this process)."""
    from ..contexts.base import make_context

    make_context(context)
    prepared_data(dataset, split_seed, max_rows)


def group_results(records: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]
                  ) -> tuple[dict[Any, list[Any]], list[dict[str, Any]]]:
    """The results of the successful cell records grouped by ``key(config)`` (in record order),
    and the failed records as {key, error}."""
    from ..runner.study import partition_records

    ok, failed = partition_records(records)
    groups: dict[Any, list[Any]] = {}
    for rec in ok:
        groups.setdefault(key(rec["config"]), []).append(rec["result"])
    return groups, failed
