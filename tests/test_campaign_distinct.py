"""The dry run's duplicate count: distinct numbers counted in bounded memory."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.campaign import distinct as distinct_module
from dispatcher.campaign.distinct import DistinctCounter


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 50)), st.integers(1, 20))
def test_counts_distinct_numbers_across_runs_on_disk(numbers: list[int], limit: int) -> None:
    with DistinctCounter(limit=limit) as counter:
        for number in numbers:
            counter.add(number)
        assert counter.count() == len(set(numbers))


def test_memory_holds_at_most_the_limit() -> None:
    with DistinctCounter(limit=1000) as counter:
        for number in range(10_500):
            counter.add(918800000000 + number % 7000)
            assert len(counter._current) < 1000
        assert len(counter._runs) == 10
        assert counter.count() == 7000


def test_runs_beyond_the_most_kept_are_merged_into_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distinct_module, "MAX_RUNS", 4)
    monkeypatch.setattr(distinct_module, "_READ_ITEMS", 5)
    rng = random.Random(3)
    numbers = [rng.randrange(500) for _ in range(2000)]
    with DistinctCounter(limit=20) as counter:
        for number in numbers:
            counter.add(number)
            assert len(counter._runs) < 4
        assert counter.count() == len(set(numbers))


def test_a_run_longer_than_one_read_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distinct_module, "_READ_ITEMS", 3)
    numbers = [5, 1, 9, 1, 5, 22, 7, 8, 30, 31, 32, 33, 34, 35, 1, 2, 36, 37, 38, 39, 40, 9]
    with DistinctCounter(limit=4) as counter:
        for number in numbers:
            counter.add(number)
        assert len(counter._runs) >= 3
        assert counter.count() == len(set(numbers))
