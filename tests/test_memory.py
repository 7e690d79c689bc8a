"""The memory budget: parsing sizes, the default and the check before dense allocations."""

import pytest

from contextures._memory import (
    available_memory,
    check_allocation,
    default_budget,
    format_bytes,
    parse_bytes,
)
from contextures.exceptions import MemoryBudgetError, ParameterError


@pytest.mark.parametrize(
    "text, expected",
    [("8G", 8 * 1024**3), ("512M", 512 * 1024**2), ("1.5K", 1536), ("100", 100),
     ("2GiB", 2 * 1024**3), (4096, 4096)],
)
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", 0, -5])
def test_parse_bytes_refuses_nonsense(bad):
    with pytest.raises(ParameterError):
        parse_bytes(bad)


def test_default_budget_is_half_the_available_memory(monkeypatch):
    monkeypatch.delenv("CONTEXTURES_MEMORY_BUDGET", raising=False)
    assert 0 < default_budget() <= available_memory()
    monkeypatch.setenv("CONTEXTURES_MEMORY_BUDGET", "1G")
    assert default_budget() == 1024**3


def test_check_allocation_refuses_with_the_size_needed():
    with pytest.raises(MemoryBudgetError, match=r"needs 8\.0 GiB.*budget of 1\.0 GiB"):
        check_allocation(8 * 1024**3, 1024**3, "a dense matrix")
    check_allocation(1024, 1024**3, "a small matrix")


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(3 * 1024**3) == "3.0 GiB"
