"""Campaign status and controls, shared by the CLI, the HTTP service and the workers."""

from __future__ import annotations

from typing import Any

from celery import Celery

from dispatcher.errors import NotFoundError
from dispatcher.queue import publish
from dispatcher.store import CampaignState, JobStore, Status

COUNTED = tuple(Status)
PENDING_COUNTS = (Status.QUEUED, Status.SENDING, Status.RETRYING)


async def campaign_status(store: JobStore, campaign_id: str) -> dict[str, Any]:
    """The campaign's counts per status; ``state`` is ``done`` once nothing is pending."""
    info = await store.campaign(campaign_id)
    if info is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    counts = {s.value: max(0, int(info.get(f"n:{s.value}", 0))) for s in COUNTED}
    state = info.get("state", "")
    if state == CampaignState.RUNNING and not any(counts[s] for s in PENDING_COUNTS):
        state = "done"
    return {
        "campaign_id": campaign_id,
        "name": info.get("name", ""),
        "sender": info.get("sender", ""),
        "state": state,
        "reason": info.get("reason", ""),
        "total": int(info.get("total", 0)),
        "counts": counts,
        "created_at": float(info.get("created", 0)),
    }


async def pause_sender(store: JobStore, sender: str, reason: str, worker_id: str) -> list[str]:
    """Pause every running campaign of ``sender``; return the ids that were paused."""
    paused = []
    for campaign_id in await store.sender_campaign_ids(sender):
        changed, _, _ = await store.set_campaign_state(
            campaign_id, [CampaignState.RUNNING], CampaignState.PAUSED, reason, worker_id)
        if changed:
            paused.append(campaign_id)
    return paused


async def resume(store: JobStore, celery_app: Celery, campaign_id: str, batch_size: int,
                 actor: str = "cli") -> int:
    """Run a paused campaign again and publish the jobs parked meanwhile; return their count."""
    changed, previous, parked = await store.set_campaign_state(
        campaign_id, [CampaignState.PAUSED], CampaignState.RUNNING, "", actor)
    if not changed:
        raise NotFoundError(f"campaign {campaign_id} is {previous}, not paused")
    publish(celery_app, parked, batch_size)
    await store.release(actor, parked)
    return len(parked)


async def requeue(store: JobStore, celery_app: Celery, campaign_id: str,
                  statuses: list[Status], batch_size: int, actor: str = "cli") -> int:
    """Put the campaign's jobs in ``statuses`` back in the queue, keeping their history."""
    if await store.campaign(campaign_id) is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    moved: list[str] = []
    for status in statuses:
        for job_id in await store.ids_in_status(campaign_id, status):
            ok, _ = await store.move(job_id, [status], Status.QUEUED, note=f"requeued by {actor}",
                                     fields={"att": 0, "thr": 0})
            if ok:
                moved.append(job_id)
    publish(celery_app, moved, batch_size)
    return len(moved)
