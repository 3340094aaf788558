"""The campaign file (YAML or JSON) and the same spec as a Python object.

```yaml
name: spring-offer            # required
sender: default               # a sender declared in the settings (default: "default")
message:                      # the interactive block ({{ placeholders }} in string values)
  type: button
  body: {text: "Hi {{ name }}, pick a plan"}
  action: {buttons: [...]}
recipients: recipients.csv    # CSV with a `to` column, or .jsonl; relative to this file
send_at: 2030-01-01T09:00:00+05:30   # optional, ISO 8601 with a timezone, in the future
suppression: optout.txt       # optional: one number per line (or a CSV with a `to` column)
region: IN                    # optional: default region for national numbers
auto_pause:                   # optional; `false` turns it off
  failure_rate: 0.2           # pause when permanent failures / finished jobs passes this
  min_finished: 100           # ... once at least this many jobs are finished
```

``message`` may also be the whole envelope without ``to``
(``{type: interactive, interactive: {...}}``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.campaign.problems import FieldError
from dispatcher.errors import InputError
from dispatcher.messages import json_path

__all__ = ["AutoPause", "CampaignSpec", "load_campaign_file", "parse_send_at"]

DEFAULT_AUTO_PAUSE_RATE = 0.25
"""Global default: pause a campaign once a quarter of its finished jobs failed permanently."""
DEFAULT_AUTO_PAUSE_MIN = 100
"""... and only once this many jobs are finished (a few early failures are not a trend)."""
MAX_CAMPAIGN_FILE_BYTES = 1 << 20
MAX_NESTING = 32
"""Levels of mappings and lists a campaign may nest; a message needs about eight. Deeper, the
YAML parser, the JSON encoder or the template walk would stop with a recursion error."""


class AutoPause(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_rate: float = Field(default=DEFAULT_AUTO_PAUSE_RATE, gt=0, le=1)
    min_finished: int = Field(default=DEFAULT_AUTO_PAUSE_MIN, ge=1, le=10_000_000)


class CampaignSpec(BaseModel):
    """A campaign: the message template and where its recipients are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    sender: str = Field(default="default", min_length=1, max_length=64)
    message: dict[str, Any]
    recipients: str | None = None
    send_at: datetime | str | None = None
    suppression: str | None = None
    region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    auto_pause: AutoPause | bool = True

    def interactive_block(self) -> dict[str, Any]:
        """The ``interactive`` block, whether written alone or inside an envelope."""
        message = self.message
        if message.get("type") == "interactive" or "interactive" in message:
            extra = sorted(set(message) - {"type", "interactive"})
            if extra:
                hint = " (the recipient comes from the rows)" if extra[0] == "to" else ""
                raise FieldError(f"message.{extra[0]}", f"unknown field{hint}")
            block = message.get("interactive")
            if not isinstance(block, dict):
                raise FieldError("message.interactive", "must be an object")
            return block
        return message

    def send_at_epoch(self, now: float | None = None) -> float | None:
        return None if self.send_at is None else parse_send_at(self.send_at, now)

    def auto_pause_settings(self) -> AutoPause | None:
        if self.auto_pause is False:
            return None
        return AutoPause() if self.auto_pause is True else self.auto_pause


def parse_send_at(value: datetime | str, now: float | None = None) -> float:
    """Seconds since the epoch; refuses a date without timezone, not a date, or in the past."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise FieldError("send_at", f"not an ISO 8601 date and time: {text[:40]!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise FieldError("send_at", "needs a timezone, e.g. 2030-01-01T09:00:00+05:30 or ...Z")
    epoch = value.timestamp()
    if epoch <= (time.time() if now is None else now):
        raise FieldError("send_at", f"{value.isoformat()} is in the past")
    return epoch


def spec_from_mapping(data: Any, where: str = "campaign") -> CampaignSpec:
    """Validate a decoded campaign; the first problem becomes one :class:`InputError` line."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with name, sender, message, recipients")
    too_deep = _nested_too_deep(data, MAX_NESTING)
    if too_deep is not None:
        raise FieldError(json_path(too_deep), f"nested more than {MAX_NESTING} levels deep",
                         where)
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        loc = error["loc"]
        if error["type"] == "extra_forbidden":
            reason = f"unknown key {str(loc[-1])!r}"
        elif error["type"] == "missing":
            reason = "required key is missing"
        else:
            reason = " ".join(error["msg"].split())
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem(s))" if more else ""
        raise FieldError(json_path(loc), reason + suffix, where) from None


def _nested_too_deep(value: Any, limit: int) -> tuple[str | int, ...] | None:
    """The path of the first value nested deeper than ``limit`` levels, without recursion."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict | list) and len(path) >= limit:
            return path
        if isinstance(item, dict):
            stack.extend((v, (*path, str(k))) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(item))
    return None


class _CampaignLoader(yaml.SafeLoader):
    """Safe YAML without aliases: ``*name`` lets a file of a few hundred bytes expand to
    billions of values (the "billion laughs"), and a campaign file has no use for them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a campaign file",
                self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        return super().compose_node(parent, index)


def load_campaign_file(path: Path) -> CampaignSpec:
    """Read a ``.yaml``/``.yml`` or ``.json`` campaign file."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CAMPAIGN_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_CAMPAIGN_FILE_BYTES:
        raise InputError(f"{path}: larger than {MAX_CAMPAIGN_FILE_BYTES} bytes")
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                         f"{exc.start})") from None
    return spec_from_mapping(_decode(path, text), str(path))


def _decode(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    try:
        return yaml.load(text, Loader=_CampaignLoader)  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise InputError(f"{path}: nested more than the YAML reader can follow") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InputError(f"{path}: {where}{problem}") from None
