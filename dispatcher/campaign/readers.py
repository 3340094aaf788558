"""Streaming recipient readers: CSV with a header (a ``to`` column plus variable columns), JSONL
(one object per line with ``to`` and the variables), and plain Python mappings (the API).

Each yields ``Row(line, to, values)`` with the values of the template's variables in order, or a
:class:`~dispatcher.checking.Problem` for a row that cannot be used. Nothing is loaded whole:
lines are read with a length limit, so a 10 MB line costs at most ``MAX_LINE_BYTES`` of memory.

Fatal (raise :class:`InputError`, nothing is created): the file cannot be read, it is empty or
has no data rows (checked by the producer at the end), the CSV header is not UTF-8, has no
``to`` column, a repeated or empty column name, or lacks a column the template uses.

Row errors (reported with the line, the row is rejected, the rest goes on): a line that is not
UTF-8, a line longer than ``MAX_LINE_BYTES``, a CSV row with more or fewer columns than the
header or broken quoting, a JSONL line that is not a JSON object, a missing ``to`` or variable,
a variable that is not a string/number/boolean.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from dispatcher.checking import Problem
from dispatcher.errors import InputError

__all__ = ["MAX_LINE_BYTES", "RecipientFile", "Row", "mapping_rows"]

MAX_LINE_BYTES = 1 << 20
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    to: str
    values: list[Any]


RowOrProblem = Row | Problem


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, raw line)``; ``None`` for a line longer than the limit (skipped whole)."""
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (more := handle.readline(1 << 16)) and not more.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, raw


def _decoded(number: int, raw: bytes | None) -> str | Problem:
    if raw is None:
        return Problem(number, "", f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(number, "", f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                                   f"{exc.start + 1})")


class _Feeder:
    """Decoded lines for ``csv.reader``; bad lines become problems set aside in order."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._lines = _lines(handle)
        self.problems: deque[Problem] = deque()
        self.line = 0
        self.record_start = 0

    def __iter__(self) -> Iterator[str]:
        for number, raw in self._lines:
            text = _decoded(number, raw)
            self.line = number
            if isinstance(text, Problem):
                self.problems.append(text)
                continue
            if not self.record_start:
                self.record_start = number
            yield text


class RecipientFile:
    """A CSV or JSONL recipients file, opened and (for CSV) its header checked."""

    def __init__(self, path: Path, variables: Sequence[str]) -> None:
        self.path = path
        self.variables = tuple(variables)
        try:
            self._handle: IO[bytes] = path.open("rb")
            self.size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}") from None
        if self.size == 0:
            self._handle.close()
            raise InputError(f"{path}: the file is empty")
        self.is_csv = path.suffix.lower() not in (".jsonl", ".ndjson", ".json")
        if self.is_csv:
            self._feeder = _Feeder(self._handle)
            self._reader = csv.reader(self._feeder, strict=True)
            self._to_index, self._value_indexes = self._header()

    @property
    def bytes_read(self) -> int:
        return self._handle.tell() if not self._handle.closed else self.size

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RecipientFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> Iterator[RowOrProblem]:
        try:
            yield from (self._csv_rows() if self.is_csv else self._jsonl_rows())
        finally:
            self.close()

    def _fatal(self, reason: str) -> InputError:
        self.close()
        return InputError(f"{self.path}: {reason}")

    def _header(self) -> tuple[int, list[int]]:
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            raise self._fatal(f"line 1: {exc}") from None
        if self._feeder.problems:
            problem = self._feeder.problems[0]
            raise self._fatal(f"line {problem.line}: header: {problem.reason}")
        if header is None:
            raise self._fatal("the file is empty")
        names = [c.strip().lstrip("\ufeff").strip() for c in header]
        for i, name in enumerate(names, start=1):
            if not name:
                raise self._fatal(f"line 1: column {i} has no name")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise self._fatal(f"line 1: column {repeated[0]!r} appears more than once")
        lowered = [n.lower() for n in names]
        if "to" not in lowered:
            raise self._fatal("line 1: no 'to' column (the header must name the recipient "
                              f"column 'to'; found: {', '.join(names)[:200]})")
        for name in self.variables:
            if name not in names:
                raise self._fatal(f"line 1: no column {name!r} for the template's "
                                  f"{{{{ {name} }}}}")
        self.columns = len(names)
        return lowered.index("to"), [names.index(v) for v in self.variables]

    def _csv_rows(self) -> Iterator[RowOrProblem]:
        feeder, reader = self._feeder, self._reader
        width, to_index, indexes = self.columns, self._to_index, self._value_indexes
        while True:
            feeder.record_start = 0
            try:
                record = next(reader, None)
            except csv.Error as exc:
                yield from _drain(feeder.problems)
                yield Problem(feeder.record_start or feeder.line, "", f"bad CSV: {exc}")
                continue
            yield from _drain(feeder.problems)
            if record is None:
                return
            if not record:
                continue  # a blank line
            line = feeder.record_start
            if len(record) != width:
                yield Problem(line, "", f"expected {width} columns, found {len(record)}")
                continue
            yield Row(line, record[to_index], [record[i] for i in indexes])

    def _jsonl_rows(self) -> Iterator[RowOrProblem]:
        for number, raw in _lines(self._handle):
            text = _decoded(number, raw)
            if isinstance(text, Problem):
                yield text
                continue
            if not text.strip():
                continue
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield Problem(number, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            yield row_from_mapping(number, value, self.variables)


def _drain(problems: deque[Problem]) -> Iterator[Problem]:
    while problems:
        yield problems.popleft()


def row_from_mapping(line: int, value: Any, variables: Sequence[str]) -> RowOrProblem:
    """One recipient given as a mapping: ``to`` plus the template's variables."""
    if not isinstance(value, Mapping):
        return Problem(line, "", f"expected a JSON object, got {type(value).__name__}")
    to = value.get("to")
    if to is None:
        return Problem(line, "to", "required field is missing")
    if not isinstance(to, str | int) or isinstance(to, bool):
        return Problem(line, "to", "must be a string")
    values: list[Any] = []
    for name in variables:
        item = value.get(name)
        if item is None:
            return Problem(line, name, "missing variable (the message template uses it)")
        if not isinstance(item, _SCALARS):
            return Problem(line, name, "must be a string, number or boolean")
        values.append(item)
    return Row(line, str(to), values)


def mapping_rows(rows: Iterable[Mapping[str, Any]], variables: Sequence[str],
                 start: int = 1) -> Iterator[RowOrProblem]:
    """Rows given in Python (or inline in an HTTP request), numbered from ``start``."""
    for index, value in enumerate(rows, start=start):
        yield row_from_mapping(index, value, variables)
