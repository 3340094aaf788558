"""Counting distinct numbers in bounded memory (the dry run's duplicate count).

A real enqueue finds duplicates in Redis (``add_rows.lua``); a dry run writes nothing there, and
a set of every number would grow with the campaign (~70 bytes a number: 150 MB of producer at
a million rows). Instead numbers collect in a set of at most ``limit`` (~7 MB); a full set is
written to a temporary file as a sorted run of 8-byte integers, at most ``MAX_RUNS`` runs are
kept (more are merged into one), and the count merges the runs.
"""

from __future__ import annotations

import heapq
import tempfile
from array import array
from collections.abc import Iterator
from typing import IO

__all__ = ["DistinctCounter"]

_READ_ITEMS = 8192
MAX_RUNS = 64


class DistinctCounter:
    """How many distinct non-negative integers below 2**64 were added (E.164 numbers are)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._current: set[int] = set()
        self._runs: list[IO[bytes]] = []

    def add(self, number: int) -> None:
        self._current.add(number)
        if len(self._current) >= self.limit:
            self._spill()

    def count(self) -> int:
        if not self._runs:
            return len(self._current)
        if self._current:
            self._spill()
        return sum(1 for _ in self._merged())

    def _merged(self) -> Iterator[int]:
        """Every number in the runs once, in order."""
        last = -1
        for number in heapq.merge(*(_read(run) for run in self._runs)):
            if number != last:
                yield number
                last = number

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs.clear()
        self._current.clear()

    def __enter__(self) -> DistinctCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spill(self) -> None:
        run = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        array("Q", sorted(self._current)).tofile(run)
        self._runs.append(run)
        self._current = set()
        if len(self._runs) >= MAX_RUNS:
            self._compact()

    def _compact(self) -> None:
        merged = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        block = array("Q")
        for number in self._merged():
            block.append(number)
            if len(block) >= _READ_ITEMS:
                block.tofile(merged)
                block = array("Q")
        block.tofile(merged)
        for run in self._runs:
            run.close()
        self._runs = [merged]


def _read(run: IO[bytes]) -> Iterator[int]:
    run.seek(0)
    while True:
        block = array("Q")
        try:
            block.fromfile(run, _READ_ITEMS)
        except EOFError:  # the last, shorter block: its items are in ``block`` all the same
            yield from block
            return
        yield from block
