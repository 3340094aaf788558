"""Interactive message models: every rule of interactive-limits.md, checked before queueing.

Public entry points:

- :class:`OutboundMessage` -- ``OutboundMessage.model_validate(payload,
  context={"default_region": "IN"})`` raises pydantic's ``ValidationError`` for a bad message;
  ``model_dump(mode="json", exclude_none=True)`` is the BSP wire body.
- :func:`error_paths` -- ``(json_path, message)`` pairs such as
  ``("interactive.action.buttons[1].reply.title", "String should have at most 20 characters")``.
"""

from dispatcher.messages.button import ButtonMessage
from dispatcher.messages.catalog import CatalogMessage, ProductListMessage, ProductMessage
from dispatcher.messages.cta_url import CtaUrlMessage
from dispatcher.messages.envelope import OutboundMessage
from dispatcher.messages.errors import error_paths, json_path
from dispatcher.messages.flow import FlowMessage
from dispatcher.messages.interactive import NOT_SUPPORTED_TYPES, SUPPORTED_TYPES, Interactive
from dispatcher.messages.list_menu import ListMessage
from dispatcher.messages.location import LocationRequestMessage

__all__ = [
    "NOT_SUPPORTED_TYPES",
    "SUPPORTED_TYPES",
    "ButtonMessage",
    "CatalogMessage",
    "CtaUrlMessage",
    "FlowMessage",
    "Interactive",
    "ListMessage",
    "LocationRequestMessage",
    "OutboundMessage",
    "ProductListMessage",
    "ProductMessage",
    "error_paths",
    "json_path",
]
