"""Checking a request body the way the provider would, with the project's own message model."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dispatcher.messages import OutboundMessage, error_paths

# Cloud API envelope fields that are not part of the message itself.
CLOUD_ENVELOPE = ("messaging_product", "recipient_type", "biz_opaque_callback_data")
MAX_CALLBACK_DATA = 512
WARM_UP_MESSAGE: dict[str, Any] = {
    "to": "918856879188", "type": "interactive",
    "interactive": {"type": "button", "body": {"text": "warm-up"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "a", "title": "A"}}]}}}


class BodyError(ValueError):
    """The request body is not a message the provider would accept (HTTP 400, code 100)."""


def warm_up() -> None:
    """Validate one message before serving: the first validation loads the numbering-plan
    metadata (~100 ms), and a server busy with that reads the first requests in a bunch, which
    its own rate limit then refuses although they were sent in time."""
    OutboundMessage.model_validate(WARM_UP_MESSAGE)


def validate_message(message: dict[str, Any]) -> None:
    """Raise BodyError naming the first bad field, as ``path: reason``."""
    try:
        OutboundMessage.model_validate(message)
    except ValidationError as exc:
        pairs = error_paths(exc)
        path, reason = pairs[0] if pairs else ("$", "invalid message")
        raise BodyError(f"{path}: {reason}") from None


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
