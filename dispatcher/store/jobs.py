"""The job store: one Redis hash per job, one per campaign, transitions as Lua compare-and-set.

The job record, not the queue, decides whether a send happens: the queue may deliver a batch
twice, but only one worker can move a job from ``queued`` to ``sending`` (``claim.lua``), and a
job in ``sent`` or later is never claimed again. Campaign counters (``n:<status>`` fields) change
in the same script as the job's status, so they cannot drift apart.

Job hash fields: ``to`` recipient (E.164 digits), ``v`` the row's template values (a JSON array in
the campaign's variable order; the message template is stored once, in the campaign hash, and
rendered at send time), or ``p`` a whole payload (JSON, for producers of ready-made messages),
``st`` status, ``att`` attempts, ``thr`` attempts that were throttled, ``pid`` provider
message id, ``ecl``/``eco``/``etx`` last error class, code and text, ``t0`` created, ``t1`` first
attempt, ``tl`` last attempt, ``ts`` sent, ``tu`` last status change, ``due`` next retry,
``w`` worker of the last claim, ``ci`` its claim id. A campaign's jobs carry neither campaign
nor sender (``c``, ``s``: older records may): the campaign is in the job id, the sender in the
campaign; :meth:`JobStore.load` and :meth:`JobStore.job` fill them in. Keeping a queued job to
three short fields is what holds Redis memory under 512 bytes per job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, FieldT

from dispatcher.store.keys import CampaignState, Keys, Status, campaign_of, job_id_for

JOB_FIELDS = ("c", "s", "to", "p", "st", "att", "thr", "pid", "ecl", "eco", "etx", "t0", "t1",
              "tl", "ts", "tu", "due", "w")
LOAD_FIELDS = ("st", "s", "to", "v", "p", "att", "thr")
ADD_ROWS_MAX = 2000
"""Rows per ``add_rows.lua`` call: long enough to amortise the round trip, short enough not to
hold Redis for more than about a millisecond."""
CANCEL_CHUNK = 1000


def _lua(name: str) -> str:
    return resources.files("dispatcher.store").joinpath(name).read_text(encoding="utf-8")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class JobStore:
    """Async access to jobs and campaigns; every state change goes through a Lua script."""

    def __init__(self, client: aioredis.Redis, prefix: str = "dispatcher") -> None:
        self.redis = client
        self.keys = Keys(prefix)
        self._claim: AsyncScript = client.register_script(_lua("claim.lua"))
        self._move: AsyncScript = client.register_script(_lua("move.lua"))
        self._pop_due: AsyncScript = client.register_script(_lua("pop_due.lua"))
        self._heartbeat: AsyncScript = client.register_script(_lua("heartbeat.lua"))
        self._takeover: AsyncScript = client.register_script(_lua("takeover.lua"))
        self._set_state: AsyncScript = client.register_script(_lua("set_state.lua"))
        self._add_rows: AsyncScript = client.register_script(_lua("add_rows.lua"))
        self._cancel_jobs: AsyncScript = client.register_script(_lua("cancel_jobs.lua"))
        self._activate: AsyncScript = client.register_script(_lua("activate.lua"))
        self._senders: dict[str, str] = {}

    # -- campaigns -------------------------------------------------------------------------

    async def create_campaign(self, campaign_id: str, name: str, sender: str,
                              extra: dict[str, str] | None = None) -> None:
        """Write the campaign in state ``creating``: workers park its jobs until it runs."""
        now = await self.now()
        fields: dict[FieldT, EncodableT] = {
            "id": campaign_id, "name": name, "sender": sender, "created": f"{now:.3f}",
            "state": CampaignState.CREATING.value, "total": 0, "jobs": 0}
        fields.update(extra or {})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.campaign(campaign_id), mapping=fields)
            pipe.zadd(self.keys.campaigns, {campaign_id: now})
            pipe.sadd(self.keys.sender_campaigns(sender), campaign_id)
            await pipe.execute()

    async def add_jobs(self, campaign_id: str, sender: str, first_index: int,
                       rows: Sequence[tuple[str, str]], status: Status = Status.QUEUED) -> None:
        """Write job records ``(recipient, payload JSON)`` numbered from ``first_index``."""
        now = f"{await self.now():.3f}"
        async with self.redis.pipeline(transaction=False) as pipe:
            for offset, (to, payload) in enumerate(rows):
                job_id = job_id_for(campaign_id, first_index + offset)
                pipe.hset(self.keys.job(job_id), mapping={
                    "c": campaign_id, "s": sender, "to": to, "p": payload,
                    "st": status.value, "att": 0, "t0": now})
            pipe.hincrby(self.keys.campaign(campaign_id), f"n:{status.value}", len(rows))
            pipe.hincrby(self.keys.campaign(campaign_id), "jobs", len(rows))
            await pipe.execute()

    async def add_rows(self, campaign_id: str, field: str,
                       rows: Sequence[tuple[str, str]]) -> str:
        """Write ``(recipient, payload)`` rows of a campaign being created (``add_rows.lua``).

        ``field`` is ``"v"`` (template values) or ``"p"`` (a whole message). Returns one flag
        per row: ``a`` accepted, ``d`` duplicate of an earlier row, ``s`` on the global opt-out
        list. Duplicates are found against the campaign's ``seen`` set, dropped by
        :meth:`finish_creating`.
        """
        args: list[str] = [self.keys.job_prefix(campaign_id), field]
        for to, payload in rows:
            args.append(to)
            args.append(payload)
        raw = await self._add_rows(
            keys=[self.keys.campaign(campaign_id), self.keys.seen(campaign_id),
                  self.keys.suppressed], args=args)
        return _text(raw)

    async def finish_creating(self, campaign_id: str) -> None:
        """Drop what only creation needed (the duplicates set)."""
        await self.redis.unlink(self.keys.seen(campaign_id))

    async def delete_campaign(self, campaign_id: str) -> None:
        """Remove a campaign that failed while being created (nothing of it was published)."""
        info = await self.redis.hgetall(self.keys.campaign(campaign_id))
        total = int(info.get(b"jobs", 0))
        sender = _text(info.get(b"sender", b""))
        for start in range(1, total + 1, 10_000):
            async with self.redis.pipeline(transaction=False) as pipe:
                for index in range(start, min(total, start + 9_999) + 1):
                    pipe.delete(self.keys.job(job_id_for(campaign_id, index)))
                await pipe.execute()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.keys.campaign(campaign_id))
            pipe.delete(self.keys.seen(campaign_id))
            pipe.zrem(self.keys.campaigns, campaign_id)
            pipe.zrem(self.keys.scheduled, campaign_id)
            pipe.srem(self.keys.sender_campaigns(sender), campaign_id)
            await pipe.execute()

    async def cancel_waiting(self, campaign_id: str) -> int:
        """Mark the campaign's queued, parked and due jobs ``cancelled``; return how many."""
        jobs = int(await self.redis.hget(self.keys.campaign(campaign_id), "jobs") or 0)
        keys = [self.keys.campaign(campaign_id), self.keys.due, self.keys.parked(campaign_id)]
        prefixes = [self.keys.job_prefix(campaign_id), self.keys.history_prefix(campaign_id),
                    campaign_id]
        cancelled = 0
        for first in range(1, jobs + 1, CANCEL_CHUNK):
            last = min(jobs, first + CANCEL_CHUNK - 1)
            cancelled += int(await self._cancel_jobs(keys=keys, args=[*prefixes, first, last]))
        return cancelled

    async def schedule(self, campaign_id: str, send_at: float) -> None:
        await self.redis.zadd(self.keys.scheduled, {campaign_id: send_at})

    async def unschedule(self, campaign_id: str) -> None:
        await self.redis.zrem(self.keys.scheduled, campaign_id)

    async def activate_due(self) -> tuple[str, int, bool] | None:
        """Take the next scheduled campaign that is due: (id, jobs, activated here)."""
        raw = await self._activate(keys=[self.keys.scheduled, self.keys.active],
                                   args=[self.keys.campaign("")])
        if not raw:
            return None
        return _text(raw[0]), int(raw[1]), bool(int(raw[2]))

    async def campaign_sender(self, campaign_id: str) -> str:
        """The campaign's sender (cached: it never changes)."""
        sender = self._senders.get(campaign_id)
        if sender is None:
            sender = _text(await self.redis.hget(self.keys.campaign(campaign_id), "sender")
                           or b"")
            if len(self._senders) > 10_000:
                self._senders.clear()
            self._senders[campaign_id] = sender
        return sender

    async def set_campaign_state(self, campaign_id: str, allowed: Iterable[CampaignState],
                                 state: CampaignState, reason: str, worker_id: str
                                 ) -> tuple[bool, str, list[str]]:
        """Compare-and-set the campaign state; on ``running``, return the parked job ids.

        The parked ids are moved into ``worker_id``'s held set: the caller publishes them and
        then releases them, and the reaper covers a caller that dies in between.
        """
        raw = await self._set_state(
            keys=[self.keys.campaign(campaign_id), self.keys.parked(campaign_id),
                  self.keys.held(worker_id), self.keys.active],
            args=[",".join(s.value for s in allowed), state.value, reason, campaign_id])
        return bool(int(raw[0])), _text(raw[1]), [_text(x) for x in raw[2:]]

    async def campaign(self, campaign_id: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(self.keys.campaign(campaign_id))
        return {_text(k): _text(v) for k, v in raw.items()} or None

    async def sender_campaign_ids(self, sender: str) -> list[str]:
        members = await self.redis.smembers(self.keys.sender_campaigns(sender))
        return sorted(_text(x) for x in members)

    async def active_campaign_ids(self) -> list[str]:
        """Campaigns that ran at some point and were not yet seen finished by the sweeper."""
        return sorted(_text(x) for x in await self.redis.smembers(self.keys.active))

    async def campaign_ids(self, limit: int = 100) -> list[str]:
        return [_text(x) for x in await self.redis.zrevrange(self.keys.campaigns, 0, limit - 1)]

    # -- jobs ------------------------------------------------------------------------------

    async def load(self, job_ids: Sequence[str]) -> list[dict[str, str] | None]:
        """Fetch the fields a worker needs for each job, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(self.keys.job(job_id), LOAD_FIELDS)
            rows = await pipe.execute()
        out: list[dict[str, str] | None] = []
        for job_id, row in zip(job_ids, rows, strict=True):
            if row[0] is None:
                out.append(None)
                continue
            rec = {k: _text(v) for k, v in zip(LOAD_FIELDS, row, strict=True) if v is not None}
            if "s" not in rec:
                rec["s"] = await self.campaign_sender(campaign_of(job_id))
            out.append(rec)
        return out

    async def job(self, job_id: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(self.keys.job(job_id))
        rec = {_text(k): _text(v) for k, v in raw.items()}
        if not rec:
            return None
        rec.setdefault("c", campaign_of(job_id))
        if "s" not in rec:
            rec["s"] = await self.campaign_sender(rec["c"])
        return rec

    async def history(self, job_id: str) -> list[str]:
        return [_text(x) for x in await self.redis.lrange(self.keys.history(job_id), 0, -1)]

    async def claim(self, job_id: str, worker_id: str, pair_key: str | None = None,
                    pair_interval_ms: int = 0, claim_id: str = "") -> tuple[bool, str]:
        """queued -> sending, only while the campaign runs. Returns (claimed, attempts|reason).

        With ``pair_key`` the recipient's pair slot is checked and taken in the same script:
        a busy slot answers ``(False, "pair:<ms until free>")`` and leaves the job queued.
        ``claim_id`` (unique per call) makes a resent claim (Redis restarted before replying)
        find its own claim instead of being refused.
        """
        cid = campaign_of(job_id)
        keys = [self.keys.job(job_id), self.keys.campaign(cid), self.keys.parked(cid),
                self.keys.history(job_id)]
        args: list[str | int] = [worker_id, job_id, claim_id, max(1, pair_interval_ms)]
        if pair_key is not None:
            keys.append(pair_key)
        raw = await self._claim(keys=keys, args=args)
        return bool(int(raw[0])), _text(raw[1])

    async def move(self, job_id: str, allowed: Iterable[Status], to: Status | str, *,
                   delay_s: float | None = None, note: str = "",
                   fields: dict[str, str | int | float] | None = None) -> tuple[bool, str]:
        """Compare-and-set ``allowed -> to``. ``to="parked"`` re-queues into the parked set.

        Returns (moved, previous status). ``delay_s`` schedules the job in the due set.
        """
        cid = campaign_of(job_id)
        args: list[str | int | float] = [
            ",".join(s.value for s in allowed), str(to),
            "" if delay_s is None else f"{delay_s:.3f}", note, job_id]
        for name, value in (fields or {}).items():
            args.extend((name, value))
        raw = await self._move(
            keys=[self.keys.job(job_id), self.keys.campaign(cid), self.keys.history(job_id),
                  self.keys.due, self.keys.parked(cid), self.keys.exceptions_prefix(cid),
                  self.keys.provider_ids_prefix],
            args=args)
        return bool(int(raw[0])), _text(raw[1])

    async def job_for_provider_id(self, provider_id: str, days: int = 35) -> str | None:
        """The job that was sent as ``provider_id`` (the join key of replies), or None."""
        today = int(await self.now() // 86400)
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in range(today, today - days, -1):
                pipe.hget(f"{self.keys.provider_ids_prefix}{day}", provider_id)
            found = await pipe.execute()
        return next((_text(j) for j in found if j is not None), None)

    async def ids_in_status(self, campaign_id: str, status: Status) -> list[str]:
        """Job ids of a campaign in ``status`` (an index for failed/unknown, a walk otherwise)."""
        if status in (Status.FAILED, Status.UNKNOWN):
            members = await self.redis.smembers(self.keys.exceptions_prefix(campaign_id) + status)
            return sorted((_text(x) for x in members), key=lambda j: int(j.rsplit(".", 1)[1]))
        info = await self.campaign(campaign_id) or {}
        ids = [job_id_for(campaign_id, i) for i in range(1, int(info.get("jobs", 0)) + 1)]
        found: list[str] = []
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in chunk:
                    pipe.hget(self.keys.job(job_id), "st")
                statuses = await pipe.execute()
            found.extend(j for j, s in zip(chunk, statuses, strict=True)
                         if s is not None and _text(s) == status)
        return found

    # -- retries, workers and leases -------------------------------------------------------

    async def pop_due(self, worker_id: str, limit: int) -> list[str]:
        raw = await self._pop_due(keys=[self.keys.due, self.keys.held(worker_id)], args=[limit])
        return [_text(x) for x in raw]

    async def hold(self, worker_id: str, job_ids: Sequence[str]) -> None:
        if job_ids:
            await self.redis.sadd(self.keys.held(worker_id), *job_ids)

    async def release(self, worker_id: str, job_ids: Sequence[str]) -> None:
        if job_ids:
            await self.redis.srem(self.keys.held(worker_id), *job_ids)

    async def heartbeat(self, worker_id: str, lease_s: float) -> list[str]:
        """Mark ``worker_id`` alive; return the workers silent for longer than ``lease_s``."""
        raw = await self._heartbeat(keys=[self.keys.workers], args=[worker_id, lease_s])
        return [_text(x) for x in raw if _text(x) != worker_id]

    async def takeover(self, dead_worker: str, worker_id: str, lease_s: float) -> list[str]:
        raw = await self._takeover(
            keys=[self.keys.workers, self.keys.held(dead_worker), self.keys.held(worker_id)],
            args=[dead_worker, lease_s])
        return [_text(x) for x in raw]

    async def held_by_any_worker(self) -> set[str]:
        """Every job id some registered worker holds (a handful of small sets)."""
        held: set[str] = set()
        for worker_id in await self.redis.zrange(self.keys.workers, 0, -1):
            members = await self.redis.smembers(self.keys.held(_text(worker_id)))
            held.update(_text(m) for m in members)
        return held

    async def parked_ids(self, campaign_id: str) -> set[str]:
        return {_text(m) for m in await self.redis.smembers(self.keys.parked(campaign_id))}

    async def forget_worker(self, worker_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self.keys.workers, worker_id)
            pipe.delete(self.keys.held(worker_id))
            await pipe.execute()

    async def now(self) -> float:
        """Redis' clock: host clocks may disagree, Redis' is the one every worker shares."""
        seconds, micros = await self.redis.time()
        return float(seconds) + micros / 1e6
