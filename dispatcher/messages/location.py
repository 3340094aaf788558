"""``location_request_message``: asks the user to share their location."""

from __future__ import annotations

from typing import Annotated, Literal

from dispatcher.messages.common import Body, Footer, StrictModel
from dispatcher.messages.headers import NO_HEADER, no_header

__all__ = ["LocationRequestAction", "LocationRequestMessage"]


class LocationRequestAction(StrictModel):
    name: Literal["send_location"]


class LocationRequestMessage(StrictModel):
    type: Literal["location_request_message"]
    header: Annotated[None, no_header("location_request_message")] = NO_HEADER
    body: Body
    footer: Footer | None = None
    action: LocationRequestAction
