"""``POST /v1/campaigns`` without a web framework: bytes in, (status, JSON body) out.

Request body (JSON): the campaign file's keys, with the recipients inline::

    {"name": "spring", "sender": "default",
     "message": {"type": "button", "body": {"text": "Hi {{ name }}"}, "action": {...}},
     "recipients": [{"to": "+918856879188", "name": "Asha"}, ...],
     "send_at": "2030-01-01T09:00:00Z",          # optional
     "suppression": ["+918856879100"],           # optional: numbers not to message
     "region": "IN", "auto_pause": {"failure_rate": 0.2}, "dry_run": false}

Answers:

- ``201`` ``{"campaign_id", "state", "rows", "accepted", "rejected", "duplicates",
  "suppressed", "rejected_by_reason", "send_at", "problems": [{"index", "path", "reason"}]}``:
  the campaign exists (rejected rows are listed, indexed from 0, as the CLI lists them by line);
  ``200`` with the same body and ``campaign_id: null`` for a dry run;
- ``400`` ``{"errors": [{"index": null, "path": "$", "reason"}]}``: the body is not JSON;
- ``422`` ``{"errors": [{"index": null, "path", "reason"}]}``: a fatal problem (unknown key,
  unknown sender, bad template, send_at in the past, no recipients...): nothing was created.

Rows are checked on the event loop (about 40 us each), so keep one request to at most
``MAX_INLINE_RECIPIENTS`` rows and send bigger campaigns as files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from dispatcher.campaign.problems import FieldError
from dispatcher.errors import ConfigError, InputError
from dispatcher.settings import Settings
from dispatcher.store import JobStore

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["MAX_INLINE_RECIPIENTS", "create_campaign_from_request"]

MAX_INLINE_RECIPIENTS = 100_000
_SPEC_KEYS = ("name", "sender", "message", "send_at", "region", "auto_pause")


def _error(status: int, path: str, reason: str) -> tuple[int, dict[str, Any]]:
    return status, {"errors": [{"index": None, "path": path, "reason": reason}]}


async def create_campaign_from_request(body: bytes, store: JobStore, celery_app: Celery,
                                       settings: Settings) -> tuple[int, dict[str, Any]]:
    """Validate and create a campaign from a JSON request body; never raises for bad input."""
    from dispatcher.campaign.api import create_campaign

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _error(400, "$", f"not valid JSON: {exc.msg} (line {exc.lineno})")
    if not isinstance(data, dict):
        return _error(422, "$", "expected a JSON object")
    unknown = sorted(set(data) - {*_SPEC_KEYS, "recipients", "suppression", "dry_run"})
    if unknown:
        return _error(422, unknown[0], "unknown key")
    recipients = data.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        return _error(422, "recipients", "must be a non-empty list of objects with 'to'")
    if len(recipients) > MAX_INLINE_RECIPIENTS:
        return _error(422, "recipients", f"at most {MAX_INLINE_RECIPIENTS} rows per request; "
                                         "send a file with `dispatcher enqueue` instead")
    suppression = data.get("suppression") or []
    if not isinstance(suppression, list) or not all(isinstance(x, str) for x in suppression):
        return _error(422, "suppression", "must be a list of phone numbers")
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        return _error(422, "dry_run", "must be true or false")
    spec: dict[str, Any] = {k: data[k] for k in _SPEC_KEYS if k in data}
    if not isinstance(spec.get("message"), dict):
        return _error(422, "message", "required: the interactive block (an object)")
    try:
        summary = await create_campaign(
            spec["message"], recipients, name=spec.get("name", ""), settings=settings,
            sender=spec.get("sender", "default"), store=store, celery_app=celery_app,
            send_at=spec.get("send_at"), suppression=suppression, region=spec.get("region"),
            auto_pause=spec.get("auto_pause", True), dry_run=dry_run, first_index=0)
    except FieldError as exc:
        return _error(422, exc.path, exc.reason)
    except ConfigError as exc:
        return _error(422, "sender", str(exc))
    except InputError as exc:
        return _error(422, "", str(exc))
    out = summary.as_dict()
    out["problems"] = [{"index": p["line"], "path": p["path"], "reason": p["reason"]}
                       for p in out["problems"]]
    return (200 if dry_run else 201), out
