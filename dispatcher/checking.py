"""``dispatcher check``: validate a JSON file of one message, or a JSONL file of many.

Every problem becomes one :class:`Problem` (line, field path, reason); nothing raises for bad
input, so the caller can print them all and decide the exit code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from dispatcher.errors import InputError
from dispatcher.messages import OutboundMessage, error_paths

MAX_LINE_BYTES = 1 << 20  # one message is a few KiB; a megabyte line is a broken file


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    path: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"line {self.line}"
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"


@dataclass(slots=True)
class CheckReport:
    checked: int = 0
    invalid: int = 0

    @property
    def ok(self) -> bool:
        return self.invalid == 0


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any | Problem]]:
    """Yield ``(line_number, value)`` for each non-blank line, or a Problem for a bad line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield number, Problem(number, "", f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not raw.strip():
                continue
            yield number, _parse(number, raw)


def _parse(number: int, raw: bytes) -> Any | Problem:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        return Problem(number, "", f"not UTF-8 (byte 0x{byte:02x} at column {exc.start + 1})")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Problem(number, "", f"not valid JSON: {exc.msg} (column {exc.colno})")


def validate_message(
    number: int, value: Any, default_region: str | None
) -> OutboundMessage | list[Problem]:
    """Validate one decoded message; the problems carry the line number and JSON paths."""
    if not isinstance(value, dict):
        return [Problem(number, "", f"expected a JSON object, got {type(value).__name__}")]
    try:
        return OutboundMessage.model_validate(value, context={"default_region": default_region})
    except ValidationError as exc:
        return [Problem(number, path, reason) for path, reason in error_paths(exc)]


def check_file(path: Path, default_region: str | None, report: CheckReport) -> Iterator[Problem]:
    """Yield every problem of the file; ``report`` counts messages checked and invalid."""
    for number, value in _messages_of(path):
        report.checked += 1
        if isinstance(value, Problem):
            report.invalid += 1
            yield value
            continue
        result = validate_message(number, value, default_region)
        if isinstance(result, list):
            report.invalid += 1
            yield from result


def _messages_of(path: Path) -> Iterator[tuple[int, Any | Problem]]:
    if path.suffix.lower() != ".json":
        yield from iter_json_lines(path)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    value = _parse(1, raw)
    if isinstance(value, list):  # a JSON array of messages: number them by position
        yield from enumerate(value, start=1)
    else:
        yield 1, value
