"""Delivery receipts and replies from the provider's webhooks, applied to the job records.

Statuses move a job forward only (``sent -> delivered -> read``; ``failed`` only before
delivery) and change the campaign counters in the same Lua step, so a replayed or late
notification changes nothing. A status for a job still ``sending`` (the webhook can beat the
worker's own record) or ``unknown``/``retrying`` (an ambiguous attempt that did get through) moves
it too, and records the provider id, so the job is not sent again.

Replies are joined to their job by ``context.id``, the provider message id indexed when the job
became ``sent``; each job keeps one current choice, counted per option in the campaign hash.
A whole webhook POST is applied in one pipelined round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from dispatcher.store.keys import Keys

MAX_ERROR_TEXT = 300


def _lua(name: str) -> str:
    return resources.files("dispatcher.store").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One entry of ``statuses``: ``job_id`` from ``biz_opaque_callback_data`` (may be '')."""

    job_id: str
    provider_id: str
    status: str
    timestamp: str
    error_code: str = ""
    error_text: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """A user's button or list choice; ``context_id`` is the provider id of our message."""

    context_id: str
    reply_id: str
    option_id: str
    title: str
    timestamp: str


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    ignored: int = 0
    missing: int = 0

    def add(self, raw: Sequence[int]) -> None:
        self.applied += int(raw[0])
        self.ignored += int(raw[1])
        self.missing += int(raw[2])


class ReceiptStore:
    """Applies webhook statuses and replies (``receipt_status.lua``, ``receipt_reply.lua``)."""

    def __init__(self, client: aioredis.Redis, prefix: str = "dispatcher") -> None:
        self.redis = client
        self.keys = Keys(prefix)
        self._status: AsyncScript = client.register_script(_lua("receipt_status.lua"))
        self._reply: AsyncScript = client.register_script(_lua("receipt_reply.lua"))

    def _prefixes(self) -> tuple[str, str, str]:
        return self.keys.job(""), self.keys.campaign(""), self.keys.history("")

    async def apply(self, statuses: Sequence[StatusUpdate], replies: Sequence[Reply],
                    chunk: int = 500) -> tuple[ApplyResult, ApplyResult]:
        """Apply everything in one pipelined round trip (Lua calls of ``chunk`` items each)."""
        job, campaign, history = self._prefixes()
        status_keys = [job, campaign, history, f"{self.keys.prefix}:cst:",
                       self.keys.provider_ids_prefix]
        reply_keys = [job, campaign, history, self.keys.provider_ids_prefix]
        calls: list[str] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(statuses), chunk):
                args: list[str] = []
                for s in statuses[start:start + chunk]:
                    args += [s.job_id, s.provider_id, s.status, s.timestamp, s.error_code,
                             s.error_text[:MAX_ERROR_TEXT]]
                await self._status(keys=status_keys, args=args, client=pipe)
                calls.append("status")
            for start in range(0, len(replies), chunk):
                args = []
                for r in replies[start:start + chunk]:
                    args += [r.context_id, r.reply_id, r.option_id, r.title, r.timestamp]
                await self._reply(keys=reply_keys, args=args, client=pipe)
                calls.append("reply")
            raw = await pipe.execute() if calls else []
        applied_statuses, applied_replies = ApplyResult(), ApplyResult()
        for kind, result in zip(calls, raw, strict=True):
            (applied_statuses if kind == "status" else applied_replies).add(result)
        return applied_statuses, applied_replies

    async def reply_counts(self, campaign_id: str) -> dict[str, dict[str, str | int]]:
        """``{option id: {"title", "count"}}`` for the campaign, most picked first."""
        raw = await self.redis.hgetall(self.keys.campaign(campaign_id))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return reply_counts_from(fields)


def reply_counts_from(fields: dict[str, str]) -> dict[str, dict[str, str | int]]:
    """Reply counts from the campaign hash's ``r:``/``rt:`` fields (zero counts dropped)."""
    counts = {k[2:]: int(v) for k, v in fields.items() if k.startswith("r:")}
    ordered = sorted(((o, n) for o, n in counts.items() if n > 0), key=lambda x: (-x[1], x[0]))
    return {o: {"title": fields.get(f"rt:{o}", ""), "count": n} for o, n in ordered}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
