"""The limiter as the settings describe it, for commands that read or change a sender's rate."""

from __future__ import annotations

from redis.asyncio import Redis

from dispatcher.ratelimit.limiter import AimdPolicy, RateInfo, RateLimiter
from dispatcher.settings import Settings


def limiter_for(redis: Redis, settings: Settings) -> RateLimiter:
    """The limiter every worker builds: per-sender default rates from the settings."""
    return RateLimiter(redis, default_rate=settings.rate_limit, burst=settings.rate_burst,
                       pair_interval_s=settings.pair_interval_s, key_prefix=settings.key_prefix,
                       rates={s.name: s.rate for s in settings.sender_map.values()},
                       aimd=AimdPolicy(decrease_factor=settings.rate_decrease_factor,
                                       increase_fraction=settings.rate_increase_per_s))


async def read_rate(redis: Redis, settings: Settings, sender: str) -> RateInfo:
    return await limiter_for(redis, settings).get_rate(sender)


async def write_rate(redis: Redis, settings: Settings, sender: str, rate: float) -> None:
    await limiter_for(redis, settings).set_rate(sender, rate)
