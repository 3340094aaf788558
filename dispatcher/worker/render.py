"""The message a job sends, built from its record before the job waits for its token.

A campaign's job keeps only the recipient and its row's values (``v``, a JSON array in the
campaign's variable order); the template is stored once in the campaign hash (``tpl``) and
compiled once per worker process (cached here). The producer validated this very rendering at
enqueue time, so rendering again cannot produce an invalid message. Jobs of ready-made messages
keep their whole payload (``p``).

Before the batch is sent, its recipients are checked against the global opt-out list once more,
in one round trip (a number added after enqueue must not be messaged): such jobs move to
``suppressed``. Both happen before the sender's token is taken, so nothing but the claim stands
between the token and the request (the provider sees the requests spaced as the limiter spaced
them).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from dispatcher.campaign.template import MessageTemplate, RenderError
from dispatcher.store import Status, campaign_of

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime

log = logging.getLogger("dispatcher.worker")
TEMPLATES_CACHED = 64
_templates: OrderedDict[str, MessageTemplate | None] = OrderedDict()


async def _template(rt: Runtime, campaign_id: str) -> MessageTemplate | None:
    if campaign_id in _templates:
        _templates.move_to_end(campaign_id)
        return _templates[campaign_id]
    raw = await rt.store.redis.hget(rt.store.keys.campaign(campaign_id), "tpl")
    template = MessageTemplate.from_json(raw) if raw else None
    _templates[campaign_id] = template
    while len(_templates) > TEMPLATES_CACHED:
        _templates.popitem(last=False)
    return template


async def suppressed_among(rt: Runtime, recipients: list[str]) -> set[str]:
    """The recipients on the global opt-out list (one SMISMEMBER for the whole batch)."""
    if not recipients:
        return set()
    found = await rt.store.redis.smismember(rt.store.keys.suppressed, recipients)
    return {to for to, member in zip(recipients, found, strict=True) if member}


async def suppress(rt: Runtime, job_id: str) -> None:
    await rt.store.move(job_id, [Status.QUEUED], Status.SUPPRESSED, note="on the opt-out list")


async def message_for(rt: Runtime, job_id: str, rec: dict[str, str]) -> dict[str, Any] | None:
    """The wire-ready message of the queued job ``job_id``, or None when it cannot be built
    (the job has then been moved to ``failed`` by this function)."""
    if "p" in rec:
        payload: dict[str, Any] = orjson.loads(rec["p"])
        return payload
    template = await _template(rt, campaign_of(job_id))
    if template is None:
        await _fail(rt, job_id, "the campaign has no message template")
        return None
    try:
        block = template.render(orjson.loads(rec.get("v", "[]")))
    except (RenderError, orjson.JSONDecodeError, IndexError) as exc:
        await _fail(rt, job_id, f"cannot render the message: {exc}")
        return None
    return {"to": rec["to"], "type": "interactive", "interactive": block}


async def _fail(rt: Runtime, job_id: str, reason: str) -> None:
    log.error("job %s: %s", job_id, reason)
    await rt.store.move(job_id, [Status.QUEUED], Status.FAILED, note="render",
                        fields={"ecl": "render", "eco": "", "etx": reason[:300]})
