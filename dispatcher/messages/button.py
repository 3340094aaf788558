"""``button``: one to three quick-reply buttons (the seed's first example)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from dispatcher.messages.common import (
    Body,
    ButtonLabel,
    Footer,
    NoOuterSpaces,
    Problems,
    StrictModel,
)
from dispatcher.messages.headers import AnyHeader

__all__ = ["ButtonAction", "ButtonMessage", "Reply", "ReplyButton"]

ButtonId = Annotated[str, StringConstraints(min_length=1, max_length=256), NoOuterSpaces]


class Reply(StrictModel):
    id: ButtonId
    title: ButtonLabel


class ReplyButton(StrictModel):
    type: Literal["reply"]
    reply: Reply


class ButtonAction(StrictModel):
    buttons: Annotated[list[ReplyButton], Field(min_length=1, max_length=3)]

    @field_validator("buttons")
    @classmethod
    def _unique_ids_and_titles(cls, buttons: list[ReplyButton]) -> list[ReplyButton]:
        """Ids and titles are unique within the message.

        The provider does not document refusing repeats, but a repeated id or title makes the
        user's answer ambiguous (interactive-limits.md, "Context worth knowing").
        """
        problems = Problems("ButtonAction")
        first_id: dict[str, int] = {}
        first_title: dict[str, int] = {}
        for index, button in enumerate(buttons):
            for field, value, seen in (
                ("id", button.reply.id, first_id),
                ("title", button.reply.title, first_title),
            ):
                if value in seen:
                    message = f"same {field} as buttons[{seen[value]}]"
                    problems.add((index, "reply", field), "duplicate", message)
                seen.setdefault(value, index)
        problems.raise_if_any()
        return buttons


class ButtonMessage(StrictModel):
    type: Literal["button"]
    header: AnyHeader | None = None
    body: Body
    footer: Footer | None = None
    action: ButtonAction
