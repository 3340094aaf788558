"""Producing a campaign: validate each message, write one job record per accepted message, then
publish the job ids to the queue in batches.

Nothing is published until every record is written, and a fatal error on the way deletes what
was written: a campaign is either whole or absent. Rows that fail validation are counted as
``rejected`` (and listed for the caller) so the campaign's counts add up to its input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from celery import Celery

from dispatcher.checking import Problem, iter_json_lines, validate_message
from dispatcher.queue import publish
from dispatcher.settings import Settings
from dispatcher.store import CampaignState, JobStore, Status
from dispatcher.store.keys import job_id_for

WRITE_CHUNK = 1000


@dataclass
class EnqueueResult:
    campaign_id: str
    accepted: int = 0
    problems: list[Problem] = field(default_factory=list)
    rejected_rows: set[int] = field(default_factory=set)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)


def new_campaign_id() -> str:
    return uuid.uuid4().hex[:12]


async def enqueue_messages(store: JobStore, celery_app: Celery, settings: Settings,
                           messages: Iterable[tuple[int, Any | Problem]], *, name: str,
                           sender: str = "default") -> EnqueueResult:
    """Create a campaign from ``(line number, message or Problem)`` pairs and start it."""
    settings.sender(sender)  # an unknown sender fails before anything is written
    result = EnqueueResult(new_campaign_id())
    await store.create_campaign(result.campaign_id, name, sender)
    try:
        async for chunk in _accepted_chunks(messages, settings, result):
            await store.add_jobs(result.campaign_id, sender, result.accepted - len(chunk) + 1,
                                 chunk)
        await _finish(store, result)
    except BaseException:
        await store.delete_campaign(result.campaign_id)
        raise
    ids = (job_id_for(result.campaign_id, i) for i in range(1, result.accepted + 1))
    publish(celery_app, ids, settings.batch_size)
    return result


async def _accepted_chunks(messages: Iterable[tuple[int, Any | Problem]], settings: Settings,
                           result: EnqueueResult) -> AsyncIterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for number, value in messages:
        checked = (value if isinstance(value, Problem) else
                   validate_message(number, value, settings.default_region))
        if isinstance(checked, Problem | list):
            result.problems.extend(checked if isinstance(checked, list) else [checked])
            result.rejected_rows.add(number)
            continue
        payload = checked.model_dump(mode="json", exclude_none=True)
        chunk.append((checked.to, orjson.dumps(payload).decode()))
        result.accepted += 1
        if len(chunk) >= WRITE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _finish(store: JobStore, result: EnqueueResult) -> None:
    keys = store.keys
    total = result.accepted + result.rejected
    await store.redis.hset(keys.campaign(result.campaign_id), mapping={
        "total": total, f"n:{Status.REJECTED.value}": result.rejected})
    await store.set_campaign_state(result.campaign_id, [CampaignState.CREATING],
                                   CampaignState.RUNNING, "", "producer")


async def enqueue_file(store: JobStore, celery_app: Celery, settings: Settings, path: Path, *,
                       name: str | None = None, sender: str = "default") -> EnqueueResult:
    """``dispatcher enqueue FILE.jsonl``: one message per line."""
    return await enqueue_messages(store, celery_app, settings, iter_json_lines(path),
                                  name=name or path.stem, sender=sender)
