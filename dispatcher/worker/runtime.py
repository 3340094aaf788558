"""One worker process's long-lived parts: an asyncio loop in its own thread, one HTTP client,
one Redis client, the rate limiter and one provider per sender.

Celery's thread pool runs each batch task by handing a coroutine to this loop, so a process
keeps hundreds of sends in flight with one connection pool, instead of one blocking request per
task. Background loops on the same event loop keep the worker's heartbeat, take over the work of
dead workers and move due retries back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx
import redis.asyncio as aioredis
from celery import Celery
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff

from dispatcher.errors import ConfigError
from dispatcher.providers import Provider, eager_write, make_async_client, make_provider
from dispatcher.ratelimit import RateLimiter
from dispatcher.ratelimit.control import limiter_for
from dispatcher.settings import Settings
from dispatcher.store import JobStore

log = logging.getLogger("dispatcher.worker")
T = TypeVar("T")

# Redis restarting or failing over: refused connections, then "loading the dataset", for a few
# seconds. Without retries every command in that window raised, and the job it was for was left
# `queued` in a live worker's held set or `sending` with its answer unrecorded: stuck for good.
# So every command is retried with backoff for about half a minute. A command that ran but
# whose reply was lost (Redis exits before writing the replies of its last loop) runs again:
# the scripts are compare-and-set, so a repeat is refused, not applied twice; the one job this
# can leave `sending` (a repeated claim) is settled by the sweeper (recovery.py).
REDIS_RETRY = Retry(EqualJitterBackoff(cap=1.0, base=0.05), retries=40,
                    supported_errors=(redis_errors.ConnectionError, redis_errors.TimeoutError,
                                      redis_errors.BusyLoadingError))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it halves the loop's own cost per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    eager_write.install(loop)  # requests leave as soon as they are checked (Python 3.11)
    return loop


class Runtime:
    """The per-process state of a worker; create with :func:`start_runtime`."""

    def __init__(self, settings: Settings, celery_app: Celery) -> None:
        self.settings = settings
        self.celery = celery_app
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="dispatcher-loop",
                                        daemon=True)
        self._providers: dict[str, Provider] = {}
        self._background: list[asyncio.Task[None]] = []
        # Heartbeats as this process saw them (monotonic clock), for recovery.heartbeat_once.
        self.last_beat = 0.0
        self.beating_since = 0.0
        self.redis: aioredis.Redis
        self.store: JobStore
        self.limiter: RateLimiter
        self.http: httpx.AsyncClient
        self.in_flight: asyncio.Semaphore

    def start(self) -> None:
        self._thread.start()
        self.run(self._setup())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and wait for its result (called from task threads)."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    async def _setup(self) -> None:
        s = self.settings
        pool = aioredis.BlockingConnectionPool.from_url(s.redis_url, max_connections=64,
                                                        timeout=30, retry=REDIS_RETRY)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.store = JobStore(self.redis, s.key_prefix)
        self.limiter = limiter_for(self.redis, s)
        await self.limiter.load_scripts()
        self.http = make_async_client(connect_timeout=s.connect_timeout_s,
                                      read_timeout=s.read_timeout_s,
                                      max_connections=s.max_in_flight, transport=s.http_transport)
        self.in_flight = asyncio.Semaphore(s.max_in_flight)
        from dispatcher.worker.recovery import background_loops

        self._background = [self.loop.create_task(c) for c in background_loops(self)]

    def provider_for(self, sender: str) -> Provider:
        provider = self._providers.get(sender)
        if provider is None:
            conf = self.settings.sender(sender)
            key = self.settings.sender_api_key(sender)
            provider = make_provider(
                conf.provider, base_url=conf.url, client=self.http,
                api_key=key.get_secret_value() if key is not None else "",
                phone_number_id=conf.phone_number_id, api_version=conf.api_version)
            self._providers[sender] = provider
        return provider

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.run(self._teardown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)

    async def _teardown(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        held = await self.redis.scard(self.store.keys.held(self.worker_id))
        if held == 0:  # leave unfinished work to the reaper
            await self.store.forget_worker(self.worker_id)
        await self.http.aclose()
        await self.redis.aclose()


_runtime: Runtime | None = None
_lock = threading.Lock()


def start_runtime(settings: Settings, celery_app: Celery) -> Runtime:
    """The process's runtime, started on first use (thread-safe)."""
    global _runtime  # noqa: PLW0603 - one runtime per process is the point
    with _lock:
        if _runtime is None:
            runtime = Runtime(settings, celery_app)
            try:
                runtime.start()
            except ConfigError:
                runtime.stop()
                raise
            _runtime = runtime
        return _runtime


def stop_runtime() -> None:
    global _runtime  # noqa: PLW0603
    with _lock:
        if _runtime is not None:
            _runtime.stop()
            _runtime = None
