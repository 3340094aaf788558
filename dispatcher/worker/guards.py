"""Checks a worker makes after an outcome: auto-pause on a high permanent-failure rate.

A campaign that keeps failing permanently (e.g. a template the provider refuses, recipients
outside the 24-hour window) burns quota and reputation: once its permanent failures reach
``ap_rate`` of its finished jobs (sent or failed), after at least ``ap_min`` finished jobs, it
is paused with the reason, for a person to look at and resume or cancel. Both come from the
campaign file (``auto_pause``), defaulting to ``DEFAULT_AUTO_PAUSE_RATE`` and
``DEFAULT_AUTO_PAUSE_MIN``. Throttling never counts: a throttled job is retried, not failed, and
only permanent failures (``after_permanent_failure``) add to the ``pf`` counter.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dispatcher.campaign.spec import DEFAULT_AUTO_PAUSE_MIN, DEFAULT_AUTO_PAUSE_RATE
from dispatcher.store import CampaignState, campaign_of

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime

log = logging.getLogger("dispatcher.worker")
FINISHED = ("n:sent", "n:delivered", "n:read", "n:failed")


def failure_rate_exceeded(permanent: int, finished: int, rate: float, minimum: int) -> bool:
    return finished >= minimum and permanent > 0 and permanent >= rate * finished


async def after_permanent_failure(rt: Runtime, job_id: str) -> None:
    """Called after a job failed permanently (not for throttling)."""
    store = rt.store
    campaign_id = campaign_of(job_id)
    key = store.keys.campaign(campaign_id)
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "pf", 1)
        pipe.hmget(key, ["state", "ap_rate", "ap_min", *FINISHED])
        permanent, fields = await pipe.execute()
    state, rate, minimum, *finished = (
        x.decode() if isinstance(x, bytes) else x for x in fields)
    if state != CampaignState.RUNNING or rate == "off":
        return
    limit = float(rate) if rate else DEFAULT_AUTO_PAUSE_RATE
    at_least = int(minimum) if minimum else DEFAULT_AUTO_PAUSE_MIN
    done = sum(int(x or 0) for x in finished)
    if not failure_rate_exceeded(int(permanent), done, limit, at_least):
        return
    reason = (f"auto-paused: {int(permanent)} permanent failures in {done} finished jobs "
              f"(threshold {limit:.0%})")
    changed, _, _ = await store.set_campaign_state(
        campaign_id, [CampaignState.RUNNING], CampaignState.PAUSED, reason, rt.worker_id)
    if changed:
        log.warning("campaign %s %s", campaign_id, reason)
