"""The message as queued and sent: ``{"to", "type": "interactive", "interactive"}``.

This is the BSP wire format of the seed page. ``model_dump(mode="json", exclude_none=True)``
gives it back exactly (fields are declared in the seed's key order); the Cloud API format
differs only in the envelope (``messaging_product``, ``+`` before the number), which the
provider layer adds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dispatcher.messages.common import StrictModel
from dispatcher.messages.interactive import Interactive
from dispatcher.phone import normalize_phone

__all__ = ["OutboundMessage"]


class OutboundMessage(StrictModel):
    """One interactive message to one recipient, checked against interactive-limits.md.

    Validate with ``OutboundMessage.model_validate(payload, context={"default_region": "IN"})``;
    the context is optional, and without a default region only international numbers pass.
    ``to`` is normalised to E.164 digits without ``+``.
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
            raise PydanticCustomError("phone_number", str(exc)) from None
