"""``dispatcher demo``: the whole system on this machine, from nothing to a finished campaign.

A private ``redis-server`` (unless ``DISPATCHER_REDIS_URL`` names one), the sandbox provider with
injected faults (random 503s, a few 429s with ``Retry-After``), worker processes, and the HTTP
service (``dispatcher serve``, with a fresh API token) receiving the sandbox's signed delivery
webhooks. A campaign of button and list messages with some bad rows goes through; live progress,
then the summary and the dashboard's address. Everything it started is stopped on exit, Ctrl-C
or SIGTERM (``--keep`` keeps it all running until then).
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from dispatcher.localstack import Interrupted, LocalStack, check_stop, stop_on_signals
from dispatcher.monitor import campaign_details
from dispatcher.ratelimit.control import read_rate
from dispatcher.sandbox import FaultRule, SandboxConfig
from dispatcher.store import JobStore
from dispatcher.testing import BUTTON_EXAMPLE, enqueue, recipient, stack_settings

LIST_EXAMPLE: dict[str, Any] = {
    "to": "918856879188", "type": "interactive",
    "interactive": {
        "type": "list",
        "header": {"type": "text", "text": "Support Hub"},
        "body": {"text": "How can we assist you today? Please choose an option from the menu."},
        "action": {"button": "Select Topic", "sections": [{"title": "Help Categories", "rows": [
            {"id": "row_billing", "title": "Billing & Invoices",
             "description": "Queries related to plans and payments"},
            {"id": "row_tech", "title": "Technical Setup",
             "description": "Webhooks, API keys, and integrations support"},
            {"id": "row_other", "title": "Speak to Agent",
             "description": "Transfer directly to a live agent"}]}]}}}

THROTTLE_EVERY = 1000  # one recipient in 1000 is answered 429 + Retry-After once
RECEIPTS_WAIT_S = 20.0
POLL_S = 0.3
PLAIN_EVERY_S = 2.0  # progress lines when the output is not a terminal
WORKER_ENV = {"DISPATCHER_RATE_LIMIT": "500", "DISPATCHER_RETRY_BASE_S": "0.2",
              "DISPATCHER_RETRY_MAX_S": "2"}


def demo_messages(count: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Alternating button and list messages; every 100th row is broken on purpose."""
    for index in range(count):
        message = copy.deepcopy(LIST_EXAMPLE if index % 2 else BUTTON_EXAMPLE)
        message["to"] = recipient(index)
        if index % 100 == 37:
            message["to"] = "12345"  # not a phone number
        elif index % 100 == 73:
            message["interactive"]["body"]["text"] = "x" * 1100  # past the 1024 limit
        yield index + 1, message


