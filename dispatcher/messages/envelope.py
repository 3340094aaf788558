"""The message as queued and sent: ``{"to", "type": "interactive", "interactive"}``.

This is the BSP wire format of the seed page. ``model_dump(mode="json", exclude_none=True)``
gives it back exactly (fields are declared in the seed's key order); the Cloud API format
differs only in the envelope (``messaging_product``, ``+`` before the number), which the
provider layer adds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dispatcher.messages.common import StrictModel
from dispatcher.messages.interactive import Interactive
from dispatcher.phone import mask_phone, normalize_phone

__all__ = ["OutboundMessage"]


class OutboundMessage(StrictModel):
    """One interactive message to one recipient, checked against interactive-limits.md.

    Validate with ``OutboundMessage.model_validate(payload, context={"default_region": "IN"})``;
    the context is optional, and without a default region only international numbers pass.
    ``to`` is normalised to E.164 digits without ``+``; ``repr`` and ``str`` mask it, so a
    logged message does not expose the recipient.
    """

    to: str
    type: Literal["interactive"]
    interactive: Interactive

    @field_validator("to")
    @classmethod
    def _normalise_to(cls, value: str, info: ValidationInfo) -> str:
        context = info.context if isinstance(info.context, dict) else {}
        region = context.get("default_region")
        try:
            return normalize_phone(value, region if isinstance(region, str) else None)
        except ValueError as exc:
            raise PydanticCustomError("phone_number", "{reason}", {"reason": str(exc)}) from None

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, mask_phone(value) if name == "to" and isinstance(value, str) else value
