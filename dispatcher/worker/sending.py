"""The send path of one job: skip if done, opt-out check and message built (per batch), sender
slot, claim with the recipient's pair slot, send at the slot, record.

Order matters. The claim (queued -> sending) comes right before the request: the limiter wakes
the job ``CLAIM_LEAD_S`` before its slot, the claim's round trip fits in that lead, and the
request goes out at the slot. So a job is only ``sending`` while a request for it may be on the
wire (a few ms at most): that is what lets a dead worker's ``sending`` jobs be called
``unknown`` (ambiguous) rather than resent blindly, and a paused campaign's jobs stay unsent.
The claim takes the recipient's pair slot in the same script: taken before a long wait for the
sender's slot, it could bring two messages to one recipient closer than the provider allows.
Every other step happens before the slot. A request that can't be written in time for its slot
is not sent late (it would reach the provider in a bunch with the next ones) but takes a new
slot: see ``_send_in_slot``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

from dispatcher.campaigns import pause_sender
from dispatcher.errors import ConfigError
from dispatcher.monitor.metrics import METRICS
from dispatcher.phone import mask_phone
from dispatcher.providers import ErrorClass, Provider, SendResult, SlotMissed
from dispatcher.ratelimit.limiter import PAIR_MARGIN_MS, Slot
from dispatcher.store import Status
from dispatcher.worker.guards import after_permanent_failure
from dispatcher.worker.render import message_for, suppress, suppressed_among
from dispatcher.worker.retry import backoff_delay
from dispatcher.worker.runtime import Runtime

log = logging.getLogger("dispatcher.worker")

SENT_FROM = (Status.SENDING, Status.UNKNOWN)  # a late success beats the reaper's "unknown"
# Answers that prove the message was not accepted: the recipient's pair slot is given back.
REFUSED = (ErrorClass.TRANSIENT, ErrorClass.THROTTLED_SENDER, ErrorClass.PERMANENT,
           ErrorClass.ACCOUNT)
# The claim is sent this long before the sender's slot comes, so its Redis round trip (0.2-5 ms
# under load) is not added to the slot: claimed after the slot, ~10% of slots at 1,000/s were
# missed (bench_ratelimit). Short enough that a paused campaign's claimed job is not held back.
CLAIM_LEAD_S = 0.003
SLOT_EARLY_S = 0.0005  # a request may leave this much before its slot (timer granularity)
# The claim holds the recipient's pair slot PAIR_MARGIN_MS over the interval: a send delayed by
# more than part of that (missed rate-limit slots) takes the pair slot again.
PAIR_HOLD_AFTER_S = PAIR_MARGIN_MS / 1000 / 2
_claim_numbers = itertools.count(1)  # with the worker id: a claim id unique per claim call


async def process_batch(rt: Runtime, job_ids: Sequence[str]) -> int:
    """Send every job of the batch that is still ``queued``; return how many were sent."""
    store = rt.store
    await store.hold(rt.worker_id, job_ids)
    records = await store.load(job_ids)
    queued = [(job_id, rec) for job_id, rec in zip(job_ids, records, strict=True)
              if rec is not None and rec.get("st") == Status.QUEUED]
    jobs = await prepare_batch(rt, queued)
    outcomes = await asyncio.gather(*(process_job(rt, *job) for job in jobs),
                                    return_exceptions=True)
    for (job_id, _, _), outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("job %s: unexpected error %s: %s", job_id, type(outcome).__name__, outcome)
    await store.release(rt.worker_id, job_ids)
    return sum(1 for outcome in outcomes if outcome is True)


async def prepare_batch(rt: Runtime, queued: list[tuple[str, dict[str, str]]]
                      ) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """The queued jobs with their messages built; opt-outs and unbuildable ones moved away."""
    suppressed = await suppressed_among(rt, [rec["to"] for _, rec in queued])
    await asyncio.gather(*(suppress(rt, job_id) for job_id, rec in queued
                           if rec["to"] in suppressed))
    ready = []
    for job_id, rec in queued:
        if rec["to"] in suppressed:
            continue
        message = await message_for(rt, job_id, rec)
        if message is not None:
            ready.append((job_id, rec, message))
    return ready


async def process_job(rt: Runtime, job_id: str, rec: dict[str, str],
                      message: dict[str, Any]) -> bool:
    """Wait for the sender's token, claim the job, send it and record the answer."""
    sender = rec["s"]
    async with rt.in_flight:
        limiter = rt.limiter
        waited_from = time.monotonic()
        slot = await limiter.reserve(sender, early_s=CLAIM_LEAD_S)
        METRICS.token_wait(sender, time.monotonic() - waited_from)
        claim_id = f"{rt.worker_id}.{next(_claim_numbers)}"
        claimed, info = await rt.store.claim(job_id, rt.worker_id,
                                             limiter.pair_key(sender, rec["to"]),
                                             limiter.pair_interval_ms, claim_id)
        if not claimed:
            if info.startswith("pair:"):  # the recipient must wait: others go on meanwhile
                await rt.store.move(job_id, [Status.QUEUED], Status.RETRYING,
                                    delay_s=int(info[5:]) / 1000, note="pair limit")
            return False
        try:
            provider = rt.provider_for(sender)
        except ConfigError as exc:
            METRICS.outcome("failed", sender, job_id, "config")
            await _fail(rt, job_id, "config", 0, str(exc))
            return False
        result = await _send_in_slot(rt, sender, rec["to"], slot, provider, message, job_id)
        METRICS.latency(sender, result.latency_s)
    await record(rt, job_id, rec, int(info), result)
    return result.ok


