"""``list``: a menu of up to ten rows in sections (the seed's second example)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from dispatcher.messages.common import (
    Body,
    ButtonLabel,
    Footer,
    Problems,
    SectionTitle,
    StrictModel,
)
from dispatcher.messages.headers import TextOnlyHeader

__all__ = ["ListAction", "ListMessage", "ListSection", "Row"]

MAX_ROWS = 10

RowId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RowTitle = Annotated[str, StringConstraints(min_length=1, max_length=24)]
RowDescription = Annotated[str, StringConstraints(max_length=72)]


class Row(StrictModel):
    id: RowId
    title: RowTitle
    description: RowDescription | None = None


class ListSection(StrictModel):
    """A section of a list.

    Decision: ``title`` is required for every section (the newest provider page requires it;
    older pages only when there are several sections). A section also needs at least one row:
    an empty section shows nothing and is not a message anyone means to send.
    """

    title: SectionTitle
    rows: Annotated[list[Row], Field(min_length=1)]


class ListAction(StrictModel):
    button: ButtonLabel
    sections: Annotated[list[ListSection], Field(min_length=1, max_length=10)]

    @field_validator("sections")
    @classmethod
    def _rows_in_total(cls, sections: list[ListSection]) -> list[ListSection]:
        """At most ten rows **in total** and row ids unique across the whole message.

        Decision: total, not per section (older provider pages said per section).
        """
        problems = Problems("ListAction")
        total = sum(len(section.rows) for section in sections)
        if total > MAX_ROWS:
            message = f"at most {MAX_ROWS} rows in total across all sections, got {total}"
            problems.add((), "too_many_rows", message)
        first: dict[str, str] = {}
        for s, section in enumerate(sections):
            for r, row in enumerate(section.rows):
                if row.id in first:
                    message = f"same id as {first[row.id]}"
                    problems.add((s, "rows", r, "id"), "duplicate", message)
                first.setdefault(row.id, f"sections[{s}].rows[{r}]")
        problems.raise_if_any()
        return sections


class ListMessage(StrictModel):
    type: Literal["list"]
    header: TextOnlyHeader | None = None
    body: Body
    footer: Footer | None = None
    action: ListAction
