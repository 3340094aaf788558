"""Done-when, end to end: a campaign through the sandbox with status webhooks and replies posted
to the real API server (uvicorn), then ``dispatcher status --json`` and ``/metrics`` compared
with what the sandbox posted (recorded by a tap in front of the receiver)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.api import create_app
from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.settings import load_settings
from dispatcher.testing import button_messages, enqueue, wait_until

pytestmark = pytest.mark.slow

SECRET = "e2e-app-secret"
TOKEN = "e2e-api-token"
RANK = {"sent": 1, "delivered": 2, "read": 3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tap:
    """ASGI middleware keeping every webhook POST body the app answered 200."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope["path"] != "/webhooks/whatsapp" \
                or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        status: list[int] = []

        async def tapped_receive() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        async def tapped_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, tapped_receive, tapped_send)
        if status == [200]:
            self.bodies.append(b"".join(chunks))


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` in a daemon thread."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def expected_from(bodies: list[bytes]) -> tuple[Counter[str], dict[str, int], str]:
    """What the posted webhooks add up to: final status per message, replies per button."""
    final: dict[str, str] = {}
    replies: dict[str, tuple[int, str, str]] = {}
    codes: set[str] = set()
    for raw in bodies:
        for entry in orjson.loads(raw)["entry"]:
            for change in entry["changes"]:
                value = change["value"]
                for s in value.get("statuses", []):
                    now, new = final.get(s["id"]), s["status"]
                    if new == "failed":
                        codes.add(str(s["errors"][0]["code"]))
                        if now in (None, "sent"):
                            final[s["id"]] = new
                    elif now is None or (now in RANK and RANK[new] > RANK[now]):
                        final[s["id"]] = new
                for m in value.get("messages", []):
                    choice = m["interactive"]["button_reply"]["id"]
                    key = (int(m["timestamp"]), m["id"], choice)
                    if m["context"]["id"] not in replies or key > replies[m["context"]["id"]]:
                        replies[m["context"]["id"]] = key
    per_option = Counter(choice for _, _, choice in replies.values())
    return Counter(final.values()), dict(per_option), ",".join(sorted(codes))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, str, Tap]]:
    port = free_port()
    sandbox = SandboxConfig(
        seed=11, callback_url=f"http://127.0.0.1:{port}/webhooks/whatsapp", app_secret=SECRET,
        delivered_rate=0.8, read_rate=0.4, failed_rate=0.1, reply_rate=0.5,
        callback_delay_ms=10, callback_duplicate_rate=0.2)
    env = {"DISPATCHER_RATE_LIMIT": "3000", "DISPATCHER_LEASE_S": "4"}
    with LocalStack(workers=1, concurrency=2, sandbox=sandbox, settings_env=env,
                    log_dir=tmp_path_factory.mktemp("logs")) as stack:
        assert stack.redis_url is not None
        conf = load_settings(redis_url=stack.redis_url, api_token=TOKEN,
                             webhook_app_secret=SECRET)
        tap = Tap(create_app(conf))
        with ServerThread(tap, port) as server:
            stack.wait_workers_ready()
            yield stack, server.url, tap


def status_json(stack: LocalStack, campaign_id: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "dispatcher", "status", campaign_id, "--json"],
                         env=stack.env, capture_output=True, text=True, timeout=30, check=True)
    return dict(json.loads(out.stdout))


def settle(check: Callable[[], Any], timeout_s: float) -> Any:
    """Poll ``check`` until it returns a truthy value; return its last value either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_status_and_metrics_match_what_the_sandbox_posted(
        system: tuple[LocalStack, str, Tap]) -> None:
    stack, url, tap = system
    result = enqueue(stack, button_messages(150), name="callbacks")
    cid = result.campaign_id
    wait_until(stack, cid, {"done"}, timeout_s=60)
    sandbox = stack.sandbox_process
    assert sandbox is not None

    def quiet() -> bool:  # the sandbox has posted everything it planned, and we kept it all
        before = sandbox.stats()["callbacks_sent"]
        time.sleep(0.5)
        after = sandbox.stats()
        return bool(after["callbacks_sent"] == before == len(tap.bodies) > 0
                    and after["callbacks_failed"] == 0)

    assert settle(quiet, 20), "sandbox callbacks did not settle"
    statuses, per_option, codes = expected_from(tap.bodies)
    assert sum(statuses.values()) == 150 and sum(per_option.values()) > 0
    data = status_json(stack, cid)
    counts = data["counts"]
    for name in ("sent", "delivered", "read", "failed"):
        assert counts[name] == statuses[name], (name, counts, statuses)
    assert counts["delivered"] > 0 and counts["read"] > 0
    assert sum(counts.values()) == data["total"] == 150
    shown = {o["id"]: o["count"] for o in data["replies"]["options"]}
    assert shown == per_option and data["replies"]["replied"] == sum(per_option.values())
    assert [f["code"] for f in data["failures"]] == ([codes] if codes else [])

    def metrics() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    sent_key = ("dispatcher_messages_sent_total", (("sender", "default"),))
    # Every job was accepted by the sandbox (its failures come later, by webhook), so the
    # workers' sent counter equals the jobs that reached `sent` or failed after it.
    ever_sent = data["reached"]["sent"] + counts["failed"]
    samples = settle(lambda: (m := metrics()).get(sent_key) == ever_sent and m, 5) or metrics()
    assert samples[sent_key] == ever_sent
    for name, count in counts.items():
        assert samples[("dispatcher_campaign_jobs", (("campaign", cid), ("status", name)))] \
            == count
    for option, count in per_option.items():
        key = ("dispatcher_campaign_replies", (("campaign", cid), ("option", option)))
        assert samples[key] == count
    assert samples[("dispatcher_send_latency_seconds_count", (("sender", "default"),))] \
        == ever_sent
