"""Campaigns scheduled for later (``send_at``): started when due, by whichever worker looks.

The producer writes a scheduled campaign's jobs, sets it ``scheduled`` and adds it to the
``<prefix>:scheduled`` sorted set (score: ``send_at``), publishing nothing: no Celery ETA hours
ahead, no broker message sitting past its visibility timeout. Every worker calls
:func:`activate_due_once` each second; it costs one small script call when nothing is due.
``activate.lua`` removes the campaign from the set and makes it ``running`` in one step, so only
the worker that removed it publishes its jobs (ids ``<campaign>.1`` to ``<campaign>.<jobs>``).
A worker that dies while publishing is covered by the sweeper, which republishes the queued
jobs of a running campaign that made no progress.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from dispatcher.queue import publish
from dispatcher.store.keys import job_id_for

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime

log = logging.getLogger("dispatcher.worker")
POLL_S = 1.0


async def activate_due_once(rt: Runtime) -> bool:
    """Start the scheduled campaigns whose time has come; True when there may be more."""
    taken = await rt.store.activate_due()
    if taken is None:
        return False
    campaign_id, jobs, activated = taken
    if activated:
        log.info("campaign %s: send_at reached, publishing %d job(s)", campaign_id, jobs)
        ids = (job_id_for(campaign_id, i) for i in range(1, jobs + 1))
        await asyncio.to_thread(publish, rt.celery, ids, rt.settings.batch_size)
    return True
