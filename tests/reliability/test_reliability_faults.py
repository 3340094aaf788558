"""Issue 7, scenarios a-d: a 5,000-message campaign on three workers while something breaks.

Each test ends with :func:`check_campaign`: the campaign is done, all 5,000 jobs are ``sent``,
the sandbox accepted each exactly once (by Idempotency-Key and by recipient+content), every job's
provider id is the one the sandbox gave, and the campaign counters add up to 5,000.
"""

from __future__ import annotations

import time

import pytest

from dispatcher.localstack import LocalStack
from dispatcher.testing import wait_until

from .conftest import (
    CAMPAIGN_SIZE,
    RELIABILITY_ENV,
    check_campaign,
    histories,
    record_result,
    redis_client,
    start_campaign,
    wait_for_sent,
)

pytestmark = pytest.mark.slow

OUTAGE_S = 20.0
RETRY_AFTER_S = 2
THROTTLED_S = 5.0


def test_a_sigkill_a_worker_three_times(stack: LocalStack) -> None:
    """SIGKILL (the whole process group, no cleanup) a worker three times mid-campaign; each time
    a new one starts. The dead worker's held jobs are taken over after the lease: queued ones
    are published again, those caught mid-send are retried with the same Idempotency-Key, which
    the sandbox (honouring it, as a provider that supports it would) answers with the first
    message id instead of sending again."""
    sandbox = stack.sandbox_process
    assert sandbox is not None
    sandbox.update_config(honor_idempotency=True, latency_ms=20)
    began = time.monotonic()
    campaign_id = start_campaign(stack, "sigkill", start=0)
    for sent_before_kill in (1000, 2200, 3400):
        wait_for_sent(stack, campaign_id, sent_before_kill)
        victim = stack.worker_processes[0]
        victim.kill()
        stack.worker_processes.remove(victim)
        stack.add_worker()
    wait_until(stack, campaign_id, {"done"}, timeout_s=180)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, CAMPAIGN_SIZE, deduplicated_ok=True)
    lines = histories(stack, [r["id"] for r in outcome.records])
    caught = [job_id for job_id, history in lines.items()
              if any("worker died while sending" in line for line in history)]
    timed_out = [job_id for job_id, history in lines.items()
                 if any(line.split(" ")[1:3] == ["retrying", "ambiguous"] for line in history)]
    # Only a job whose answer was lost (its worker killed mid-send, or a read timeout) may have
    # been sent again, and then the provider dropped the repeat.
    assert outcome.deduplicated <= len(caught) + len(timed_out)
    record_result("a. SIGKILL a worker x3", "3 workers; SIGKILL one at 1,000, 2,200 and 3,400 "
                  "sent, start a new one", outcome, seconds,
                  caught_mid_send=len(caught), read_timeouts=len(timed_out),
                  resends_dropped_by_key=outcome.deduplicated)


def test_b_redis_restart_with_aof(stack: LocalStack) -> None:
    """Restart Redis (AOF on, ``appendfsync always``) while the workers are sending: job records,
    counters, the broker's queue and the due set all come back from the AOF; workers reconnect
    and carry on, and no send whose answer came while Redis was away is lost or repeated."""
    assert stack.redis_server is not None
    began = time.monotonic()
    campaign_id = start_campaign(stack, "redis restart", start=10_000)
    wait_for_sent(stack, campaign_id, 1500)
    down = time.monotonic()
    stack.redis_server.restart()
    restart_s = time.monotonic() - down
    wait_until(stack, campaign_id, {"done"}, timeout_s=180)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, CAMPAIGN_SIZE)
    record_result("b. Redis restart (AOF)", "restart redis-server (SIGTERM, same port and AOF) "
                  "at 1,500 sent", outcome, seconds, redis_down=f"{restart_s:.2f} s")


