"""The dispatch pipeline end to end: real redis-server, real `dispatcher worker` processes, the
sandbox provider over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.testing import button_messages, enqueue, jobs, recipient, status, wait_until

pytestmark = pytest.mark.slow

FAST_RETRIES = {
    "DISPATCHER_RATE_LIMIT": "3000",
    "DISPATCHER_RETRY_BASE_S": "0.05",
    "DISPATCHER_RETRY_MAX_S": "0.5",
    "DISPATCHER_MAX_ATTEMPTS": "30",
    "DISPATCHER_LEASE_S": "4",
    "DISPATCHER_READ_TIMEOUT_S": "3",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("logs")
    with LocalStack(workers=2, concurrency=4, sandbox=SandboxConfig(latency_ms=5, seed=7),
                    settings_env=FAST_RETRIES, log_dir=logs) as running:
        running.wait_workers_ready()
        yield running


@pytest.fixture(autouse=True)
def _clean_sandbox(stack: LocalStack) -> None:
    assert stack.sandbox_process is not None
    stack.sandbox_process.reset()
    stack.sandbox_process.clear_faults()
    stack.sandbox_process.update_config(fail_rate=0.0)


def test_every_message_sent_exactly_once(stack: LocalStack) -> None:
    result = enqueue(stack, button_messages(2000), name="two thousand")
    assert result.accepted == 2000 and result.rejected == 0
    final = wait_until(stack, result.campaign_id, {"done"}, timeout_s=120)
    assert final["counts"]["sent"] == 2000
    stats = stack.sandbox_process.stats()  # type: ignore[union-attr]
    assert stats["accepted"] == 2000
    assert stats["duplicates_by_key"] == 0
    assert stats["duplicates_by_recipient"] == 0
    records = jobs(stack, result.campaign_id)
    assert all(r["st"] == "sent" and r["pid"].startswith("wamid.") for r in records)
    received = {m["key"]: m["message_id"] for m in stack.sandbox_process.messages()}  # type: ignore[union-attr]
    assert {r["id"]: r["pid"] for r in records} == received


def test_transient_errors_are_retried_until_sent(stack: LocalStack) -> None:
    stack.sandbox_process.update_config(fail_rate=0.3)  # type: ignore[union-attr]
    result = enqueue(stack, button_messages(300, start=5000), name="flaky")
    final = wait_until(stack, result.campaign_id, {"done"}, timeout_s=120)
    assert final["counts"]["sent"] == 300
    stats = stack.sandbox_process.stats()  # type: ignore[union-attr]
    assert stats["rejected"].get("503", 0) > 30
    assert stats["duplicates_by_key"] == 0
    attempts = [int(r["att"]) for r in jobs(stack, result.campaign_id)]
    assert max(attempts) > 1 and sum(attempts) == 300 + stats["rejected"]["503"]


def test_permanent_error_fails_the_job_with_its_reason(stack: LocalStack) -> None:
    bad = recipient(7001)
    stack.sandbox_process.set_faults([  # type: ignore[union-attr]
        {"to": bad, "status": 400, "code": 131026, "message": "Message undeliverable"}])
    result = enqueue(stack, button_messages(20, start=7000), name="one undeliverable")
    final = wait_until(stack, result.campaign_id, {"done"}, timeout_s=60)
    assert final["counts"]["sent"] == 19 and final["counts"]["failed"] == 1
    failed = [r for r in jobs(stack, result.campaign_id) if r["st"] == "failed"]
    assert failed[0]["to"] == bad
    assert failed[0]["eco"] == "131026" and failed[0]["ecl"] == "permanent"
    assert "undeliverable" in failed[0]["etx"].lower()
    assert failed[0]["att"] == "1"


def test_account_error_pauses_the_campaign_instead_of_failing_jobs(stack: LocalStack) -> None:
    sandbox = stack.sandbox_process
    assert sandbox is not None
    sandbox.set_faults([{"to": None, "status": 401, "code": 190,
                         "message": "Invalid OAuth access token"}])
    result = enqueue(stack, button_messages(50, start=8000), name="bad token")
    paused = wait_until(stack, result.campaign_id, {"paused"}, timeout_s=30)
    assert "190" in paused["reason"]
    time.sleep(1.0)
    settled = status(stack, result.campaign_id)
    assert settled["counts"]["failed"] == 0 and settled["counts"]["sent"] == 0
    sandbox.clear_faults()
    _resume(stack, result.campaign_id)
    final = wait_until(stack, result.campaign_id, {"done"}, timeout_s=60)
    assert final["counts"]["sent"] == 50


def _resume(stack: LocalStack, campaign_id: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dispatcher", "resume", campaign_id],
                          env=stack.env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_killed_workers_lose_nothing_and_send_nothing_twice(stack: LocalStack) -> None:
    sandbox = stack.sandbox_process
    assert sandbox is not None
    sandbox.update_config(latency_ms=40)
    try:
        result = enqueue(stack, button_messages(4000, start=20000), name="crash")
        for _ in range(2):
            time.sleep(1.5)
            victim = stack.worker_processes[0]
            victim.kill()
            stack.worker_processes.remove(victim)
            stack.add_worker()
        final = wait_until(stack, result.campaign_id, {"done"}, timeout_s=180)
    finally:
        sandbox.update_config(latency_ms=5)
    counts = final["counts"]
    assert counts["sent"] + counts["unknown"] == 4000
    assert counts["queued"] == counts["sending"] == counts["retrying"] == 0
    received: dict[str, int] = {}
    for message in sandbox.messages():
        received[message["key"]] = received.get(message["key"], 0) + 1
    assert max(received.values()) == 1
    assert sandbox.stats()["duplicates_by_key"] == 0
    for record in jobs(stack, result.campaign_id):
        if record["st"] == "sent":
            assert received.get(record["id"]) == 1
        else:
            assert record["st"] == "unknown" and received.get(record["id"], 0) <= 1


def test_provider_ids_lead_back_to_their_jobs(stack: LocalStack) -> None:
    import asyncio

    import redis.asyncio as aioredis

    from dispatcher.store import JobStore

    result = enqueue(stack, button_messages(5, start=9000), name="ids")
    wait_until(stack, result.campaign_id, {"done"}, timeout_s=30)
    records = jobs(stack, result.campaign_id)

    async def lookup() -> list[str | None]:
        client = aioredis.Redis.from_url(stack.redis_url or "")
        store = JobStore(client)
        try:
            return [await store.job_for_provider_id(r["pid"]) for r in records]
        finally:
            await client.aclose()

    assert asyncio.run(lookup()) == [r["id"] for r in records]
