"""``/metrics``: the shared worker metrics, queue depth and campaign counters, in Prometheus
text format. A snapshot is read from Redis (async), then a custom collector renders it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dispatcher.monitor.metrics import LATENCY_BUCKETS, OUTCOMES, metrics_key
from dispatcher.queue import queue_name
from dispatcher.store import JobStore, Status
from dispatcher.store.receipts import reply_counts_from

CAMPAIGNS_EXPOSED = 100
DOCS = {
    "sent": "Messages the provider accepted, by sender.",
    "failed": "Messages failed by the worker, by sender and error class.",
    "retried": "Send attempts scheduled for a retry, by sender and error class.",
    "unknown": "Sends with an ambiguous outcome recorded as unknown, by sender.",
    "parked": "Messages parked after an account error, by sender and error class.",
}


@dataclass
class Snapshot:
    fields: dict[str, float] = field(default_factory=dict)
    queue_depth: int = 0
    due: int = 0
    campaigns: dict[str, dict[str, str]] = field(default_factory=dict)


async def read_snapshot(store: JobStore, limit: int = CAMPAIGNS_EXPOSED) -> Snapshot:
    """Everything ``/metrics`` shows, in two round trips."""
    client: aioredis.Redis = store.redis
    ids = await store.campaign_ids(limit)
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(metrics_key(store.keys.prefix))
        pipe.llen(queue_name(store.keys.prefix))
        pipe.zcard(store.keys.due)
        for campaign_id in ids:
            pipe.hgetall(store.keys.campaign(campaign_id))
        raw = await pipe.execute()
    snap = Snapshot(fields={_s(k): float(v) for k, v in raw[0].items()},
                    queue_depth=int(raw[1]), due=int(raw[2]))
    for campaign_id, info in zip(ids, raw[3:], strict=True):
        if info:
            snap.campaigns[campaign_id] = {_s(k): _s(v) for k, v in info.items()}
    return snap


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        yield from self._outcomes()
        yield self._latency()
        wait = CounterMetricFamily("dispatcher_token_wait_seconds",
                                   "Seconds spent waiting for rate-limit tokens, by sender.",
                                   labels=["sender"])
        for sender, value in self._by_kind("wait").items():
            wait.add_metric([sender[0]], value)
        yield wait
        missed = CounterMetricFamily("dispatcher_rate_slots_missed",
                                     "Rate-limit slots given up because the request could not "
                                     "leave in time for them, by sender.", labels=["sender"])
        for sender, value in self._by_kind("missed").items():
            missed.add_metric([sender[0]], value)
        yield missed
        yield GaugeMetricFamily("dispatcher_queue_depth",
                                "Batch tasks waiting in the Celery queue.",
                                value=self.snap.queue_depth)
        yield GaugeMetricFamily("dispatcher_retry_due", "Jobs waiting for a retry.",
                                value=self.snap.due)
        yield from self._campaigns()

    def _by_kind(self, kind: str) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for name, value in self.snap.fields.items():
            parts = name.split("|")
            if len(parts) == 3 and parts[0] == kind:
                out[(parts[1], parts[2])] = value
        return out

    def _outcomes(self) -> Iterator[Metric]:
        for kind in OUTCOMES:
            labels = ["sender"] if kind in ("sent", "unknown") else ["sender", "error_class"]
            family = CounterMetricFamily(f"dispatcher_messages_{kind}", DOCS[kind],
                                         labels=labels)
            for (sender, error_class), value in sorted(self._by_kind(kind).items()):
                family.add_metric([sender, error_class][:len(labels)], value)
            yield family

    def _latency(self) -> Metric:
        family = HistogramMetricFamily("dispatcher_send_latency_seconds",
                                       "Provider request latency, by sender.", labels=["sender"])
        buckets = self._by_kind("lat")
        for sender in sorted({s for s, _ in buckets}):
            cumulative, points = 0.0, []
            for index, bound in enumerate((*LATENCY_BUCKETS, float("inf"))):
                cumulative += buckets.get((sender, str(index)), 0.0)
                points.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            total = self.snap.fields.get(f"latsum|{sender}|", 0.0)
            family.add_metric([sender], points, sum_value=total)
        return family

    def _campaigns(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("dispatcher_campaign_jobs",
                                 "Jobs of a campaign currently in each status (as `status`).",
                                 labels=["campaign", "status"])
        total = GaugeMetricFamily("dispatcher_campaign_total", "Input rows of a campaign.",
                                  labels=["campaign"])
        replies = GaugeMetricFamily("dispatcher_campaign_replies",
                                    "Users who picked each button or row.",
                                    labels=["campaign", "option"])
        for campaign_id, info in self.snap.campaigns.items():
            total.add_metric([campaign_id], float(info.get("total", 0)))
            for status in Status:
                count = max(0, int(info.get(f"n:{status.value}", 0)))
                jobs.add_metric([campaign_id, status.value], float(count))
            for option, data in reply_counts_from(info).items():
                replies.add_metric([campaign_id, option], float(data["count"]))
        yield jobs
        yield total
        yield replies


def render(snap: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    return generate_latest(registry)


async def metrics_text(store: JobStore) -> bytes:
    return render(await read_snapshot(store))
