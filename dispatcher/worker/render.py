"""The message a job sends, built from its record just before the send.

A campaign's job keeps only the recipient and its row's values (``v``, a JSON array in the
campaign's variable order); the template is stored once in the campaign hash (``tpl``) and
compiled once per worker process (cached here). The producer validated this very rendering at
enqueue time, so rendering again cannot produce an invalid message. Jobs of ready-made messages
keep their whole payload (``p``).

Before building the message, the recipient is checked against the global opt-out list once more
(a number added after enqueue must not be messaged): such a job moves to ``suppressed``.
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


async def message_for(rt: Runtime, job_id: str, rec: dict[str, str]) -> dict[str, Any] | None:
    """The wire-ready message of ``job_id``, or None when it must not be sent (the job has then
    been moved to a final state by this function)."""
    store = rt.store
    if await store.redis.sismember(store.keys.suppressed, rec["to"]):
        await store.move(job_id, [Status.SENDING], Status.SUPPRESSED,
                         note="on the opt-out list")
        return None
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
    await rt.store.move(job_id, [Status.SENDING], Status.FAILED, note="render",
                        fields={"ecl": "render", "eco": "", "etx": reason[:300]})
