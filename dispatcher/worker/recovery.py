"""What keeps work moving when workers die: heartbeats, takeover of dead workers' jobs, and the
mover that puts due retries back in the queue.

Every job a worker is working on sits in its *held* set. A worker that stops beating for
``lease_s`` seconds is dead: the first live worker to notice takes its held set over atomically
(``takeover.lua``) and settles each job by its status:

- ``queued`` (never claimed): published again;
- ``retrying``: put back in the due set;
- ``sending`` (a request may have reached the provider): ``unknown`` under
  ``on_ambiguous = "fail"``, retried under ``"retry"``. Never resent silently.

The broker's visibility timeout would take hours to redeliver; this takes ``lease_s`` plus one
heartbeat period. A worker calls others dead only after it has itself beaten steadily for a
whole lease: when Redis was away for longer than the lease, every worker's last beat looks
stale, and taking over the jobs of live workers busy sending would send them twice.

A safety net covers the one window no lease can: a batch message the broker handed to a worker
that died before it could record holding it. The sweeper (one worker at a time, under a lock)
looks at running campaigns that have ``queued`` jobs but made no progress for ``stall_s``, and
publishes again the queued jobs that no live worker holds. Publishing twice is harmless: the
claim decides. In running campaigns with ``sending`` jobs but no progress for ``lease_s``, it
settles like a dead worker's the ``sending`` jobs no live worker holds: nobody will record their
outcome (the worker's Redis commands failed after the send for longer than its retries last, or
a claim whose reply Redis lost in a restart was run again and refused).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from dispatcher.monitor.metrics import FLUSH_PERIOD_S, flush_metrics
from dispatcher.queue import publish
from dispatcher.store import Status
from dispatcher.worker import scheduler

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime

log = logging.getLogger("dispatcher.worker")
DUE_POLL_S = 0.25
DUE_BATCH = 1000
SWEEP_PERIOD_S = 10.0


def background_loops(rt: Runtime) -> list[Coroutine[Any, Any, None]]:
    return [_forever(rt, "heartbeat", heartbeat_once, rt.settings.lease_s / 5),
            _forever(rt, "due mover", move_due_once, DUE_POLL_S),
            _forever(rt, "sweeper", sweep_once, SWEEP_PERIOD_S),
            _forever(rt, "scheduler", scheduler.activate_due_once, scheduler.POLL_S),
            _forever(rt, "metrics flush", flush_metrics, FLUSH_PERIOD_S)]


async def _forever(rt: Runtime, name: str, step: Any, period_s: float) -> None:
    while True:
        try:
            busy = await step(rt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis restarting, say: keep the loop alive
            log.warning("%s: %s: %s", name, type(exc).__name__, exc)
            busy = False
        if not busy:
            await asyncio.sleep(period_s)


async def heartbeat_once(rt: Runtime) -> bool:
    dead = await rt.store.heartbeat(rt.worker_id, rt.settings.lease_s)
    if not _beating_for_a_lease(rt):
        return False
    for worker_id in dead:
        job_ids = await rt.store.takeover(worker_id, rt.worker_id, rt.settings.lease_s)
        if job_ids:
            log.warning("worker %s is silent: taking over %d job(s)", worker_id, len(job_ids))
        await settle(rt, job_ids)
    return False


def _beating_for_a_lease(rt: Runtime) -> bool:
    """True once this worker's beats have come steadily (well under half a lease apart, they
    are due every fifth of one) for a whole lease: then the others had time to beat too."""
    now = time.monotonic()
    lease_s = rt.settings.lease_s
    if now - rt.last_beat > lease_s / 2:  # first beat, or Redis (or this process) was away
        rt.beating_since = now
    rt.last_beat = now
    return now - rt.beating_since >= lease_s


async def settle(rt: Runtime, job_ids: Sequence[str]) -> None:
    """Put each job taken over from a dead worker where it can make progress again."""
    records = await rt.store.load(job_ids)
    to_publish: list[str] = []
    for job_id, rec in zip(job_ids, records, strict=True):
        status = rec.get("st") if rec else None
        if status == Status.QUEUED:
            to_publish.append(job_id)
        elif status == Status.RETRYING:
            await rt.store.move(job_id, [Status.RETRYING], Status.RETRYING, delay_s=0.0,
                                note="taken over")
        elif status == Status.SENDING:
            await _settle_sending(rt, job_id)
    await _publish_then_release(rt, to_publish, job_ids)


async def _publish_then_release(rt: Runtime, job_ids: Sequence[str],
                                held: Sequence[str]) -> None:
    """Publish, and release the held ids even when publishing fails (the broker away for
    longer than its retries): a queued job left in a live worker's held set is skipped by the
    sweeper for good, while a released one is published again once its campaign stalls."""
    try:
        await asyncio.to_thread(publish, rt.celery, job_ids, rt.settings.batch_size)
    finally:
        await rt.store.release(rt.worker_id, held)


async def _settle_sending(rt: Runtime, job_id: str,
                          note: str = "worker died while sending") -> None:
    fields: dict[str, str | int | float] = {"ecl": "ambiguous", "eco": "", "etx": note}
    if rt.settings.on_ambiguous == "retry":
        await rt.store.move(job_id, [Status.SENDING], Status.RETRYING, delay_s=0.0, note=note,
                            fields=fields)
    else:
        await rt.store.move(job_id, [Status.SENDING], Status.UNKNOWN, note=note, fields=fields)


async def move_due_once(rt: Runtime) -> bool:
    """Move due retries back to ``queued`` and publish them; True when there may be more."""
    job_ids = await rt.store.pop_due(rt.worker_id, DUE_BATCH)
    if not job_ids:
        return False
    ready = []
    for job_id in job_ids:
        moved, _ = await rt.store.move(job_id, [Status.RETRYING], Status.QUEUED, note="due")
        if moved:
            ready.append(job_id)
    await _publish_then_release(rt, ready, job_ids)
    return len(job_ids) == DUE_BATCH


async def sweep_once(rt: Runtime) -> bool:
    """Republish the queued, unheld jobs of campaigns that stalled (see the module docstring)."""
    store = rt.store
    if not await store.redis.set(store.keys.sweep_lock, rt.worker_id, nx=True,
                                 ex=int(SWEEP_PERIOD_S)):
        return False
    now = await store.now()
    for campaign_id in await store.active_campaign_ids():
        info = await store.campaign(campaign_id) or {}
        pending = sum(int(info.get(f"n:{s}", 0)) for s in ("queued", "sending", "retrying"))
        if info.get("state") in (None, "cancelled") or pending == 0:
            await store.redis.srem(store.keys.active, campaign_id)
            continue
        idle_s = now - float(info.get("tp") or info.get("created") or now)
        if info.get("state") != "running":
            continue
        # A campaign with jobs `sending` but no progress for a lease is rare: the walk is cheap.
        if int(info.get("n:sending", 0)) and idle_s >= rt.settings.lease_s:
            await _settle_unheld_sending(rt, campaign_id)
        if int(info.get("n:queued", 0)) and idle_s >= rt.settings.stall_s:
            await _republish_unheld(rt, campaign_id)
    return False


async def _settle_unheld_sending(rt: Runtime, campaign_id: str) -> None:
    """A ``sending`` job is held by its worker from before the claim until after the outcome is
    recorded; one that no registered worker holds will never get an outcome: settle it. Only
    once its claim is older than any request can last (plus a lease), so that even a job whose
    hold a second batch of the same worker released is past its send."""
    store = rt.store
    s = rt.settings
    sending = await store.ids_in_status(campaign_id, Status.SENDING)
    held = await store.held_by_any_worker()
    unheld = [j for j in sending if j not in held]
    oldest = await store.now() - (s.connect_timeout_s + s.read_timeout_s + s.lease_s)
    claimed = [await store.redis.hget(store.keys.job(j), "tl") for j in unheld]
    orphans = [j for j, at in zip(unheld, claimed, strict=True) if at and float(at) < oldest]
    if not orphans:
        return
    log.warning("campaign %s stalled: settling %d job(s) left sending with no outcome",
                campaign_id, len(orphans))
    await store.hold(rt.worker_id, orphans)
    for job_id in orphans:
        await _settle_sending(rt, job_id, note="sending, outcome never recorded")
    await store.release(rt.worker_id, orphans)


async def _republish_unheld(rt: Runtime, campaign_id: str) -> None:
    store = rt.store
    queued = await store.ids_in_status(campaign_id, Status.QUEUED)
    skip = await store.held_by_any_worker() | await store.parked_ids(campaign_id)
    orphans = [j for j in queued if j not in skip]
    if orphans:
        log.warning("campaign %s stalled: publishing %d queued job(s) again", campaign_id,
                    len(orphans))
        await store.hold(rt.worker_id, orphans)
        await _publish_then_release(rt, orphans, orphans)
    await store.redis.hset(store.keys.campaign(campaign_id), "tp", f"{await store.now():.3f}")
