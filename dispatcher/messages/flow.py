"""``flow``: a button that opens a WhatsApp Flow."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from dispatcher.messages.common import (
    Body,
    ButtonLabel,
    Footer,
    NonEmptyStr,
    Problems,
    StrictModel,
)
from dispatcher.messages.headers import TextOnlyHeader

__all__ = ["FlowAction", "FlowActionPayload", "FlowMessage", "FlowParameters", "is_emoji"]

_EMOJI_PARTS = frozenset("\ufe0f\u20e3")  # emoji presentation selector, combining keycap


def is_emoji(char: str) -> bool:
    """Whether ``char`` is (part of) an emoji.

    Pictographs are "other symbol" (``So``) in Unicode; the U+1F000..U+1FAFF blocks are checked
    by range as well, so emoji newer than this Python's Unicode tables are caught. Skin-tone
    modifiers, U+FE0F and the keycap mark only occur in emoji. The zero-width joiner is *not*
    refused: Indic scripts use it in ordinary text.
    """
    code = ord(char)
    return 0x1F000 <= code <= 0x1FAFF or char in _EMOJI_PARTS or unicodedata.category(char) == "So"


def _no_emoji(value: str) -> str:
    if any(is_emoji(char) for char in value):
        raise PydanticCustomError("emoji", "must not contain emoji")
    return value


def _non_empty_object(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if not value:
        raise PydanticCustomError("empty_object", "must be a non-empty object when present")
    return value


FlowCta = Annotated[ButtonLabel, AfterValidator(_no_emoji)]
FlowData = Annotated[dict[str, JsonValue], AfterValidator(_non_empty_object)]


class FlowActionPayload(StrictModel):
    screen: NonEmptyStr
    data: FlowData | None = None


class FlowParameters(StrictModel):
    """The flow's parameters; field order follows the provider's reference."""

    flow_message_version: NonEmptyStr | None = None
    flow_token: NonEmptyStr | None = None
    flow_id: NonEmptyStr | None = None
    flow_name: NonEmptyStr | None = None
    flow_cta: FlowCta
    flow_action: Literal["navigate", "data_exchange"] | None = None
    flow_action_payload: FlowActionPayload | None = None
    mode: Literal["draft", "published"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Exactly one of ``flow_id`` / ``flow_name``; the payload goes with ``navigate``.

        Decision: an absent ``flow_action`` is ``navigate`` (the provider's default), so it
        needs ``flow_action_payload.screen`` too; with ``data_exchange`` the provider's
        reference says the payload must be omitted, so it is refused.
        """
        problems = Problems("FlowParameters")
        if self.flow_id is not None and self.flow_name is not None:
            problems.add(("flow_name",), "flow_ref", "give only one of 'flow_id' or 'flow_name'")
        elif self.flow_id is None and self.flow_name is None:
            problems.add((), "flow_ref", "one of 'flow_id' or 'flow_name' is required")
        navigate = self.flow_action in (None, "navigate")
        if navigate and self.flow_action_payload is None:
            message = "required with flow_action 'navigate' (the default): give at least 'screen'"
            problems.add(("flow_action_payload",), "flow_payload_required", message)
        elif not navigate and self.flow_action_payload is not None:
            message = "only allowed with flow_action 'navigate'"
            problems.add(("flow_action_payload",), "not_allowed", message)
        problems.raise_if_any()
        return self


class FlowAction(StrictModel):
    name: Literal["flow"]
    parameters: FlowParameters


class FlowMessage(StrictModel):
    type: Literal["flow"]
    header: TextOnlyHeader | None = None
    body: Body
    footer: Footer | None = None
    action: FlowAction
