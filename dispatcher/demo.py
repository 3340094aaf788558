"""``dispatcher demo``: the whole system on this machine, from nothing to a finished campaign.

A private ``redis-server`` (unless ``DISPATCHER_REDIS_URL`` names one), the sandbox provider with
a few injected faults, worker processes, and a campaign of button and list messages with some
bad rows; live progress, then the summary. Everything it started is stopped on exit or Ctrl-C.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.testing import BUTTON_EXAMPLE, enqueue, recipient, status

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


def run_demo(count: int = 3000, workers: int = 2, keep: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    sandbox = SandboxConfig(latency_ms=30, fail_rate=0.05, seed=1)
    env = {"DISPATCHER_RATE_LIMIT": "500", "DISPATCHER_RETRY_BASE_S": "0.2",
           "DISPATCHER_RETRY_MAX_S": "2"}
    logs = Path(tempfile.gettempdir()) / "dispatcher-demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    with LocalStack(workers=workers, sandbox=sandbox, settings_env=env, log_dir=logs,
                    redis_url=os.environ.get("DISPATCHER_REDIS_URL")) as stack:
        console.print(f"redis {stack.redis_url}, sandbox {stack.env['DISPATCHER_PROVIDER_URL']}"
                      f", {workers} worker processes (logs in {logs})")
        stack.wait_workers_ready()
        result = enqueue(stack, demo_messages(count), name="demo")
        console.print(f"campaign {result.campaign_id}: {result.accepted} accepted, "
                      f"{result.rejected} rejected; first problems:")
        for problem in result.problems[:3]:
            console.print(f"  {problem}", markup=False)
        final = _watch(stack, result.campaign_id, result.accepted, console)
        stats = stack.sandbox_process.stats() if stack.sandbox_process else {}
        _summary(final, stats, console)
        if keep:
            console.print("--keep: everything stays up; Ctrl-C to stop")
            _sleep_forever()
    return final


def _watch(stack: LocalStack, campaign_id: str, accepted: int,
           console: Console) -> dict[str, Any]:
    columns = (TextColumn("[bold]sending"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("send", total=accepted, detail="")
        while True:
            current = status(stack, campaign_id)
            counts = current["counts"]
            settled = sum(counts[s] for s in ("sent", "failed", "unknown", "cancelled"))
            progress.update(task, completed=settled,
                            detail=f"retrying {counts['retrying']} failed {counts['failed']}")
            if current["state"] in ("done", "paused", "cancelled"):
                return current
            time.sleep(0.3)


def _summary(final: dict[str, Any], stats: dict[str, Any], console: Console) -> None:
    counts = {k: v for k, v in final["counts"].items() if v}
    console.print(f"campaign {final['campaign_id']} {final['state']}: {counts}")
    console.print(f"sandbox received {stats.get('received')} requests, accepted "
                  f"{stats.get('accepted')}, answered {stats.get('rejected')}, "
                  f"duplicates {stats.get('duplicates_by_key')}")


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)