def test_b2_redis_killed_and_restarted(stack: LocalStack) -> None:
    """The harsher case: SIGKILL redis-server (no shutdown, no final AOF write) and start it
    again on the same AOF. With ``appendfsync always`` every acknowledged write is on disk, so
    the workers' recorded outcomes survive; a command whose reply was lost is retried (claims
    recognise their own id). A batch message the broker handed out just before the crash is
    lost with the reply; the sweeper publishes its jobs again."""
    server = stack.redis_server
    assert server is not None and server.process is not None
    began = time.monotonic()
    campaign_id = start_campaign(stack, "redis crash", start=40_000)
    wait_for_sent(stack, campaign_id, 1500)
    down = time.monotonic()
    server.kill()
    server.start()
    restart_s = time.monotonic() - down
    wait_until(stack, campaign_id, {"done"}, timeout_s=180)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, CAMPAIGN_SIZE)
    record_result("b2. Redis SIGKILL + restart (AOF always)", "SIGKILL redis-server at 1,500 "
                  "sent, start it on the same AOF", outcome, seconds,
                  redis_down=f"{restart_s:.2f} s")


def test_b4_redis_away_longer_than_the_lease_with_retries_due(stack: LocalStack) -> None:
    """Redis stopped for twice the lease while the sandbox fails a third of the requests (so
    retries are due and being published when it goes). Every worker's last beat looks stale
    when Redis returns: none may take over another live worker's jobs (they would be sent
    twice), and no job may be stranded by a publish that failed while Redis was away."""
    server = stack.redis_server
    sandbox = stack.sandbox_process
    assert server is not None and sandbox is not None
    sandbox.update_config(fail_rate=0.3)
    began = time.monotonic()
    campaign_id = start_campaign(stack, "redis away", start=50_000)
    wait_for_sent(stack, campaign_id, 1500)
    down = time.monotonic()
    server.stop()
    time.sleep(2 * float(RELIABILITY_ENV["DISPATCHER_LEASE_S"]))
    server.start()
    away_s = time.monotonic() - down
    wait_until(stack, campaign_id, {"done"}, timeout_s=180)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, CAMPAIGN_SIZE)
    record_result("b4. Redis away 2 leases, retries due", "503 on 30 % of requests; stop "
                  "redis-server at 1,500 sent, start it again 6 s later", outcome, seconds,
                  redis_down=f"{away_s:.1f} s",
                  answered_503=sandbox.stats()["rejected"].get("503", 0))


def test_b3_a_send_whose_outcome_was_never_recorded_is_settled(stack: LocalStack) -> None:
    """What the sweeper does for a job left ``sending`` with nobody to record it (a worker's
    Redis commands failing after its send for longer than its retries last): after a lease
    without progress it settles the job by the ambiguous policy (here: retry, with the same
    Idempotency-Key, which the sandbox answers with the first message id)."""
    sandbox = stack.sandbox_process
    assert sandbox is not None
    sandbox.update_config(honor_idempotency=True)
    campaign_id = start_campaign(stack, "orphan", start=45_000, size=1)
    wait_until(stack, campaign_id, {"done"}, timeout_s=30)
    job_id = f"{campaign_id}.1"
    first_id = sandbox.messages()[0]["message_id"]
    client = redis_client(stack)
    try:  # turn the clock back: sent a minute ago, the answer lost, no worker holding it
        then = f"{float(client.time()[0]) - 60:.3f}"
        client.hset(f"dispatcher:job:{job_id}", mapping={"st": "sending", "tl": then})
        client.hset(f"dispatcher:campaign:{campaign_id}", mapping={"tp": then})
        client.hincrby(f"dispatcher:campaign:{campaign_id}", "n:sent", -1)
        client.hincrby(f"dispatcher:campaign:{campaign_id}", "n:sending", 1)
        client.sadd("dispatcher:active", campaign_id)
    finally:
        client.close()
    began = time.monotonic()
    wait_until(stack, campaign_id, {"done"}, timeout_s=60)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, 1, deduplicated_ok=True)
    assert outcome.records[0]["pid"] == first_id and outcome.deduplicated == 1
    assert any("outcome never recorded" in line
               for line in histories(stack, [job_id])[job_id])
    record_result("b3. a send never recorded", "a sent job set back to `sending`, unheld, "
                  "claimed 60 s ago", outcome, seconds, resends_dropped_by_key=1)


