"""Helpers of the reliability suite (issue 7): a stack with an AOF Redis and three workers,
5,000-message campaigns, and the one set of checks every scenario ends with.

Every scenario must end the same way: the campaign is ``done``, every job is in a final state,
none is lost, the sandbox received none twice, and the counts add up. :func:`check_campaign`
asserts all of it exactly and returns the figures for the results table, which is printed at the
end of the run (``pytest tests/reliability -s`` or in CI's log) and copied to
docs/reliability.md.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from dispatcher.localredis import LocalRedis
from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.testing import button_messages, enqueue, jobs, status

CAMPAIGN_SIZE = 5000
WORKERS = 3

# Fast, but able to ride out a 20-second outage: with retries capped at 3 s and 40 attempts, a job
# needs about a minute of failures in a row before it is failed (it would be a bug to fail one
# in scenario c). An ambiguous outcome (a worker killed mid-send) is retried: the sandbox honours
# the Idempotency-Key in the scenario that needs it, so the provider drops the repeated send.
RELIABILITY_ENV = {
    "DISPATCHER_RATE_LIMIT": "3000",
    "DISPATCHER_RETRY_BASE_S": "0.2",
    "DISPATCHER_RETRY_MAX_S": "3",
    "DISPATCHER_MAX_ATTEMPTS": "40",
    "DISPATCHER_LEASE_S": "3",
    "DISPATCHER_CONNECT_TIMEOUT_S": "1",
    "DISPATCHER_READ_TIMEOUT_S": "10",  # a 5 ms sandbox: a timeout would be the machine
    "DISPATCHER_ON_AMBIGUOUS": "retry",
    # A batch message lost in the broker (a worker killed right after receiving it, Redis
    # restarting as it hands it out) is published again after this stall instead of 30 s.
    "DISPATCHER_STALL_S": "8",
}

FINAL_COUNTS = ("sent", "delivered", "read", "failed", "unknown", "cancelled", "rejected",
                "suppressed")
PENDING_COUNTS = ("queued", "sending", "retrying")

RESULTS: list[dict[str, Any]] = []


def start_stack(log_dir: Path, workers: int = WORKERS, seed: int = 11) -> LocalStack:
    """Redis with AOF (fsync on every write, see test_redis_restart), sandbox, workers."""
    server = LocalRedis(appendonly=True, appendfsync="always").start()
    stack = LocalStack(workers=workers, concurrency=4, redis_url=server.url, redis_server=server,
                       sandbox=SandboxConfig(latency_ms=5, seed=seed),
                       settings_env=RELIABILITY_ENV, log_dir=log_dir)
    stack.start()
    stack.wait_workers_ready()
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = start_stack(tmp_path_factory.mktemp("logs"))
    try:
        yield running
    finally:
        stop_workers_together(running)
        running.stop()


def stop_workers_together(stack: LocalStack, timeout_s: float = 5.0) -> None:
    """SIGTERM every worker at once, then SIGKILL what is left (LocalStack stops them one by
    one, each allowed 10 s)."""
    live = [w for w in stack.worker_processes if w.proc is not None and w.proc.poll() is None]
    for worker in live:
        assert worker.proc is not None
        worker.proc.terminate()
    deadline = time.monotonic() + timeout_s
    for worker in live:
        assert worker.proc is not None
        try:
            worker.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest) -> None:
    if "stack" not in request.fixturenames:
        return
    sandbox = request.getfixturevalue("stack").sandbox_process
    assert sandbox is not None
    sandbox.reset()
    sandbox.clear_faults()
    sandbox.update_config(fail_rate=0.0, latency_ms=5, honor_idempotency=False)


def start_campaign(stack: LocalStack, name: str, start: int, size: int = CAMPAIGN_SIZE) -> str:
    """Enqueue ``size`` button messages to distinct recipients; returns the campaign id."""
    result = enqueue(stack, button_messages(size, start=start), name=name)
    assert (result.accepted, result.rejected) == (size, 0)
    return result.campaign_id


def wait_for_sent(stack: LocalStack, campaign_id: str, at_least: int,
                  timeout_s: float = 120.0) -> None:
    """Block until the campaign has ``at_least`` sent jobs (to strike mid-campaign)."""
    deadline = time.monotonic() + timeout_s
    while status(stack, campaign_id)["counts"]["sent"] < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {at_least} sent after {timeout_s} s")
        time.sleep(0.05)


def redis_client(stack: LocalStack) -> redis.Redis:
    assert stack.redis_url is not None
    return redis.Redis.from_url(stack.redis_url, decode_responses=True)


def histories(stack: LocalStack, job_ids: list[str]) -> dict[str, list[str]]:
    """Each job's history lines (``<redis time> <status> [note]``), in one round trip."""
    client = redis_client(stack)
    try:
        with client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.lrange(f"dispatcher:hist:{job_id}", 0, -1)
            return dict(zip(job_ids, pipe.execute(), strict=True))
    finally:
        client.close()


