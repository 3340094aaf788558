"""The ``interactive`` object: a union tagged on ``interactive.type``.

Every supported type is a member; a catch-all member refuses any other type at
``interactive.type``, saying "not supported" for the types that exist on the Cloud API but are
out of scope, and listing the supported types otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Tag, field_validator
from pydantic_core import PydanticCustomError

from dispatcher.messages.button import ButtonMessage
from dispatcher.messages.catalog import CatalogMessage, ProductListMessage, ProductMessage
from dispatcher.messages.common import FALLBACK_TAG, StrictModel, type_discriminator
from dispatcher.messages.cta_url import CtaUrlMessage
from dispatcher.messages.flow import FlowMessage
from dispatcher.messages.list_menu import ListMessage
from dispatcher.messages.location import LocationRequestMessage

__all__ = ["NOT_SUPPORTED_TYPES", "SUPPORTED_TYPES", "Interactive"]

_MEMBERS: dict[str, type[StrictModel]] = {
    "button": ButtonMessage,
    "list": ListMessage,
    "cta_url": CtaUrlMessage,
    "product": ProductMessage,
    "product_list": ProductListMessage,
    "catalog_message": CatalogMessage,
    "flow": FlowMessage,
    "location_request_message": LocationRequestMessage,
}
SUPPORTED_TYPES: tuple[str, ...] = tuple(_MEMBERS)
NOT_SUPPORTED_TYPES: frozenset[str] = frozenset({"address_message", "voice_call"})
"""On the Cloud API but out of scope until asked for (interactive-limits.md)."""


class _UnsupportedInteractive(StrictModel):
    """Fallback member: ``interactive.type`` is missing or not a supported type."""

    model_config = ConfigDict(extra="ignore")  # the rest can't be judged without a type

    type: Any

    @field_validator("type")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        supported = ", ".join(SUPPORTED_TYPES)
        if value in NOT_SUPPORTED_TYPES:
            raise PydanticCustomError(
                "interactive_type_not_supported",
                "'{type}' messages are not supported; supported types: {supported}",
                {"type": value, "supported": supported},
            )
        raise PydanticCustomError(
            "interactive_type",
            "unknown interactive type; supported types: {supported}",
            {"supported": supported},
        )


if TYPE_CHECKING:  # what a validated message holds; the fallback member never validates
    Interactive = (
        ButtonMessage
        | ListMessage
        | CtaUrlMessage
        | ProductMessage
        | ProductListMessage
        | CatalogMessage
        | FlowMessage
        | LocationRequestMessage
    )
else:
    Interactive = Annotated[
        Annotated[ButtonMessage, Tag("button")]
        | Annotated[ListMessage, Tag("list")]
        | Annotated[CtaUrlMessage, Tag("cta_url")]
        | Annotated[ProductMessage, Tag("product")]
        | Annotated[ProductListMessage, Tag("product_list")]
        | Annotated[CatalogMessage, Tag("catalog_message")]
        | Annotated[FlowMessage, Tag("flow")]
        | Annotated[LocationRequestMessage, Tag("location_request_message")]
        | Annotated[_UnsupportedInteractive, Tag(FALLBACK_TAG)],
        type_discriminator(SUPPORTED_TYPES),
    ]
