"""Per-row validation of only the part of a message that a row can change.

A campaign's template is validated whole once (``check_template``); after that a row can only
change the strings that hold placeholders. So for each templated string we find the smallest
part of the message whose validation covers every rule that can look at that string, and per
row validate just that part, with the same pydantic models as the full check:

- the model that directly holds the string (its field's own limits: length, spaces, URL, ...);
- or, higher up, the outermost model on the way down that has a rule over more than one field:
  a model validator (``Media``: exactly one of ``id``/``link``; ``FlowParameters``), or a field
  validator on the field the path goes through (``ButtonAction.buttons``: unique ids and
  titles; ``ListAction.sections``: rows in total, unique ids), or a validator in that field's
  annotation;
- the whole message, when a step cannot be followed (an unresolvable union member, a key the
  model does not declare): never less than needed, only slower.

Every templated string inside a part is rendered into it (so no placeholder text is judged).
The parts come from a skeleton serialised once and are rebuilt per row with ``orjson.loads``.

Why that is enough: pydantic judges each field of a model on that field's value alone, except
through the validators above; a union's member is chosen by a ``type`` that placeholders may
not change (any other union is left to the model holding it); and everything outside the
templated strings is the template's own, validated whole once.

Only the verdict comes from here: a row that fails any part is checked again with the full
model, whose errors (paths, reasons, order) are the ones reported. tests/test_campaign_fieldcheck.py
compares the verdict with the full model's on random rows of many templates.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    PlainValidator,
    Tag,
    ValidationError,
    WrapValidator,
)

from dispatcher.messages import OutboundMessage
from dispatcher.messages.common import FALLBACK_TAG

__all__ = ["WHOLE", "FieldChecks", "scope_of"]

Path = tuple[str | int, ...]
CACHE_MAX = 4096
_VALIDATORS = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)


class _Part:
    """One part of the message validated per row: a model at a prefix, its templated fields.

    Verdicts are remembered by the part's own strings: a part whose strings take few values
    (a plan name in a button title) is validated once per value, not once per row.
    """

    def __init__(self, model: type[BaseModel], skeleton: bytes,
                 fields: tuple[tuple[int, Path], ...]) -> None:
        self.model = model
        self.skeleton = skeleton
        self.fields = fields  # (index in the rendered strings, path inside the part)
        self._seen: dict[tuple[str, ...], bool] = {}

    def valid(self, strings: Sequence[str], context: dict[str, Any]) -> bool:
        key = tuple([strings[index] for index, _ in self.fields])
        verdict = self._seen.get(key)
        if verdict is None:
            verdict = self._validate(key, context)
            if len(self._seen) >= CACHE_MAX:  # forget all: popping the oldest of a dict
                self._seen.clear()  # that churns scans ever more deleted slots
            self._seen[key] = verdict
        return verdict

    def _validate(self, strings: tuple[str, ...], context: dict[str, Any]) -> bool:
        value = orjson.loads(self.skeleton)
        for (_, path), text in zip(self.fields, strings, strict=True):
            target = value
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = text
        try:
            self.model.model_validate(value, context=context)
        except ValidationError:
            return False
        return True


class FieldChecks:
    """The parts to validate per row for one template (``paths``: its templated fields)."""

    def __init__(self, message: dict[str, Any], paths: Sequence[Path],
                 region: str | None) -> None:
        """``message``: the whole envelope (``to``, ``type``, ``interactive``) as validated."""
        self.context: dict[str, Any] = {"default_region": region}
        scopes = {path: scope_of(message, path) for path in paths}
        outer: dict[Path, type[BaseModel]] = {}
        for prefix, model in sorted(scopes.values(), key=lambda s: len(s[0])):
            if not any(prefix[:len(p)] == p for p in outer):
                outer[prefix] = model
        parts = []
        for prefix, model in outer.items():
            fields = tuple((i, path[len(prefix):]) for i, path in enumerate(paths)
                           if path[:len(prefix)] == prefix)
            parts.append(_Part(model, orjson.dumps(_get(message, prefix)), fields))
        self.parts = tuple(parts)

    def valid(self, strings: Sequence[str]) -> bool:
        return all(part.valid(strings, self.context) for part in self.parts)


def _get(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


WHOLE: tuple[Path, type[BaseModel]] = ((), OutboundMessage)


def scope_of(message: dict[str, Any], path: Path) -> tuple[Path, type[BaseModel]]:
    """The prefix of ``path`` (and its model) whose validation covers the string at ``path``."""
    model: type[BaseModel] = OutboundMessage
    value: Any = message
    pos = 0
    scope: tuple[Path, type[BaseModel]] | None = None
    while pos < len(path):
        key = path[pos]
        if not isinstance(key, str) or not isinstance(value, dict) \
                or key not in model.model_fields or key not in value:
            return WHOLE
        info = model.model_fields[key]
        if scope is None and _wide_rules(model, key, info.metadata):
            scope = (path[:pos], model)
        holder = (path[:pos], model)
        value = value[key]
        pos += 1
        kind = typing.Annotated[(info.annotation, *info.metadata)] if info.metadata \
            else info.annotation
        step = None if pos == len(path) or info.discriminator is not None \
            else _model_inside(kind, value, path, pos)
        if step is None:  # the string itself, or a type not followed: its holder decides
            return scope or holder
        model, value, pos = step
    return WHOLE


def _wide_rules(model: type[BaseModel], key: str, metadata: list[Any]) -> bool:
    """Does ``model`` have a rule that may look at more than the field ``key``'s own value?"""
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators \
            or model.__pydantic_post_init__ is not None:
        return True
    if any(key in v.info.fields or "*" in v.info.fields
           for v in decorators.field_validators.values()):
        return True
    return any(isinstance(m, _VALIDATORS) for m in metadata)