@dataclass
class Outcome:
    """What one scenario ended with: the figures of the results table."""

    jobs: int
    sent: int
    received_twice: int
    lost: int
    deduplicated: int
    counts: dict[str, int]
    records: list[dict[str, str]]


def check_campaign(stack: LocalStack, campaign_id: str, expected: int,
                   deduplicated_ok: bool = False) -> Outcome:
    """The end of every scenario: all final, all sent exactly once, counts add up.

    ``deduplicated_ok``: the sandbox honours Idempotency-Key and may have dropped resends of
    jobs whose first answer was lost (only scenario a: a worker killed mid-send). Elsewhere a
    resend is a bug, so the sandbox does not honour the key and any resend counts as a duplicate.
    """
    sandbox = stack.sandbox_process
    assert sandbox is not None
    final = status(stack, campaign_id)
    counts: dict[str, int] = final["counts"]
    assert final["state"] == "done", final
    assert all(counts.get(s, 0) == 0 for s in PENDING_COUNTS), counts
    assert sum(counts.get(s, 0) for s in FINAL_COUNTS) == expected, counts
    records = jobs(stack, campaign_id)
    assert len(records) == expected
    states = Counter(r.get("st") for r in records)
    assert {s: n for s, n in states.items()} == {"sent": expected}, states
    assert counts["sent"] == expected, counts

    stats = sandbox.stats()
    received: Counter[str] = Counter()
    ids: dict[str, str] = {}
    for message in sandbox.messages(limit=expected * 2):
        received[message["key"]] += 1
        ids[message["key"]] = message["message_id"]
    twice = sum(1 for n in received.values() if n > 1)
    lost = sum(1 for r in records if received.get(r["id"], 0) == 0)
    assert stats["accepted"] == expected, stats
    assert stats["duplicates_by_key"] == 0 and stats["duplicates_by_recipient"] == 0, stats
    assert twice == 0 and lost == 0
    assert {r["id"]: r["pid"] for r in records} == ids, "a job's provider id is not the one sent"
    if not deduplicated_ok:
        assert stats["deduplicated"] == 0, stats
    return Outcome(expected, counts["sent"], twice, lost, stats["deduplicated"], counts, records)


def record_result(scenario: str, done: str, outcome: Outcome, seconds: float,
                  **extra: Any) -> None:
    RESULTS.append({"scenario": scenario, "done": done, "jobs": outcome.jobs,
                    "sent": outcome.sent, "duplicates": outcome.received_twice,
                    "lost": outcome.lost, "time": f"{seconds:.1f} s", **extra})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    terminalreporter.section("reliability results")
    terminalreporter.write_line("| scenario | what was done | jobs | sent | duplicates | lost | "
                                "time | notes |")
    terminalreporter.write_line("|---|---|---|---|---|---|---|---|")
    for row in RESULTS:
        notes = ", ".join(f"{k} {v}" for k, v in row.items() if k not in
                          ("scenario", "done", "jobs", "sent", "duplicates", "lost", "time"))
        terminalreporter.write_line(
            f"| {row['scenario']} | {row['done']} | {row['jobs']:,} | {row['sent']:,} | "
            f"{row['duplicates']} | {row['lost']} | {row['time']} | {notes} |")
