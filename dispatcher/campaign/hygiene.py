"""Recipient hygiene: number normalisation, the opt-out (suppression) lists.

Two opt-out lists are checked:

- a file per campaign (``suppression:`` in the campaign file): one number per line (``#``
  comments and blank lines allowed), or a CSV whose header has a ``to`` column. Read whole into
  a set: its size is the opt-out list's, not the campaign's;
- the global list in Redis (``<prefix>:suppressed``, a set of E.164 digits), managed with
  ``dispatcher suppress add|remove|list``. Checked at enqueue (inside the script that writes
  the job records) and again by the worker just before each send, so a number added while a
  campaign runs is not messaged.

Duplicates (after normalisation) are dropped by the same enqueue script, against a per-campaign
set that lives in Redis only while the campaign is being created: the producer's memory stays
flat whatever the campaign's size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from dispatcher.errors import InputError
from dispatcher.phone import normalize_phone
from dispatcher.store import JobStore

__all__ = ["add_suppressed", "list_suppressed", "load_suppression_file", "normalize_numbers",
           "remove_suppressed"]

MAX_SUPPRESSION_FILE_BYTES = 256 << 20


def load_suppression_file(path: Path, region: str | None) -> set[str]:
    """The normalised numbers of an opt-out file; a bad line is a fatal error (with its line)."""
    try:
        if path.stat().st_size > MAX_SUPPRESSION_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_SUPPRESSION_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {bad_line}: not UTF-8") from None
    lines = text.splitlines()
    first = next((x.strip().lower() for x in lines if x.strip() and not x.startswith("#")), "")
    if first == "to" or first.startswith("to,") or ",to," in first or first.endswith(",to"):
        return _from_csv(path, text, region)
    numbers: set[str] = set()
    for line_number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            numbers.add(_normalised(path, line_number, entry, region))
    return numbers


def _from_csv(path: Path, text: str, region: str | None) -> set[str]:
    reader = csv.reader(io.StringIO(text))
    header = [c.strip().lower() for c in next(reader, [])]
    if "to" not in header:
        raise InputError(f"{path}: line 1: no 'to' column")
    index = header.index("to")
    numbers: set[str] = set()
    for record in reader:
        if len(record) > index and record[index].strip():
            numbers.add(_normalised(path, reader.line_num, record[index], region))
    return numbers


def _normalised(path: Path, line: int, raw: str, region: str | None) -> str:
    try:
        return normalize_phone(raw, region)
    except ValueError as exc:
        raise InputError(f"{path}: line {line}: {exc}") from None


def normalize_numbers(raw: Iterable[str], region: str | None) -> list[str]:
    """Normalise numbers given on the command line; the first bad one is an InputError."""
    out = []
    for i, value in enumerate(raw, start=1):
        try:
            out.append(normalize_phone(value, region))
        except ValueError as exc:
            raise InputError(f"number {i}: {exc}") from None
    return out


async def add_suppressed(store: JobStore, numbers: Iterable[str]) -> int:
    """Add normalised numbers to the global opt-out list; returns how many were new."""
    batch = list(numbers)
    return int(await store.redis.sadd(store.keys.suppressed, *batch)) if batch else 0


async def remove_suppressed(store: JobStore, numbers: Iterable[str]) -> int:
    batch = list(numbers)
    return int(await store.redis.srem(store.keys.suppressed, *batch)) if batch else 0


async def list_suppressed(store: JobStore) -> list[str]:
    found: list[str] = []
    async for member in store.redis.sscan_iter(store.keys.suppressed, count=1000):
        found.append(member.decode() if isinstance(member, bytes) else str(member))
    return sorted(found)