def demo_sandbox(count: int) -> SandboxConfig:
    """5% random 503s, one 429 (Retry-After: 1 s) per ``THROTTLE_EVERY`` recipients, and
    delivery webhooks: mostly delivered, many read, some replies, 2% failed on the handset."""
    throttles = [FaultRule(to=recipient(i), status=429, code=130429, retry_after=1.0, times=1,
                           message="Rate limit hit")
                 for i in range(min(THROTTLE_EVERY, count) // 2, count, THROTTLE_EVERY)]
    return SandboxConfig(latency_ms=30, fail_rate=0.05, seed=1, faults=throttles,
                         delivered_rate=0.97, read_rate=0.6, failed_rate=0.02, reply_rate=0.2,
                         callback_delay_ms=150)


@dataclass
class Outcome:
    """What ``run_demo`` ended with: the campaign's details (``state`` etc.) and the URLs."""

    details: dict[str, Any]
    dashboard_url: str

    @property
    def campaign_id(self) -> str:
        return str(self.details["campaign_id"])

    @property
    def ok(self) -> bool:
        return self.details.get("state") == "done"


def run_demo(count: int = 3000, workers: int = 2, keep: bool = False,
             console: Console | None = None) -> Outcome:
    """Run the demo; SIGINT/SIGTERM/SIGHUP raise ``Interrupted`` once everything is stopped.

    The logs (a fresh temporary directory) are removed after a clean run or an interruption
    and kept, with their path printed, when something went wrong.
    """
    console = console or Console()
    logs = Path(tempfile.mkdtemp(prefix="dispatcher-demo-"))
    try:
        with stop_on_signals():
            outcome = _run(count, workers, keep, console, logs)
    except Interrupted:
        shutil.rmtree(logs, ignore_errors=True)
        raise
    except BaseException:
        console.print(f"logs kept in {logs}", markup=False)
        raise
    if outcome.ok:
        shutil.rmtree(logs, ignore_errors=True)
    else:
        console.print(f"logs kept in {logs}", markup=False)
    return outcome


def _run(count: int, workers: int, keep: bool, console: Console, logs: Path) -> Outcome:
    redis_url = os.environ.get("DISPATCHER_REDIS_URL")
    env = dict(WORKER_ENV)
    if redis_url:
        # Keys and broker queue of its own, so the demo's workers never take a live system's
        # batches (nor its workers the demo's).
        env["DISPATCHER_KEY_PREFIX"] = f"dispatcher-demo-{uuid.uuid4().hex[:8]}"
        console.print(f"using DISPATCHER_REDIS_URL with key prefix {env['DISPATCHER_KEY_PREFIX']}"
                      " (its own keys and queue)", markup=False)
    console.print(f"starting {'' if redis_url else 'redis-server, '}the sandbox provider, the "
                  f"HTTP service and {workers} worker process(es)...")
    with LocalStack(workers=workers, sandbox=demo_sandbox(count), settings_env=env,
                    log_dir=logs, redis_url=redis_url,
                    api=True, worker_stop_timeout_s=5.0) as stack:
        try:
            outcome = _campaign(stack, count, console)
            if keep:
                _keep(stack, outcome.campaign_id, console)
        except Interrupted:
            # Stopped half way: with a private Redis, whatever is in flight goes away with
            # it, so the workers get a second, not the warm shutdown's full wait.
            stack.stop(worker_timeout_s=1.0 if stack.redis_server else None)
            raise
        console.print("stopping everything the demo started...")
    console.print("stopped")
    return outcome


def _campaign(stack: LocalStack, count: int, console: Console) -> Outcome:
    """Enqueue the demo campaign, show its progress, then the summary."""
    _describe(stack, console)
    stack.wait_workers_ready()
    result = enqueue(stack, demo_messages(count), name="demo")
    console.print(f"campaign {result.campaign_id}: {result.accepted} accepted, "
                  f"{result.rejected} rejected; the first problems:")
    for problem in result.problems[:3]:
        console.print(f"  {problem}", markup=False)
    check_stop()
    details = asyncio.run(_watch(stack, result.campaign_id, result.accepted, console))
    outcome = Outcome(details, stack.dashboard_url(result.campaign_id))
    _summary(stack, outcome, console)
    return outcome


def _describe(stack: LocalStack, console: Console) -> None:
    assert stack.sandbox_process is not None
    where = f" (data in {stack.redis_server.directory})" if stack.redis_server else ""
    lines = [f"redis    {stack.redis_url}{where}",
             f"sandbox  {stack.sandbox_process.url}",
             f"http     {stack.api_url} (API token {stack.api_token})",
             f"workers  {len(stack.worker_processes)} (logs in {stack.log_dir})"]
    for line in lines:
        console.print(f"  {line}", markup=False)


class _Watcher:
    """Polls the campaign, the sender's rate and the sandbox; renders one progress line."""

    def __init__(self, stack: LocalStack, campaign_id: str) -> None:
        self.stack, self.campaign_id = stack, campaign_id
        self.settings = stack_settings(stack)
        self.client = aioredis.Redis.from_url(self.settings.redis_url)
        self.store = JobStore(self.client, self.settings.key_prefix)
        self.sandbox: dict[str, Any] = {}

    async def poll(self) -> dict[str, Any]:
        details = await campaign_details(self.store, self.campaign_id)
        rate = await read_rate(self.client, self.settings, details["sender"])
        assert self.stack.sandbox_process is not None
        self.sandbox = self.stack.sandbox_process.stats()
        details["rate"] = rate
        return details

    def line(self, details: dict[str, Any]) -> str:
        counts, rate = details["counts"], details["rate"]
        answered = self.sandbox.get("rejected", {})
        paused = " paused by 429" if rate.paused_until else ""
        return (f"delivered {details['reached']['delivered']} read {counts['read']} "
                f"failed {counts['failed']} retrying {counts['retrying']} | sandbox 503s "
                f"{answered.get('503', 0)} 429s {answered.get('429', 0)} | rate "
                f"{rate.current:.0f} of {rate.configured:.0f}/s{paused}")

    def receipts_settled(self, previous_sent: int | None) -> bool:
        return (self.sandbox.get("callbacks_pending") == 0
                and self.sandbox.get("callbacks_sent") == previous_sent)

    async def close(self) -> None:
        await self.client.aclose()


class _Progress(Progress):
    """The bar, with the details on a line of their own below it (they don't fit beside)."""

    detail = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield Text(self.detail, overflow="ellipsis", no_wrap=True)


async def _watch(stack: LocalStack, campaign_id: str, accepted: int,
                 console: Console) -> dict[str, Any]:
    """Live progress until the campaign ends and the sandbox's receipts have all arrived.

    A progress bar on a terminal; otherwise (a pipe, CI) one line every few seconds.
    """
    watcher = _Watcher(stack, campaign_id)
    progress = _Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=None),
                         MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                         transient=False, disable=not console.is_terminal)
    plain_at = time.monotonic()
    ended_at: float | None = None
    sent_before: int | None = None
    try:
        with progress:
            task = progress.add_task("sending", total=accepted)
            while True:
                details = await watcher.poll()
                done, line = accepted - details["pending"], watcher.line(details)
                progress.detail = line
                progress.update(task, completed=done)
                if not console.is_terminal and time.monotonic() >= plain_at:
                    plain_at = time.monotonic() + PLAIN_EVERY_S
                    console.print(f"sending {done}/{accepted} {line}", markup=False)
                if details["state"] in ("paused", "cancelled"):
                    return details
                if details["state"] == "done":
                    if ended_at is None:
                        ended_at = time.monotonic()
                        progress.update(task, description="receipts")
                    elif watcher.receipts_settled(sent_before) or (
                            time.monotonic() - ended_at > RECEIPTS_WAIT_S):
                        return details
                    sent_before = watcher.sandbox.get("callbacks_sent")
                await asyncio.sleep(POLL_S)
                check_stop()
    finally:
        await watcher.close()


