"""``cta_url``: one button that opens a URL."""

from __future__ import annotations

from typing import Literal

from dispatcher.messages.common import Body, ButtonLabel, Footer, StrictModel, WebUrl
from dispatcher.messages.headers import AnyHeader

__all__ = ["CtaUrlAction", "CtaUrlMessage", "CtaUrlParameters"]


class CtaUrlParameters(StrictModel):
    display_text: ButtonLabel
    url: WebUrl


class CtaUrlAction(StrictModel):
    name: Literal["cta_url"]
    parameters: CtaUrlParameters


class CtaUrlMessage(StrictModel):
    type: Literal["cta_url"]
    header: AnyHeader | None = None
    body: Body
    footer: Footer | None = None
    action: CtaUrlAction
