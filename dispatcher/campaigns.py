"""Campaign status and controls, shared by the CLI, the HTTP service and the workers.

Controls act between two messages: every claim (``claim.lua``) reads the campaign's state, so a
pause parks each job a worker picks up next, and a cancel marks it ``cancelled``. ``cancel``
also marks the jobs that wait outside the queue (parked, due for a retry) and the queued ones
right away, so the counts are final as soon as the in-flight sends finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from celery import Celery

from dispatcher.errors import DispatcherError, NotFoundError
from dispatcher.queue import publish
from dispatcher.store import CampaignState, JobStore, Status

COUNTED = tuple(Status)
PENDING_COUNTS = (Status.QUEUED, Status.SENDING, Status.RETRYING)
RETRYABLE = (Status.FAILED, Status.UNKNOWN)
RETRY_CHUNK = 50


class ControlError(DispatcherError):
    """A control that does not apply to the campaign's current state."""


async def campaign_status(store: JobStore, campaign_id: str) -> dict[str, Any]:
    """The campaign's counts per status; ``state`` is ``done`` once nothing is pending.

    ``total`` is the number of input rows: ``total == sum(counts) + duplicates``.
    """
    info = await store.campaign(campaign_id)
    if info is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    counts = {s.value: max(0, int(info.get(f"n:{s.value}", 0))) for s in COUNTED}
    state = info.get("state", "")
    if state == CampaignState.RUNNING and not any(counts[s] for s in PENDING_COUNTS):
        state = "done"
    send_at = info.get("send_at")
    return {
        "campaign_id": campaign_id,
        "name": info.get("name", ""),
        "sender": info.get("sender", ""),
        "state": state,
        "reason": info.get("reason", ""),
        "total": int(info.get("total", 0)),
        "counts": counts,
        "created_at": float(info.get("created", 0)),
        "duplicates": int(info.get("dups", 0)),
        "send_at": float(send_at) if send_at else None,
    }


async def _existing(store: JobStore, campaign_id: str) -> dict[str, str]:
    info = await store.campaign(campaign_id)
    if info is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    return info


async def pause_sender(store: JobStore, sender: str, reason: str, worker_id: str) -> list[str]:
    """Pause every running campaign of ``sender``; return the ids that were paused."""
    paused = []
    for campaign_id in await store.sender_campaign_ids(sender):
        changed, _, _ = await store.set_campaign_state(
            campaign_id, [CampaignState.RUNNING], CampaignState.PAUSED, reason, worker_id)
        if changed:
            paused.append(campaign_id)
    return paused


async def pause(store: JobStore, campaign_id: str, reason: str = "paused by operator",
                actor: str = "cli") -> None:
    """Stop sending: each worker parks the campaign's next job instead of sending it."""
    await _existing(store, campaign_id)
    changed, previous, _ = await store.set_campaign_state(
        campaign_id, [CampaignState.RUNNING], CampaignState.PAUSED, reason, actor)
    if not changed:
        raise ControlError(f"campaign {campaign_id} is {previous}, not running")


async def resume(store: JobStore, celery_app: Celery, campaign_id: str, batch_size: int,
                 actor: str = "cli") -> int:
    """Run a paused campaign again and publish the jobs parked meanwhile; return their count."""
    await _existing(store, campaign_id)
    changed, previous, parked = await store.set_campaign_state(
        campaign_id, [CampaignState.PAUSED], CampaignState.RUNNING, "", actor)
    if not changed:
        raise ControlError(f"campaign {campaign_id} is {previous}, not paused")
    await asyncio.to_thread(publish, celery_app, parked, batch_size)
    await store.release(actor, parked)
    return len(parked)


async def cancel(store: JobStore, campaign_id: str, reason: str = "cancelled by operator",
                 actor: str = "cli") -> int:
    """Cancel the campaign: every job not yet sent ends ``cancelled``; return how many now.

    Jobs being sent at this moment finish with their outcome; queued jobs a worker picks up
    later are cancelled by the claim (already counted here, so not twice).
    """
    await _existing(store, campaign_id)
    allowed = [CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.SCHEDULED]
    changed, previous, _ = await store.set_campaign_state(
        campaign_id, allowed, CampaignState.CANCELLED, reason, actor)
    if not changed:
        raise ControlError(f"campaign {campaign_id} is {previous}; it cannot be cancelled")
    await store.unschedule(campaign_id)
    cancelled = await store.cancel_waiting(campaign_id)
    await store.redis.delete(store.keys.parked(campaign_id))
    return cancelled


async def retry(store: JobStore, celery_app: Celery, campaign_id: str,
                statuses: Sequence[Status] = RETRYABLE, batch_size: int = 100,
                actor: str = "cli") -> int:
    """Put the campaign's jobs in ``statuses`` (failed, unknown) back in the queue.

    Their history is kept (the move is one more line in it); attempts start again from zero.
    Returns how many jobs were put back.
    """
    info = await _existing(store, campaign_id)
    if info.get("state") == CampaignState.CANCELLED:
        raise ControlError(f"campaign {campaign_id} is cancelled")
    wrong = [s for s in statuses if s not in RETRYABLE]
    if wrong:
        raise ControlError(f"only failed or unknown jobs can be retried, not {wrong[0]}")
    moved: list[str] = []
    for status in statuses:
        ids = await store.ids_in_status(campaign_id, status)
        for start in range(0, len(ids), RETRY_CHUNK):
            chunk = ids[start:start + RETRY_CHUNK]
            results = await asyncio.gather(*(
                store.move(job_id, [status], Status.QUEUED, note=f"retried by {actor}",
                           fields={"att": 0, "thr": 0}) for job_id in chunk))
            moved.extend(j for j, (ok, _) in zip(chunk, results, strict=True) if ok)
    if moved:
        await store.redis.sadd(store.keys.active, campaign_id)
        await asyncio.to_thread(publish, celery_app, moved, batch_size)
    return len(moved)


async def requeue(store: JobStore, celery_app: Celery, campaign_id: str,
                  statuses: list[Status], batch_size: int, actor: str = "cli") -> int:
    """The former name of :func:`retry`."""
    return await retry(store, celery_app, campaign_id, statuses, batch_size, actor)
