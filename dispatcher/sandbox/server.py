"""Running the sandbox: blocking ``serve`` for the CLI, ``run_server`` for an event loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from dispatcher.sandbox.app import create_app
from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.frontdoor import StampingSite, listening_socket
from dispatcher.sandbox.validation import warm_up

SHUTDOWN_TIMEOUT_S = 2.0


async def run_server(config: SandboxConfig, stop: asyncio.Event,
                     on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until ``stop`` is set; ``on_ready`` gets the base URL (the real port if port 0)."""
    warm_up()
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = StampingSite(runner, listening_socket(config.host, config.port))
        await site.start()
        host, port = runner.addresses[0][:2]
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()


def _announce(url: str) -> None:
    sys.stdout.write(f"sandbox listening on {url}\n")
    sys.stdout.flush()


async def _serve(config: SandboxConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run_server(config, stop, _announce)


def serve(config: SandboxConfig) -> None:
    """Run the sandbox until SIGINT or SIGTERM; prints ``sandbox listening on <url>`` when ready."""
    asyncio.run(_serve(config))
