"""Checking a request body the way the provider would, with the project's own message model.

``dispatcher.messages`` is imported on first use, not at import time, so the sandbox starts
(and its fallback check works) even while that package is being changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

# Cloud API envelope fields that are not part of the message itself.
CLOUD_ENVELOPE = ("messaging_product", "recipient_type", "biz_opaque_callback_data")
MAX_CALLBACK_DATA = 512


class BodyError(ValueError):
    """The request body is not a message the provider would accept (HTTP 400, code 100)."""


PathsFn = Callable[[ValidationError], list[tuple[str, str]]]
_loaded: list[tuple[type[BaseModel], PathsFn]] = []  # filled on first successful import


def _message_model() -> tuple[type[BaseModel], PathsFn] | None:
    """``OutboundMessage`` and ``error_paths`` from ``dispatcher.messages``, or None."""
    if not _loaded:
        try:
            from dispatcher.messages import OutboundMessage, error_paths
        except ImportError:
            return None
        _loaded.append((OutboundMessage, error_paths))
    return _loaded[0]


def validate_message(message: dict[str, Any]) -> None:
    """Raise BodyError naming the first bad field, as ``path: reason``."""
    loaded = _message_model()
    if loaded is None:  # the model isn't importable right now: check the bare shape
        _structural_check(message)
        return
    model, paths = loaded
    try:
        model.model_validate(message)
    except ValidationError as exc:
        pairs = paths(exc)
        path, reason = pairs[0] if pairs else ("$", "invalid message")
        raise BodyError(f"{path}: {reason}") from None


def _structural_check(message: dict[str, Any]) -> None:
    if not isinstance(message.get("to"), str) or not message["to"]:
        raise BodyError("to: a recipient number is required")
    if message.get("type") != "interactive":
        raise BodyError("type: must be 'interactive'")
    interactive = message.get("interactive")
    if not isinstance(interactive, dict):
        raise BodyError("interactive: an object is required")
    if not isinstance(interactive.get("type"), str):
        raise BodyError("interactive.type: required")
    if not isinstance(interactive.get("action"), dict):
        raise BodyError("interactive.action: an object is required")
    unknown = set(message) - {"to", "type", "interactive"}
    if unknown:
        raise BodyError(f"{sorted(unknown)[0]}: unknown field")


def check_to(to: Any, cloud: bool, strict: bool = True) -> str:
    """The recipient's digits; BSP format wants digits only, Cloud format ``+`` and digits.

    Not ``strict``: any punctuation is allowed here (the message model still checks the number).
    """
    if not isinstance(to, str) or not to:
        raise BodyError("to: a recipient number is required")
    if not strict:
        return "".join(c for c in to if c.isascii() and c.isdigit())
    digits = to[1:] if cloud and to.startswith("+") else to
    if not digits.isdigit() or not digits.isascii():
        form = "'+' then digits" if cloud else "digits only"
        raise BodyError(f"to: must be {form} in this API format")
    if cloud and not to.startswith("+"):
        raise BodyError("to: must start with '+' in the Cloud API format")
    return digits


def split_cloud_envelope(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Check and remove the Cloud envelope; returns the bare message and the callback data."""
    if body.get("messaging_product") != "whatsapp":
        raise BodyError("messaging_product: must be 'whatsapp'")
    if body.get("recipient_type", "individual") != "individual":
        raise BodyError("recipient_type: must be 'individual'")
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None and (not isinstance(opaque, str) or len(opaque) > MAX_CALLBACK_DATA):
        raise BodyError(f"biz_opaque_callback_data: a string of at most {MAX_CALLBACK_DATA} chars")
    message = {k: v for k, v in body.items() if k not in CLOUD_ENVELOPE}
    return message, opaque
