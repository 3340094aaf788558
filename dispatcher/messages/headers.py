"""Headers: text, or media (image, video, document) with exactly one of ``id`` / ``link``.

Which headers a type allows is decided by the type (interactive-limits.md, "Per type"):

- :data:`AnyHeader`: text, image, video or document (``button``, ``cta_url``);
- :data:`TextOnlyHeader`: text only (``list``, ``product_list``, ``flow``);
- no header at all (``product``, ``catalog_message``,
  ``location_request_message``), see :func:`no_header`.

Both header unions are tagged on ``header.type`` with a fallback member, so a wrong header type
is reported at ``interactive.header.type`` with the list of allowed types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dispatcher.messages.common import (
    FALLBACK_TAG,
    HeaderText,
    HttpsUrl,
    NonEmptyStr,
    StrictModel,
    not_allowed,
    type_discriminator,
)

__all__ = [
    "NO_HEADER",
    "AnyHeader",
    "DocumentHeader",
    "ImageHeader",
    "Media",
    "TextHeader",
    "TextOnlyHeader",
    "VideoHeader",
    "no_header",
]


class Media(StrictModel):
    """A media header's source: exactly one of ``id`` (uploaded media) or ``link`` (https)."""

    id: NonEmptyStr | None = None
    link: HttpsUrl | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        if (self.id is None) == (self.link is None):
            raise PydanticCustomError("media_source", "give exactly one of 'id' or 'link'")
        return self


class TextHeader(StrictModel):
    type: Literal["text"]
    text: HeaderText


class ImageHeader(StrictModel):
    type: Literal["image"]
    image: Media


class VideoHeader(StrictModel):
    type: Literal["video"]
    video: Media


class DocumentHeader(StrictModel):
    type: Literal["document"]
    document: Media


class _RefusedHeader(StrictModel):
    """Fallback member: a header whose ``type`` is missing or not allowed here."""

    model_config = ConfigDict(extra="ignore")  # only the type is wrong; don't pile up errors
    allowed: ClassVar[str]

    type: Any

    @field_validator("type")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        message = "header type must be {allowed}"
        raise PydanticCustomError("header_type", message, {"allowed": cls.allowed})


class _NotTextHeader(_RefusedHeader):
    allowed = "'text' for this message type"


class _UnknownHeader(_RefusedHeader):
    allowed = "one of: text, image, video, document"


if TYPE_CHECKING:  # what a validated message holds; the fallback members never validate
    AnyHeader = TextHeader | ImageHeader | VideoHeader | DocumentHeader
    TextOnlyHeader = TextHeader
else:
    AnyHeader = Annotated[
        Annotated[TextHeader, Tag("text")]
        | Annotated[ImageHeader, Tag("image")]
        | Annotated[VideoHeader, Tag("video")]
        | Annotated[DocumentHeader, Tag("document")]
        | Annotated[_UnknownHeader, Tag(FALLBACK_TAG)],
        type_discriminator(["text", "image", "video", "document"]),
    ]
    TextOnlyHeader = Annotated[
        Annotated[TextHeader, Tag("text")] | Annotated[_NotTextHeader, Tag(FALLBACK_TAG)],
        type_discriminator(["text"]),
    ]


def no_header(type_name: str) -> Any:
    """The ``header`` field of a type that takes none: declared so it can refuse clearly.

    Use as ``header: Annotated[None, no_header("product")] = NO_HEADER``.
    """
    return not_allowed(f"{type_name} messages take no header")


NO_HEADER: Any = Field(default=None, exclude=True)
"""Default of a refused ``header`` field; excluded from dumps so it never reaches the wire."""
