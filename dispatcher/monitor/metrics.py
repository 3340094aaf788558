"""Worker metrics, shared through Redis, and their Prometheus exposition.

Workers are separate processes (and hosts), so each process aggregates locally (counters by
sender and error class, a send-latency histogram with fixed buckets, seconds spent waiting for
rate-limit tokens, messages sent per campaign) and a background loop flushes the increments to
Redis once a second in one pipeline: no extra round trip per message. The ``/metrics`` route reads
the shared hash, the queue depth and the campaign counters, and renders them with
``prometheus_client``.

Redis layout: hash ``<p>:metrics`` with fields ``<kind>|<sender>|<error class>`` (counters),
``lat|<sender>|<bucket index>`` / ``latsum|<sender>|`` / ``latcount|<sender>|`` (histogram) and
``wait|<sender>|`` (token wait seconds); per campaign, ``<p>:mx:rate:<campaign>:<5 s bucket>``
counts of messages sent, kept a few minutes, for the send rate over the last minute.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from dispatcher.store.keys import campaign_of

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = ("sent", "failed", "retried", "unknown", "parked")
RATE_BUCKET_S = 5
RATE_WINDOW_S = 60
RATE_KEEP_S = 300
FLUSH_PERIOD_S = 1.0


def metrics_key(prefix: str) -> str:
    return f"{prefix}:metrics"


def rate_key(prefix: str, campaign_id: str, bucket: int) -> str:
    return f"{prefix}:mx:rate:{campaign_id}:{bucket}"


class WorkerMetrics:
    """One process's increments since the last flush (observed and flushed on the loop thread)."""

    def __init__(self) -> None:
        self._fields: defaultdict[str, float] = defaultdict(float)
        self._rates: Counter[tuple[str, int]] = Counter()

    def outcome(self, kind: str, sender: str, job_id: str, error_class: object = "") -> None:
        """Count one send outcome: ``sent``, ``failed``, ``retried``, ``unknown`` or ``parked``."""
        self._fields[f"{kind}|{sender}|{error_class or ''}"] += 1
        if kind == "sent":
            bucket = int(time.time() // RATE_BUCKET_S)
            self._rates[(campaign_of(job_id), bucket)] += 1

    def latency(self, sender: str, seconds: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        self._fields[f"lat|{sender}|{index}"] += 1
        self._fields[f"latsum|{sender}|"] += seconds
        self._fields[f"latcount|{sender}|"] += 1

    def token_wait(self, sender: str, seconds: float) -> None:
        if seconds > 0:
            self._fields[f"wait|{sender}|"] += seconds

    def slot_missed(self, sender: str) -> None:
        """A rate-limit slot given up: the request could not leave in time for it."""
        self._fields[f"missed|{sender}|"] += 1

    def drain(self) -> tuple[dict[str, float], Counter[tuple[str, int]]]:
        fields, rates = self._fields, self._rates
        self._fields, self._rates = defaultdict(float), Counter()
        return fields, rates


METRICS = WorkerMetrics()  # the process's aggregator (one worker runtime per process)


async def flush(client: aioredis.Redis, prefix: str, metrics: WorkerMetrics = METRICS) -> int:
    """Add the pending increments to Redis in one pipeline; return how many fields changed."""
    fields, rates = metrics.drain()
    if not fields and not rates:
        return 0
    try:
        async with client.pipeline(transaction=False) as pipe:
            for name, value in fields.items():
                pipe.hincrbyfloat(metrics_key(prefix), name, value)
            for (campaign_id, bucket), count in rates.items():
                key = rate_key(prefix, campaign_id, bucket)
                pipe.incrby(key, count)
                pipe.expire(key, RATE_KEEP_S)
            await pipe.execute()
    except BaseException:
        for name, value in fields.items():  # keep them for the next flush
            metrics._fields[name] += value
        metrics._rates.update(rates)
        raise
    return len(fields) + len(rates)


async def flush_metrics(rt: Runtime) -> bool:
    """The worker's background step (``recovery.background_loops``)."""
    await flush(rt.redis, rt.settings.key_prefix)
    return False


async def send_rate(client: aioredis.Redis, prefix: str, campaign_id: str,
                    now: float | None = None, since: float = 0.0) -> float:
    """Messages sent per second over the last minute (the current bucket counts in part), or
    since ``since`` (the campaign's start) when that is more recent."""
    now = time.time() if now is None else now
    last = int(now // RATE_BUCKET_S)
    first = last - RATE_WINDOW_S // RATE_BUCKET_S + 1
    values = await client.mget([rate_key(prefix, campaign_id, b) for b in range(first, last + 1)])
    sent = sum(int(v) for v in values if v is not None)
    elapsed = max(1.0, now - max(first * RATE_BUCKET_S, since))
    return sent / elapsed
