"""The monitoring library and CLI: status shape and counts, the send rate, jobs and history,
export neutralising, and the worker metrics' flush and Prometheus exposition."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from test_api import seed
from typer.testing import CliRunner

import dispatcher.cli.monitor  # noqa: F401  (registers the commands)
from dispatcher.campaigns import campaign_status
from dispatcher.cli.app import app as cli_app
from dispatcher.monitor import list_campaigns, neutralise
from dispatcher.monitor.exposition import metrics_text
from dispatcher.monitor.metrics import WorkerMetrics, flush, send_rate
from dispatcher.store import JobStore

T = TypeVar("T")


def run(redis_url: str, action: Callable[[JobStore], Awaitable[T]]) -> T:
    async def go() -> T:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await action(JobStore(client))
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.fixture()
def seeded(redis_url: str, redis_client: redis.Redis,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    seed(redis_client)
    monkeypatch.setenv("DISPATCHER_REDIS_URL", redis_url)
    yield redis_url


def cli(*args: str) -> Any:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_neutralise_only_touches_formula_starts() -> None:
    for cell in ("=1+2", "+91", "-3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    for cell in ("918856879188", "hello = world", "", "'already"):
        assert neutralise(cell) == cell


def test_list_view_agrees_with_campaign_status(seeded: str) -> None:
    listed = run(seeded, list_campaigns)
    reference = run(seeded, lambda store: campaign_status(store, "c1"))
    for key in ("campaign_id", "name", "state", "total", "counts"):
        assert listed[0][key] == reference[key]


def test_status_json_shape_and_text(seeded: str) -> None:
    data = json.loads(cli("status", "c1", "--json"))
    assert list(data)[:4] == ["campaign_id", "name", "sender", "state"]
    assert sum(data["counts"].values()) == data["total"]
    for key in ("rate_per_s", "eta_s", "failures", "replies", "reached", "pending", "progress"):
        assert key in data
    text = cli("status", "c1")
    assert "Spring sale" in text and "131026" in text and "Growth Plan" in text
    listed = json.loads(cli("status", "--json"))["campaigns"]
    assert listed[0]["campaign_id"] == "c1"
    assert "Spring" in cli("status")


def test_status_of_a_missing_campaign_is_one_line(seeded: str) -> None:
    result = CliRunner().invoke(cli_app, ["status", "nope", "--json"])
    assert result.exit_code != 0 and "nope" in str(result.exception)


def test_jobs_job_and_export_commands(seeded: str, tmp_path: Any) -> None:
    page = json.loads(cli("jobs", "c1", "--status", "failed", "--json"))
    assert [j["job_id"] for j in page["jobs"]] == ["c1.4", "c1.10"]
    assert "c1.4" in cli("jobs", "c1", "--status", "failed")
    details = json.loads(cli("job", "c1.4", "--json"))
    assert details["error"]["code"] == "131026" and len(details["history"]) == 2
    assert "history" in cli("job", "c1.4")
    target = tmp_path / "out.csv"
    cli("export", "c1", "--format", "csv", "-o", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 12 and rows[3]["error_text"].startswith("'=")
    lines = cli("export", "c1", "--format", "jsonl").splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["job_id"] == "c1.1"


def test_send_rate_counts_the_last_minute(redis_url: str, redis_client: redis.Redis) -> None:
    metrics = WorkerMetrics()
    for _ in range(120):
        metrics.outcome("sent", "default", "c1.1")
    now = time.time()

    async def go(store: JobStore) -> float:
        await flush(store.redis, "dispatcher", metrics)
        return await send_rate(store.redis, "dispatcher", "c1", now)

    rate = run(redis_url, go)
    assert 120 / 60 <= rate <= 120 / 55 + 0.01


def test_metrics_flush_and_exposition(seeded: str) -> None:
    metrics = WorkerMetrics()
    for latency in (0.003, 0.02, 0.02, 0.7):
        metrics.latency("default", latency)
        metrics.outcome("sent", "default", "c1.1")
    metrics.outcome("failed", "default", "c1.4", "permanent")
    metrics.outcome("retried", "default", "c1.5", "transient")
    metrics.token_wait("default", 0.25)

    async def go(store: JobStore) -> str:
        assert await flush(store.redis, "dispatcher", metrics) > 0
        assert await flush(store.redis, "dispatcher", metrics) == 0  # nothing new: no writes
        await store.redis.rpush("dispatcher.send", "task1", "task2")
        return (await metrics_text(store)).decode()

    text = run(seeded, go)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("dispatcher_messages_sent_total", (("sender", "default"),))] == 4
    assert samples[("dispatcher_messages_failed_total",
                    (("error_class", "permanent"), ("sender", "default")))] == 1
    assert samples[("dispatcher_messages_retried_total",
                    (("error_class", "transient"), ("sender", "default")))] == 1
    assert samples[("dispatcher_token_wait_seconds_total", (("sender", "default"),))] == 0.25
    bucket = "dispatcher_send_latency_seconds_bucket"
    assert samples[(bucket, (("le", "0.005"), ("sender", "default")))] == 1
    assert samples[(bucket, (("le", "0.025"), ("sender", "default")))] == 3
    assert samples[(bucket, (("le", "+Inf"), ("sender", "default")))] == 4
    assert samples[("dispatcher_send_latency_seconds_count", (("sender", "default"),))] == 4
    assert samples[("dispatcher_queue_depth", ())] == 2
    status = run(seeded, lambda store: campaign_status(store, "c1"))
    for name, count in status["counts"].items():
        key = ("dispatcher_campaign_jobs", (("campaign", "c1"), ("status", name)))
        assert samples[key] == count
    assert samples[("dispatcher_campaign_replies",
                    (("campaign", "c1"), ("option", "btn_growth")))] == 1


def test_watch_redraws_until_the_campaign_ends(seeded: str, redis_client: redis.Redis) -> None:
    redis_client.hset("dispatcher:campaign:c1", "state", "cancelled")
    started = time.monotonic()
    output = cli("status", "c1", "--watch")
    assert "cancelled" in output and "Spring sale" in output
    assert time.monotonic() - started < 5
