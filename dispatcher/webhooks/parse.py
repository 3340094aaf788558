"""Reading a webhook body into status updates and replies (after the signature check).

Unknown shapes are skipped, not refused: the provider retries for days on a non-2xx, and one odd
entry must not block the statuses that came with it. ``played`` (voice) is not a status of an
interactive message and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from dispatcher.store.receipts import Reply, StatusUpdate

STATUSES = frozenset({"sent", "delivered", "read", "failed"})
REPLY_TYPES = ("button_reply", "list_reply")


class BodyError(ValueError):
    """The body is not a JSON object (answered 400)."""


@dataclass(slots=True)
class Notifications:
    statuses: list[StatusUpdate] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    skipped: int = 0


def parse_body(body: bytes) -> Notifications:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BodyError("body is not JSON") from None
    if not isinstance(data, dict):
        raise BodyError("body is not a JSON object")
    found = Notifications()
    for value in _values(data):
        for raw in _list(value.get("statuses")):
            _add_status(found, raw)
        for raw in _list(value.get("messages")):
            _add_reply(found, raw)
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _values(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in _list(data.get("entry")):
        if not isinstance(entry, dict):
            continue
        for change in _list(entry.get("changes")):
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                out.append(change["value"])
    return out


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _add_status(found: Notifications, raw: Any) -> None:
    if not isinstance(raw, dict) or raw.get("status") not in STATUSES:
        found.skipped += 1
        return
    job_id = _str(raw.get("biz_opaque_callback_data"))
    provider_id = _str(raw.get("id"))
    if not job_id and not provider_id:
        found.skipped += 1
        return
    code, text = "", ""
    errors = _list(raw.get("errors"))
    if errors and isinstance(errors[0], dict):
        error = errors[0]
        code = _str(error.get("code"))
        details = error.get("error_data")
        detail = _str(details.get("details")) if isinstance(details, dict) else ""
        text = " - ".join(x for x in (_str(error.get("title")), detail) if x)
    found.statuses.append(StatusUpdate(job_id, provider_id, raw["status"],
                                       _str(raw.get("timestamp")), code, text))


def _add_reply(found: Notifications, raw: Any) -> None:
    if not isinstance(raw, dict) or raw.get("type") != "interactive":
        found.skipped += 1
        return
    interactive = raw.get("interactive")
    context = raw.get("context")
    if not isinstance(interactive, dict) or not isinstance(context, dict):
        found.skipped += 1
        return
    kind = interactive.get("type")
    choice = interactive.get(kind) if kind in REPLY_TYPES else None
    if not isinstance(choice, dict) or not _str(choice.get("id")) or not context.get("id"):
        found.skipped += 1
        return
    found.replies.append(Reply(_str(context["id"]), _str(raw.get("id")), _str(choice["id"]),
                               _str(choice.get("title")), _str(raw.get("timestamp"))))
