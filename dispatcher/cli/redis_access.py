"""Running one library call against the configured Redis, for the commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

from dispatcher.cli.app import settings
from dispatcher.errors import ConfigError
from dispatcher.store import JobStore

T = TypeVar("T")


def with_store(action: Callable[[JobStore], Awaitable[T]]) -> T:
    """Run ``action`` with a store on the configured Redis; a dead Redis is one clear line."""
    conf = settings()

    async def run() -> T:
        client = aioredis.Redis.from_url(conf.redis_url)
        try:
            return await action(JobStore(client, conf.key_prefix))
        except (aioredis.ConnectionError, OSError) as exc:
            raise ConfigError(f"cannot reach Redis at DISPATCHER_REDIS_URL: {exc}") from None
        finally:
            await client.aclose()

    return asyncio.run(run())
