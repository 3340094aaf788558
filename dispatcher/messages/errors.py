"""Turning a ``ValidationError`` into ``(json_path, message)`` pairs for people."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

__all__ = ["error_paths", "json_path"]

_UNION_FIELDS: frozenset[tuple[int | str, ...]] = frozenset(
    {("interactive",), ("interactive", "header")}
)
"""JSON paths whose value is a tagged union: pydantic puts the member's tag after them."""

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}
"""Clearer wording for pydantic errors whose default message names internal classes."""


def json_path(loc: Sequence[int | str]) -> str:
    """``("interactive", "button", "action", "buttons", 1)`` -> ``interactive.action.buttons[1]``.

    The union tag after a union field is dropped: it is not part of the JSON. Keys that are not
    identifiers are quoted (``["odd key"]``); the whole document is ``$``.
    """
    parts: list[int | str] = []
    skip_tag = False
    for part in loc:
        if skip_tag:
            skip_tag = False
            continue
        parts.append(part)
        skip_tag = tuple(parts) in _UNION_FIELDS
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}" if path else part
        else:
            path += '["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return path or "$"


def error_paths(exc: ValidationError) -> list[tuple[str, str]]:
    """``(json_path, message)`` for each error of ``exc``, messages short and on one line."""
    pairs: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = _MESSAGES.get(error["type"], error["msg"])
        pairs.append((json_path(error["loc"]), " ".join(message.split())))
    return pairs
