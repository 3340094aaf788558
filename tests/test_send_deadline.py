"""A send that cannot be written by its slot's ``leave_by`` is not sent at all (SlotMissed).

Real HTTP against a local aiohttp server; the task factory that lets aiohttp write a request
body at once on Python 3.11; the worker taking a new slot after a miss.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop
from aiohttp import web

from dispatcher.monitor.metrics import METRICS
from dispatcher.providers import SendResult, SlotMissed, make_async_client, make_provider
from dispatcher.providers.eager_write import eager_body_writes
from dispatcher.ratelimit.limiter import Slot
from dispatcher.testing import BUTTON_EXAMPLE
from dispatcher.worker import sending


@asynccontextmanager
async def server() -> AsyncIterator[tuple[str, list[str], set[int]]]:
    """/ok answers at once, /slow after 0.15 s. Yields (base URL, paths, connection ids)."""
    paths: list[str] = []
    connections: set[int] = set()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        paths.append(request.match_info["scenario"])
        connections.add(id(request.transport))
        if request.match_info["scenario"] == "slow":
            await asyncio.sleep(0.15)
        return web.json_response({"message_id": "wamid.x"})

    app = web.Application()
    app.router.add_post("/{scenario}/v1/messages", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", paths, connections
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_send_already_late_raises_and_sends_nothing(transport: str) -> None:
    async def scenario() -> list[str]:
        async with server() as (base, paths, _):
            client = make_async_client(transport=transport)
            try:
                provider = make_provider("bsp", base_url=f"{base}/ok", api_key="k", client=client)
                with pytest.raises(SlotMissed):
                    await provider.send(BUTTON_EXAMPLE, job_id="j1",
                                        leave_by=time.monotonic() - 0.001)
                result = await provider.send(BUTTON_EXAMPLE, job_id="j2",
                                             leave_by=time.monotonic() + 5)
                assert result.ok
            finally:
                await client.aclose()
            return paths

    assert asyncio.run(scenario()) == ["ok"]


def test_waiting_for_a_connection_past_leave_by_gives_it_back_unused() -> None:
    """One connection, busy 0.15 s: a send due to leave within 0.03 s gets it too late, sends
    nothing, and the connection goes back to the pool for the next send (not closed)."""

    async def scenario() -> tuple[list[str], set[int]]:
        async with server() as (base, paths, connections):
            client = make_async_client(max_connections=1, pool_timeout=2.0)
            try:
                slow = make_provider("bsp", base_url=f"{base}/slow", api_key="k", client=client)
                ok = make_provider("bsp", base_url=f"{base}/ok", api_key="k", client=client)
                busy = asyncio.create_task(slow.send(BUTTON_EXAMPLE, job_id="j1"))
                await asyncio.sleep(0.02)
                with pytest.raises(SlotMissed):
                    await ok.send(BUTTON_EXAMPLE, job_id="j2", leave_by=time.monotonic() + 0.03)
                assert (await busy).ok
                assert (await ok.send(BUTTON_EXAMPLE, job_id="j3")).ok
            finally:
                await client.aclose()
            return paths, connections

    paths, connections = uvloop.run(scenario())
    assert paths == ["slow", "ok"]
    assert len(connections) == 1


class ClientRequest:
    """Stands in for aiohttp's: the factory recognises the body writer by its qualified name."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def write_bytes(self, wait: asyncio.Future[None] | None = None) -> str:
        self.events.append("first step")
        if wait is not None:
            try:
                await wait
            except asyncio.CancelledError:
                self.events.append("cancelled")
                raise
            self.events.append("rest")
        return "done"


def test_body_writer_runs_its_first_step_at_once() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(eager_body_writes)  # type: ignore[arg-type]
        request = ClientRequest()
        quick = loop.create_task(request.write_bytes())
        assert request.events == ["first step"] and quick.done()
        assert await quick == "done"

        gate: asyncio.Future[None] = loop.create_future()
        slow = loop.create_task(request.write_bytes(gate))
        assert request.events == ["first step", "first step"] and not slow.done()
        gate.set_result(None)
        assert await slow == "done"
        assert request.events[-1] == "rest"

        stuck = loop.create_task(request.write_bytes(loop.create_future()))
        await asyncio.sleep(0)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert request.events[-1] == "cancelled"

        other_events: list[str] = []

        async def other() -> None:
            other_events.append("ran")

        task = loop.create_task(other())
        assert other_events == []  # everything else still starts on the next turn
        await task
        assert other_events == ["ran"]

    asyncio.run(scenario())
    uvloop.run(scenario())


class _FakeProvider:
    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.calls: list[float | None] = []

    async def send(self, message: dict[str, Any], *, job_id: str,
                   leave_by: float | None = None) -> SendResult:
        self.calls.append(leave_by)
        if self.misses:
            self.misses -= 1
            raise SlotMissed("late")
        return SendResult(True, "wamid.1", None, None, 200, "", None, 0.01)


class _FakeLimiter:
    def __init__(self, slot_in_s: float = 0.0) -> None:
        self.reserved = 0
        self.slot_in_s = slot_in_s
        self.pairs_held: list[str] = []

    async def hold_pair(self, sender: str, recipient: str) -> None:
        self.pairs_held.append(recipient)

    async def reserve(self, sender: str, early_s: float = 0.0) -> Slot:
        self.reserved += 1
        due = time.monotonic() + self.slot_in_s
        return Slot(due, due + 0.002, due + 0.003)


@pytest.mark.parametrize("slot_in_s", [0.0, 0.04])
def test_worker_takes_a_new_slot_after_a_miss_and_sends_once(slot_in_s: float) -> None:
    provider, limiter = _FakeProvider(misses=2), _FakeLimiter(slot_in_s)
    runtime: Any = SimpleNamespace(limiter=limiter)
    METRICS.drain()
    now = time.monotonic()
    late = Slot(now - 0.01, now - 0.008, now - 0.007)  # already past: not even tried

    async def scenario() -> SendResult:
        return await sending._send_in_slot(runtime, "s", "918856879188", late,
                                           provider, BUTTON_EXAMPLE, "j1")  # type: ignore[arg-type]

    result = asyncio.run(scenario())
    assert result.ok
    assert limiter.reserved == 3  # the late slot, then two misses inside the provider
    assert len(provider.calls) == 3
    # The claim held the pair slot a margin over the interval: taken again only once the new
    # slot is further from the claim than part of that margin.
    assert limiter.pairs_held == ([] if slot_in_s == 0.0 else ["918856879188"] * 3)
    fields, _ = METRICS.drain()
    assert fields["missed|s|"] == 3
