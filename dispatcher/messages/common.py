"""Shared building blocks: the strict base model, constrained strings, body and footer.

Lengths are code points (``len(str)``), as interactive-limits.md says; pydantic's
``max_length`` counts code points too. Unknown keys are refused everywhere (``extra="forbid"``),
so a typo such as ``bodyy`` is an error, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    StringConstraints,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[int | str, ...]

FALLBACK_TAG = "unsupported"
"""Tag of the catch-all member of a tagged union: a member that only ever produces an error."""


class StrictModel(BaseModel):
    """Base of every message part: unknown keys refused, inputs kept out of error strings.

    ``hide_input_in_errors`` keeps recipients' numbers and texts out of ``str(exc)``, which
    tends to end up in logs.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


# --- constrained strings ------------------------------------------------------------------------


def _no_outer_whitespace(value: str) -> str:
    if value != value.strip():
        raise PydanticCustomError("outer_whitespace", "must not start or end with a space")
    return value


def _url_check(schemes: Collection[str], label: str) -> Callable[[str], str]:
    """A check that ``value`` is an absolute URL with one of ``schemes`` and a host.

    Values stay plain ``str``: pydantic's URL types normalise (add a trailing ``/``), and the
    message must reach the provider exactly as written.
    """

    def check(value: str) -> str:
        try:
            parts = urlsplit(value)
            ok = parts.scheme in schemes and bool(parts.hostname)
        except ValueError:  # e.g. an unbalanced "[" in the host
            ok = False
        if not ok or any(ch.isspace() or not ch.isprintable() for ch in value):
            raise PydanticCustomError("url", "must be an absolute {label} URL", {"label": label})
        return value

    return check


NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
BodyText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
"""Decision: at most 1024 for every type, as the seed page says (Meta's newest list page: 4096)."""
FooterText = Annotated[str, StringConstraints(min_length=1, max_length=60)]
HeaderText = Annotated[str, StringConstraints(min_length=1, max_length=60)]
SectionTitle = Annotated[str, StringConstraints(min_length=1, max_length=24)]
ButtonLabel = Annotated[str, StringConstraints(min_length=1, max_length=20)]
"""A label on a button: reply title, list button, CTA display text, flow CTA."""
HttpsUrl = Annotated[str, AfterValidator(_url_check({"https"}, "https"))]
WebUrl = Annotated[str, AfterValidator(_url_check({"http", "https"}, "http(s)"))]
NoOuterSpaces = AfterValidator(_no_outer_whitespace)


# --- body, footer -------------------------------------------------------------------------------


class Body(StrictModel):
    text: BodyText


class Footer(StrictModel):
    text: FooterText


# --- helpers for validators ---------------------------------------------------------------------


def not_allowed(message: str) -> BeforeValidator:
    """A validator for a field that must be absent: any value, even ``null``, is refused.

    Declaring the field (instead of leaving it to ``extra="forbid"``) gives a clearer message
    than "Extra inputs are not permitted".
    """

    def refuse(value: Any) -> NoReturn:
        raise PydanticCustomError("not_allowed", message)

    return BeforeValidator(refuse)


def type_discriminator(tags: Collection[str]) -> Discriminator:
    """Pick a tagged-union member by the input's ``type``; anything else goes to the fallback.

    The fallback member (tag :data:`FALLBACK_TAG`) refuses the value with a message that lists
    the supported types, at the JSON path of ``type`` itself.
    """
    known = frozenset(tags)

    def pick(value: Any) -> str:
        tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return tag if isinstance(tag, str) and tag in known else FALLBACK_TAG

    return Discriminator(pick)


class Problems:
    """Errors found by a container-level check, each located inside the container.

    Raising a ``ValidationError`` from a validator makes pydantic report each error at the
    validator's location plus the error's own ``loc``, so a duplicate id is reported at
    ``buttons[1].reply.id`` rather than at ``buttons``.
    """

    def __init__(self, title: str) -> None:
        self._title = title
        self._errors: list[InitErrorDetails] = []

    def add(self, loc: Loc, kind: str, message: str) -> None:
        """Record an error at ``loc``, relative to the field being validated."""
        error = PydanticCustomError(kind, "{message}", {"message": message})
        self._errors.append(InitErrorDetails(type=error, loc=loc, input=None))

    def raise_if_any(self) -> None:
        if self._errors:
            raise ValidationError.from_exception_data(self._title, self._errors)
