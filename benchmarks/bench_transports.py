"""HTTP client throughput: which transport can carry 1,000 sends/s from one process?

Starts a local aiohttp server in a subprocess that answers every POST after ``--delay`` (50 ms),
then, for each client, sends ``--requests`` POSTs with ``--concurrency`` in flight (bounded by
``--budget`` seconds per client) and prints requests/s, client CPU ms per request
(``time.process_time`` of this process only; the server runs elsewhere) and the ratio to the
httpx-own-pool baseline. Run: ``.venv/bin/python benchmarks/bench_transports.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx
import orjson
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

from dispatcher.providers import make_async_client, make_provider

MESSAGE = {
    "to": "918856879188",
    "type": "interactive",
    "interactive": {
        "type": "button",
        "body": {"text": "Choose a subscription model to get started:"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
                {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}},
            ]
        },
    },
}
BODY = orjson.dumps(MESSAGE)
HEADERS = {"authorization": "Bearer bench", "content-type": "application/json"}

Send = Callable[[int], Awaitable[bool]]


def serve(port: int, delay: float) -> None:
    """The server side (runs in the subprocess)."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay)
        return web.json_response({"message_id": "wamid.bench"})

    app = web.Application()
    app.router.add_post("/v1/messages", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


@dataclass
class Figures:
    name: str
    done: int
    failed: int
    wall_s: float
    cpu_s: float

    @property
    def rps(self) -> float:
        return self.done / self.wall_s

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / max(1, self.done)


async def drive(name: str, send: Send, total: int, concurrency: int, budget: float) -> Figures:
    """Run ``send`` ``total`` times with ``concurrency`` in flight, stopping at ``budget`` s."""
    await asyncio.gather(*(send(i) for i in range(concurrency)))  # warm the pool up
    issued = done = failed = 0
    deadline = time.perf_counter() + budget

    async def worker() -> None:
        nonlocal issued, done, failed
        while issued < total and time.perf_counter() < deadline:
            issued += 1
            if await send(issued):
                done += 1
            else:
                failed += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Figures(name, done, failed, time.perf_counter() - wall0, time.process_time() - cpu0)


def httpx_sender(client: httpx.AsyncClient, url: str) -> Send:
    async def send(i: int) -> bool:
        try:
            response = await client.post(url, content=BODY, headers=HEADERS)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and b"wamid" in response.content

    return send


async def bench_httpx(name: str, client: httpx.AsyncClient, url: str, args: Args) -> Figures:
    async with client:
        return await drive(
            name, httpx_sender(client, url), args.requests, args.concurrency, args.budget
        )


async def bench_provider(url: str, args: Args) -> Figures:
    async with make_async_client(max_connections=args.concurrency) as client:
        provider = make_provider("sandbox", base_url=url, api_key="bench", client=client)

        async def send(i: int) -> bool:
            return (await provider.send(MESSAGE, job_id=f"job-{i}")).ok

        return await drive(
            "BspProvider.send, aiohttp transport",
            send,
            args.requests,
            args.concurrency,
            args.budget,
        )


async def bench_aiohttp(url: str, args: Args) -> Figures:
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(sock_connect=5, sock_read=15)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(i: int) -> bool:
            try:
                async with session.post(url, data=BODY, headers=HEADERS) as response:
                    return response.status == 200 and b"wamid" in await response.read()
            except aiohttp.ClientError:
                return False

        return await drive("aiohttp directly", send, args.requests, args.concurrency, args.budget)


class Args(argparse.Namespace):
    requests: int
    concurrency: int
    delay: float
    budget: float
    rounds: int
    serve: int | None


async def run_all(base: str, args: Args) -> list[Figures]:
    url = f"{base}/v1/messages"
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    timeout = httpx.Timeout(15.0, connect=5.0)
    return [
        await bench_httpx(
            "httpx AsyncClient, own pool",
            make_async_client(transport="httpx", max_connections=args.concurrency),
            url,
            args,
        ),
        await bench_httpx(
            "httpx + httpx-aiohttp AiohttpTransport (as shipped)",
            httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=timeout),
            url,
            args,
        ),
        await bench_httpx(
            "httpx + TranslatingAiohttpTransport (ours)",
            make_async_client(transport="aiohttp", max_connections=args.concurrency),
            url,
            args,
        ),
        await bench_provider(base, args),
        await bench_aiohttp(url, args),
    ]


def median_of(same: tuple[Figures, ...]) -> Figures:
    """One client's figures over rounds: the round with the median requests/s, CPU/request
    replaced by the median CPU/request (the steadier of the two on a shared machine)."""
    by_rps = sorted(same, key=lambda f: f.rps)
    mid = by_rps[len(by_rps) // 2]
    cpu_ms = statistics.median(f.cpu_ms for f in same)
    return Figures(mid.name, mid.done, mid.failed, mid.wall_s, cpu_ms * max(1, mid.done) / 1000)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"bench server did not start on port {port}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def report(results: list[Figures], args: Args) -> None:
    base = results[0]
    print(
        f"\n{args.concurrency} in flight, server answers after {args.delay * 1000:.0f} ms "
        f"(bound {args.concurrency / args.delay:,.0f} req/s), up to {args.requests} requests "
        f"or {args.budget:.0f} s per client\n"
    )
    print(
        f"{'client':<52} {'done':>6} {'fail':>5} {'req/s':>8} {'CPU ms/req':>11} "
        f"{'x req/s':>8} {'x CPU':>7}"
    )
    for r in results:
        print(
            f"{r.name:<52} {r.done:>6} {r.failed:>5} {r.rps:>8,.0f} {r.cpu_ms:>11.2f} "
            f"{r.rps / base.rps:>8.1f} {r.cpu_ms / base.cpu_ms:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=150)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per client, at most")
    parser.add_argument("--rounds", type=int, default=3, help="repeat all clients; report medians")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(namespace=Args())
    if args.serve is not None:
        serve(args.serve, args.delay)
        return
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--delay", str(args.delay)]
    )
    try:
        wait_for_port(port)
        load_before = os.getloadavg()[0]
        rounds = [
            asyncio.run(run_all(f"http://127.0.0.1:{port}", args)) for _ in range(args.rounds)
        ]
        results = [median_of(same) for same in zip(*rounds, strict=True)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    report(results, args)
    print(
        f"\nmedian of {args.rounds} rounds; load average (1 min) before: {load_before:.1f}, "
        f"after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
