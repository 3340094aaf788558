"""A campaign's message template: ``{{ placeholders }}`` in string values, rendered per field.

Rules (interactive-limits.md, "Personalised campaigns"):

- placeholders may appear in string *values* only, never in keys nor in any ``type`` value;
- each templated string is compiled once with Jinja2's ``SandboxedEnvironment`` (no attribute
  access to internals, no code execution), ``StrictUndefined`` (a missing variable is an error,
  never an empty string) and autoescape off (this is not HTML);
- rendering works per string field on a copy of the parsed document, never on the JSON text, so
  no value can break the JSON or add a key.

Speed: a field that is only literal text and ``{{ name }}`` outputs (no filter, no statement)
renders by joining the pieces Jinja's own parser produced, with ``str()`` of each value: the
exact output Jinja would give (autoescape off, no ``finalize``), at a tenth of the cost. Anything
else goes through the compiled Jinja template.

Values come in *variable order* (:attr:`MessageTemplate.variables`): the job record keeps only a
short JSON array of the row's values, and the worker renders the same template again at send
time (see ``dispatcher.worker.render``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from dispatcher.campaign.problems import FieldError
from dispatcher.errors import InputError
from dispatcher.messages import json_path

__all__ = ["MessageTemplate", "RenderError"]

Path = tuple[str | int, ...]
_MARKERS = ("{{", "{%", "{#")


class RenderError(Exception):
    """A field could not be rendered for one row: ``path`` is the field's JSON path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


_ENV = _environment()


@dataclass(frozen=True, slots=True)
class _Field:
    path: Path
    json_path: str
    render: Callable[[Sequence[Any]], str]


def has_placeholder(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


class MessageTemplate:
    """The interactive block of a campaign, compiled once.

    ``block`` is the value of the message's ``interactive`` key. Raises :class:`InputError`
    (with the field's path under ``message``) for a placeholder in a key or a ``type``, or for a
    template that does not parse.
    """

    def __init__(self, block: dict[str, Any]) -> None:
        self.block = block
        self._skeleton = orjson.dumps(block)
        found = list(_templated_strings(block, ()))
        self.variables: tuple[str, ...] = _variables_in_order(found)
        index = {name: i for i, name in enumerate(self.variables)}
        self._fields = [_compile(path, text, index) for path, text in found]
        self.templated_paths = frozenset(f.json_path for f in self._fields)
        self.field_paths: tuple[Path, ...] = tuple(f.path for f in self._fields)
        """Where each string of :meth:`rendered_strings` goes in the block, in the same order."""

    @property
    def is_static(self) -> bool:
        return not self._fields

    def source_json(self) -> str:
        return self._skeleton.decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> MessageTemplate:
        value = orjson.loads(text)
        if not isinstance(value, dict):
            raise InputError("message template: expected a JSON object")
        return cls(value)

    def render(self, values: Sequence[Any]) -> dict[str, Any]:
        """The interactive block for one row; raises :class:`RenderError`."""
        block: dict[str, Any] = orjson.loads(self._skeleton)
        for field in self._fields:
            try:
                text = field.render(values)
            except RenderError:
                raise
            except Exception as exc:  # undefined variable, sandbox refusal, bad filter use
                raise RenderError(field.json_path, _one_line(exc)) from None
            _set(block, field.path, text)
        return block

    def rendered_strings(self, values: Sequence[Any]) -> tuple[str, ...]:
        """Only the rendered strings, in field order (the part of a row that can vary)."""
        out = []
        for field in self._fields:
            try:
                out.append(field.render(values))
            except Exception as exc:
                raise RenderError(field.json_path, _one_line(exc)) from None
        return tuple(out)

    def build(self, strings: Sequence[str]) -> dict[str, Any]:
        """The interactive block with ``strings`` (from :meth:`rendered_strings`) in place."""
        block: dict[str, Any] = orjson.loads(self._skeleton)
        for field, text in zip(self._fields, strings, strict=True):
            _set(block, field.path, text)
        return block


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"template error: {text}"[:300]


def _set(block: Any, path: Path, value: str) -> None:
    target = block
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _message_path(path: Path) -> str:
    return "message" + ("." + json_path(path) if path else "")


def _templated_strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string value with a placeholder; refuses placeholders in keys and ``type``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or has_placeholder(key):
                raise FieldError(_message_path(path), "placeholders are not allowed in keys "
                                 f"({str(key)[:40]!r})")
            if key == "type" and isinstance(item, str) and has_placeholder(item):
                raise FieldError(_message_path((*path, key)),
                                 "placeholders are not allowed in 'type'")
            yield from _templated_strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _templated_strings(item, (*path, i))
    elif isinstance(value, str) and has_placeholder(value):
        yield path, value


def _parse(path: Path, text: str) -> nodes.Template:
    try:
        return _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise FieldError(_message_path(path), f"template syntax error: {exc.message}") from None


def _variables_in_order(found: list[tuple[Path, str]]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for path, text in found:
        for name in sorted(meta.find_undeclared_variables(_parse(path, text))):
            names.setdefault(name, None)
    return tuple(names)


def _compile(path: Path, text: str, index: dict[str, int]) -> _Field:
    where = json_path(path)
    tree = _parse(path, text)
    pieces = _simple_pieces(tree, index)
    if pieces is not None:
        return _Field(path, where, _joiner(pieces))
    template = _ENV.from_string(text)
    names = tuple(index)

    def render(values: Sequence[Any]) -> str:
        return template.render(dict(zip(names, values, strict=True)))

    return _Field(path, where, render)


def _simple_pieces(tree: nodes.Template, index: dict[str, int]) -> list[str | int] | None:
    """Literal strings and variable indexes, when the template is nothing more than that."""
    pieces: list[str | int] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append(child.data)
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                pieces.append(index[child.name])
            else:
                return None
    return pieces


def _joiner(pieces: list[str | int]) -> Callable[[Sequence[Any]], str]:
    if len(pieces) == 1 and isinstance(pieces[0], int):
        only = pieces[0]
        return lambda values: str(values[only])
    frozen = tuple(pieces)

    def join(values: Sequence[Any]) -> str:
        return "".join([p if isinstance(p, str) else str(values[p]) for p in frozen])

    return join