def test_c_sandbox_answers_503_for_20_seconds(stack: LocalStack) -> None:
    """From 1,000 sent on, the sandbox answers every request with 503 for 20 s, then recovers.
    Jobs back off and retry (3 s cap, 40 attempts: about a minute before one would fail), none
    is failed, and each is sent exactly once after the outage."""
    sandbox = stack.sandbox_process
    assert sandbox is not None
    began = time.monotonic()
    campaign_id = start_campaign(stack, "outage", start=20_000)
    wait_for_sent(stack, campaign_id, 1000)
    sandbox.set_faults([{"to": None, "status": 503, "code": 131016,
                         "message": "Service temporarily unavailable"}])
    outage_began = time.monotonic()
    time.sleep(OUTAGE_S)
    sandbox.clear_faults()
    outage_s = time.monotonic() - outage_began
    during = sandbox.stats()
    wait_until(stack, campaign_id, {"done"}, timeout_s=180)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, CAMPAIGN_SIZE)
    refused = during["rejected"].get("503", 0)
    assert refused > 1000  # the outage really hit the campaign
    attempts = sum(int(r["att"]) for r in outcome.records)
    assert attempts == CAMPAIGN_SIZE + sandbox.stats()["rejected"]["503"]
    record_result("c. 503 for 20 s", "from 1,000 sent, every request answered 503 for "
                  f"{outage_s:.1f} s, then recovery", outcome, seconds, answered_503=refused,
                  max_attempts_of_a_job=max(int(r["att"]) for r in outcome.records))


def test_d_burst_of_429_with_retry_after(stack: LocalStack) -> None:
    """From 1,000 sent on, the sandbox answers every request with 429 (code 130429) and
    Retry-After: 2 for 5 s. A 429 is the sender's limit: the shared limiter pauses the sender for
    Retry-After and cuts its rate, so few requests go out during the burst; a throttled job
    comes back no sooner than Retry-After, throttling never fails a job, and each is sent once.
    (The burst is a time, not a number of requests: with the sender paused for 2 s on each
    429, a thousand 429s in a row would take many minutes to hand out.)"""
    sandbox = stack.sandbox_process
    assert sandbox is not None
    began = time.monotonic()
    campaign_id = start_campaign(stack, "throttled", start=30_000)
    wait_for_sent(stack, campaign_id, 1000)
    sandbox.set_faults([{"to": None, "status": 429, "code": 130429, "message": "Rate limit hit",
                         "retry_after": RETRY_AFTER_S}])
    time.sleep(THROTTLED_S)
    sandbox.clear_faults()
    wait_until(stack, campaign_id, {"done"}, timeout_s=180)
    seconds = time.monotonic() - began
    outcome = check_campaign(stack, campaign_id, CAMPAIGN_SIZE)
    answered_429 = sandbox.stats()["rejected"].get("429", 0)
    throttled = [r for r in outcome.records if int(r.get("thr", "0")) > 0]
    assert answered_429 > 0 and sum(int(r["thr"]) for r in throttled) == answered_429
    lines = histories(stack, [r["id"] for r in throttled])
    shortest = min(_retry_gaps(history) for history in lines.values())
    assert shortest >= RETRY_AFTER_S - 0.002, f"a job came back {shortest:.3f} s after a 429"
    record_result("d. burst of 429 + Retry-After", f"from 1,000 sent, every request answered "
                  f"429 with Retry-After: {RETRY_AFTER_S} for {THROTTLED_S:.0f} s", outcome,
                  seconds, answered_429=answered_429, throttled_jobs=len(throttled),
                  shortest_come_back=f"{shortest:.2f} s")


def _retry_gaps(lines: list[str]) -> float:
    """The shortest time from a throttled answer to the job's next claim, from its history
    (``<time> retrying throttled_sender 130429`` ... ``<time> sending attempt n``)."""
    gaps = []
    throttled_at: float | None = None
    for line in lines:
        at, _, what = line.partition(" ")
        if what.startswith("retrying") and "130429" in what:
            throttled_at = float(at)
        elif what.startswith("sending") and throttled_at is not None:
            gaps.append(float(at) - throttled_at)
            throttled_at = None
    return min(gaps)
