"""The shared rate limit with real worker processes and the sandbox enforcing its own limits."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.testing import BUTTON_EXAMPLE, button_messages, enqueue, recipient, wait_until

pytestmark = pytest.mark.slow


def rate_command(stack: LocalStack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dispatcher", "rate", "default", *args],
                          env=stack.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture()
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    sandbox, env = request.param
    with LocalStack(workers=2, concurrency=4, sandbox=sandbox, settings_env=env) as running:
        running.wait_workers_ready()
        yield running


def per_second(stats: dict[str, Any]) -> dict[int, int]:
    return {int(second): count for second, count in stats["per_second"].items()}


@pytest.mark.parametrize("stack", [(SandboxConfig(), {"DISPATCHER_RATE_LIMIT": "40"})],
                         indirect=True)
def test_a_rate_change_reaches_every_worker_within_two_seconds(stack: LocalStack) -> None:
    sandbox = stack.sandbox_process
    assert sandbox is not None
    result = enqueue(stack, button_messages(700), name="rate change")
    time.sleep(4)
    assert "configured 40/s" in rate_command(stack)
    changed_at = time.time()
    assert "configured 160/s" in rate_command(stack, "160")
    wait_until(stack, result.campaign_id, {"done"}, timeout_s=60)
    seconds = per_second(sandbox.stats())
    before = [n for s, n in seconds.items() if s < int(changed_at) - 1]
    after = [n for s, n in seconds.items() if s >= int(changed_at) + 2]
    assert before and max(before) <= 40 + 5
    assert after and max(after) >= 120, seconds


@pytest.mark.parametrize(
    "stack", [(SandboxConfig(pair_interval_s=6.0), {"DISPATCHER_RATE_LIMIT": "200"})],
    indirect=True)
def test_repeated_recipients_are_spaced_by_the_pair_limit(stack: LocalStack) -> None:
    """Three campaigns to the same 20 numbers at once: the pair limit (per sender and
    recipient, across campaigns) spaces them out; the sandbox enforces 1 per 6 s."""

    def messages(round_: int) -> Iterator[tuple[int, dict[str, Any]]]:
        for index in range(20):
            message = copy.deepcopy(BUTTON_EXAMPLE)
            message["to"] = recipient(index)
            message["interactive"]["body"]["text"] = f"round {round_}"
            yield index + 1, message

    campaigns = [enqueue(stack, messages(r), name=f"pairs {r}").campaign_id for r in range(3)]
    for campaign_id in campaigns:
        final = wait_until(stack, campaign_id, {"done"}, timeout_s=90)
        assert final["counts"]["sent"] == 20, final["counts"]
    stats = stack.sandbox_process.stats()  # type: ignore[union-attr]
    assert stats["rejected"].get("400", 0) == 0, stats["rejected"]
    assert stats["accepted"] == 60


@pytest.mark.parametrize(
    "stack", [(SandboxConfig(rate=40, burst=5), {"DISPATCHER_RATE_LIMIT": "120"})],
    indirect=True)
def test_throttling_cuts_the_shared_rate_and_everything_is_still_sent(
    stack: LocalStack,
) -> None:
    result = enqueue(stack, button_messages(400), name="adaptive")
    time.sleep(3)
    shown = rate_command(stack, "--json")
    final = wait_until(stack, result.campaign_id, {"done"}, timeout_s=90)
    assert final["counts"]["sent"] == 400 and final["counts"]["failed"] == 0
    info = json.loads(shown)
    assert info["configured"] == 120 and info["current"] < 120
    stats = stack.sandbox_process.stats()  # type: ignore[union-attr]
    throttled = stats["rejected"].get("429", 0)
    assert 0 < throttled < 200, stats["rejected"]
    assert stats["duplicates_by_key"] == 0