async def _send_in_slot(rt: Runtime, sender: str, recipient: str, slot: Slot,
                        provider: Provider, message: dict[str, Any], job_id: str) -> SendResult:
    """Send when the slot comes. A request that cannot be started by the slot's ``leave_by``
    (woken late, a slow claim) or written by its ``write_by`` (a new connection to open, a
    busy event loop) is not sent: a new slot is taken."""
    claimed_at = time.monotonic()
    while True:
        early = slot.due - time.monotonic()
        if early > SLOT_EARLY_S:  # the event loop's timers are ms-grained: sleep, then look again
            await asyncio.sleep(early)
            continue
        if time.monotonic() <= slot.leave_by:
            try:
                return await provider.send(message, job_id=job_id, leave_by=slot.write_by)
            except SlotMissed:
                pass
        METRICS.slot_missed(sender)
        slot = await rt.limiter.reserve(sender)
        if slot.due - claimed_at > PAIR_HOLD_AFTER_S:  # the pair interval counts from the send
            await rt.limiter.hold_pair(sender, recipient)


async def record(rt: Runtime, job_id: str, rec: dict[str, str], attempts: int,
                 result: SendResult) -> None:
    """Apply what the provider answered (providers.md §3 decides by class)."""
    sender = rec["s"]
    if result.ok:
        METRICS.outcome("sent", sender, job_id)
        await rt.store.move(job_id, SENT_FROM, Status.SENT,
                            fields={"pid": result.provider_message_id or "", "ecl": "", "eco": "",
                                    "etx": ""})
        await rt.limiter.on_success(sender)
        return
    error_class = result.error_class or ErrorClass.TRANSIENT
    if error_class in REFUSED:
        await rt.limiter.release_pair(sender, rec["to"])
    throttled = int(rec.get("thr", "0"))
    log.info("job %s to %s: %s %s %s", job_id, mask_phone(rec["to"]), error_class,
             result.error_code, result.error_text)
    if error_class is ErrorClass.THROTTLED_SENDER:
        METRICS.outcome("retried", sender, job_id, error_class)
        await rt.limiter.on_throttled(sender, result.retry_after)
        delay = backoff_delay(1, 1.0, 5.0, result.retry_after)
        await _retry(rt, job_id, result, delay, throttled + 1)
    elif error_class is ErrorClass.THROTTLED_RECIPIENT:
        METRICS.outcome("retried", sender, job_id, error_class)
        delay = await rt.limiter.on_recipient_throttled(sender, rec["to"], throttled + 1)
        await _retry(rt, job_id, result, delay, throttled + 1)
    elif error_class is ErrorClass.ACCOUNT:
        METRICS.outcome("parked", sender, job_id, error_class)
        await _park_for_account(rt, job_id, sender, result)
    elif error_class is ErrorClass.AMBIGUOUS and rt.settings.on_ambiguous == "fail":
        METRICS.outcome("unknown", sender, job_id, error_class)
        await rt.store.move(job_id, [Status.SENDING], Status.UNKNOWN, note=result.error_text,
                            fields=_error_fields(result))
    elif error_class is ErrorClass.PERMANENT:
        METRICS.outcome("failed", sender, job_id, error_class)
        await _fail(rt, job_id, str(error_class), result.error_code, result.error_text)
        await after_permanent_failure(rt, job_id)
    else:  # transient, or ambiguous under on_ambiguous = "retry"
        failures = attempts - throttled
        if failures >= rt.settings.max_attempts:
            METRICS.outcome("failed", sender, job_id, error_class)
            await _fail(rt, job_id, str(error_class), result.error_code,
                        f"attempts used up ({failures}): {result.error_text}")
            return
        METRICS.outcome("retried", sender, job_id, error_class)
        s = rt.settings
        delay = backoff_delay(failures, s.retry_base_s, s.retry_max_s, result.retry_after)
        await _retry(rt, job_id, result, delay, throttled)


def _error_fields(result: SendResult) -> dict[str, str | int | float]:
    return {"ecl": str(result.error_class or ""), "eco": result.error_code or "",
            "etx": result.error_text[:300]}


async def _retry(rt: Runtime, job_id: str, result: SendResult, delay: float,
                 throttled: int) -> None:
    fields = _error_fields(result)
    fields["thr"] = throttled
    await rt.store.move(job_id, [Status.SENDING], Status.RETRYING, delay_s=delay,
                        note=f"{result.error_class} {result.error_code}", fields=fields)


async def _fail(rt: Runtime, job_id: str, error_class: str, code: int | None,
                text: str) -> None:
    await rt.store.move(job_id, [Status.SENDING], Status.FAILED, note=f"{error_class} {code}",
                        fields={"ecl": error_class, "eco": code or "", "etx": text[:300]})


async def _park_for_account(rt: Runtime, job_id: str, sender: str, result: SendResult) -> None:
    """Stop the whole sender instead of failing every job: retrying only burns quota."""
    reason = f"account error {result.error_code}: {result.error_text}"[:300]
    await pause_sender(rt.store, sender, reason, rt.worker_id)
    await rt.store.move(job_id, [Status.SENDING], "parked", note=reason,
                        fields=_error_fields(result))
