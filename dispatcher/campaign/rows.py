"""Checking one recipient row: normalise the number, render the message, validate it.

Validation is the full model (``OutboundMessage``, every rule of interactive-limits.md) on each
rendered message, so nothing that reaches a worker can be invalid. Two shortcuts keep it cheap
without weakening it:

- the rendered block is validated with a fixed, already-normalised probe number, so number
  parsing (~4 us; ~20 us off its fast path) happens once per row, in :func:`normalize_phone`,
  not twice; the row's own number is checked on its own, at the path ``to``;
- only the parts of the message a row can change are validated per row (``fieldcheck.py``:
  the model holding each templated string, or the outermost model with a rule across fields on
  the way to it); a row failing there is validated whole, for the exact errors. The template
  was validated whole once (:func:`check_template`), so nothing else can differ between rows;
- results are remembered by the tuple of rendered strings (the only part of a message that
  varies between rows), so a template whose variables take few distinct values is validated
  once per distinct message; a static message is validated once per campaign.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from dispatcher.campaign.fieldcheck import FieldChecks
from dispatcher.campaign.problems import FieldError
from dispatcher.campaign.readers import Row
from dispatcher.campaign.template import MessageTemplate, RenderError
from dispatcher.checking import Problem
from dispatcher.messages import OutboundMessage, error_paths
from dispatcher.phone import normalize_phone

__all__ = ["Accepted", "RowChecker", "check_template"]

PROBE_TO = "918856879188"  # any valid number: the row's own is checked separately
_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Accepted:
    line: int
    to: str
    payload: str  # the job's ``v`` field: JSON array of the template values ('' if none)


def _validate_block(block: dict[str, Any], region: str | None) -> list[tuple[str, str]]:
    try:
        OutboundMessage.model_validate(
            {"to": PROBE_TO, "type": "interactive", "interactive": block},
            context={"default_region": region})
    except ValidationError as exc:
        return error_paths(exc)
    return []


def check_template(template: MessageTemplate, region: str | None) -> None:
    """Refuse a template whose structure is wrong whatever the rows hold (a fatal error).

    The block is validated with each placeholder field left as its template text; errors at
    those fields depend on the rows and are left to the per-row check, any other error (an
    unknown key, a missing body, too many buttons, a literal title too long) is the template's.
    """
    for path, reason in _validate_block(template.block, region):
        if path not in {f"interactive.{p}" for p in template.templated_paths}:
            raise FieldError("message" + path.removeprefix("interactive"), reason)


class RowChecker:
    """Turns rows into :class:`Accepted` records or problems (one per failed rule)."""

    def __init__(self, template: MessageTemplate, region: str | None,
                 suppressed: Collection[str] = ()) -> None:
        check_template(template, region)
        self.template = template
        self.region = region
        self.suppressed = suppressed
        self._static = template.is_static
        self._has_values = bool(template.variables)
        self._cache: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self._parts = FieldChecks(
            {"to": PROBE_TO, "type": "interactive", "interactive": template.block},
            [("interactive", *path) for path in template.field_paths], region)

    def check(self, row: Row) -> Accepted | list[Problem] | None:
        """``None`` when the number is on the campaign's own opt-out file."""
        try:
            to = normalize_phone(row.to, self.region)
        except ValueError as exc:
            return [Problem(row.line, "to", str(exc))]
        if to in self.suppressed:
            return None
        if not self._static:
            errors = self._errors_of(row.values)
            if errors:
                return [Problem(row.line, path, reason) for path, reason in errors]
        payload = orjson.dumps(row.values).decode() if self._has_values else ""
        return Accepted(row.line, to, payload)

    def _errors_of(self, values: list[Any]) -> list[tuple[str, str]]:
        try:
            strings = self.template.rendered_strings(values)
        except RenderError as exc:
            return [(f"interactive.{exc.path}", exc.reason)]
        errors = self._cache.get(strings)
        if errors is None:
            errors = [] if self._parts.valid(strings) else \
                _validate_block(self.template.build(strings), self.region)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()  # cheaper than popping the oldest (see fieldcheck.py)
            self._cache[strings] = errors
        return errors