def _summary(stack: LocalStack, outcome: Outcome, console: Console) -> None:
    details = outcome.details
    assert stack.sandbox_process is not None
    stats = stack.sandbox_process.stats()
    counts = {k: v for k, v in details["counts"].items() if v}
    answered = stats.get("rejected", {})
    console.print()
    console.print(f"campaign {details['campaign_id']} {details['state']}: {details['total']} "
                  f"rows -> {counts}", markup=False)
    reached = details["reached"]
    console.print(f"  receipts: sent {reached['sent']}, delivered {reached['delivered']}, "
                  f"read {reached['read']}, failed {details['counts']['failed']}"
                  + "".join(f" ({f['code'] or f['error_class']} x{f['count']})"
                            for f in details["failures"][:3]), markup=False)
    options = ", ".join(f"{o['title'] or o['id']} {o['count']}"
                        for o in details["replies"]["options"])
    console.print(f"  replies: {details['replies']['replied']} ({options or 'none'})",
                  markup=False)
    console.print(f"  sandbox: {stats.get('received')} requests, {stats.get('accepted')} "
                  f"accepted, {answered.get('503', 0)} answered 503 (retried), "
                  f"{answered.get('429', 0)} answered 429 with Retry-After (sender paused), "
                  f"{stats.get('duplicates_by_key')} sent twice; {stats.get('callbacks_sent')} "
                  f"signed webhook POSTs", markup=False)
    console.print(f"  dashboard: {outcome.dashboard_url}", markup=False)


def _keep(stack: LocalStack, campaign_id: str, console: Console) -> None:
    console.print()
    console.print("--keep: everything stays up until Ctrl-C. Try:", markup=False)
    auth = f"Authorization: Bearer {stack.api_token}"
    for line in (
            f"open {stack.dashboard_url(campaign_id)}",
            f"curl -H '{auth}' {stack.api_url}/v1/campaigns/{campaign_id}",
            f"curl -H '{auth}' {stack.api_url}/metrics",
            f"DISPATCHER_REDIS_URL={stack.redis_url}{_prefix_env(stack)} dispatcher status "
            f"{campaign_id}",
            f"curl {stack.env['DISPATCHER_PROVIDER_URL']}/_sandbox/stats"):
        console.print(f"  {line}", markup=False)
    while True:
        time.sleep(0.5)
        check_stop()


def _prefix_env(stack: LocalStack) -> str:
    prefix = stack.env.get("DISPATCHER_KEY_PREFIX")
    return f" DISPATCHER_KEY_PREFIX={prefix}" if prefix else ""