def _model_inside(annotation: Any, value: Any, path: Path, pos: int
                  ) -> tuple[type[BaseModel], Any, int] | None:
    """The model a field's value is validated with, through list indexes in ``path``."""
    kind = annotation
    while True:
        kind = _unwrapped(kind, value)
        if kind is None:
            return None
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind, value, pos
        if typing.get_origin(kind) is list and pos < len(path) and isinstance(value, list):
            index = path[pos]
            if not isinstance(index, int) or not 0 <= index < len(value):
                return None
            (kind,) = typing.get_args(kind)
            value = value[index]
            pos += 1
            continue
        return None


def _unwrapped(kind: Any, value: Any) -> Any:
    """``kind`` without ``Annotated`` and with the union member ``value`` goes to (or None)."""
    by_type = False
    while True:
        origin = typing.get_origin(kind)
        if origin is typing.Annotated:
            base, *metadata = typing.get_args(kind)
            for item in metadata:
                if isinstance(item, _VALIDATORS):
                    return None
                if isinstance(item, Discriminator):
                    if not _by_type(item):
                        return None
                    by_type = True
            kind = base
        elif origin is typing.Union or origin is types.UnionType:
            members = [m for m in typing.get_args(kind) if m is not type(None)]
            if value is None:
                return None
            if len(members) == 1:
                kind = members[0]
                continue
            kind = _tagged_member(members, value) if by_type else None
            if kind is None:
                return None
        else:
            return kind


def _by_type(discriminator: Discriminator) -> bool:
    """Is it ``type_discriminator``'s (the member named by the value's static ``type``)?"""
    pick = discriminator.discriminator
    return callable(pick) and getattr(pick, "__qualname__", "").startswith("type_discriminator.")


def _tagged_member(members: list[Any], value: Any) -> Any:
    """The member tagged with ``value['type']`` (or the fallback), as ``type_discriminator``."""
    tags: dict[str, Any] = {}
    for member in members:
        tag = next((m.tag for m in typing.get_args(member)[1:] if isinstance(m, Tag)), None)
        if typing.get_origin(member) is not typing.Annotated or tag is None:
            return None
        tags[tag] = member
    chosen = value.get("type") if isinstance(value, dict) else None
    if isinstance(chosen, str) and chosen in tags:
        return tags[chosen]
    return tags.get(FALLBACK_TAG)
