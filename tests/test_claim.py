"""The claim script against a real Redis: at most once, the pair slot in the same step, and a
resent claim (Redis restarted before replying) that finds its own claim."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio as aioredis

from dispatcher.campaign import create_campaign
from dispatcher.ratelimit import RateLimiter
from dispatcher.settings import load_settings
from dispatcher.store import JobStore
from dispatcher.worker.app import make_celery

TEMPLATE = {"type": "button", "body": {"text": "Hi {{ name }}"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Yes"}}]}}
PAIR = "dispatcher:rl:{default}:pair:919876500000"


def claims(redis_url: str, steps: Any) -> Any:
    conf = load_settings(redis_url=redis_url)
    celery_app = make_celery(conf)

    async def go() -> Any:
        client = aioredis.Redis.from_url(redis_url)
        store = JobStore(client)
        try:
            summary = await create_campaign(
                TEMPLATE, [{"to": "+919876500000", "name": "A"}], name="c", settings=conf,
                store=store, celery_app=celery_app)
            return await steps(store, f"{summary.campaign_id}.1")
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    finally:
        celery_app.close()


def test_a_resent_claim_finds_its_own_claim(redis_client: redis.Redis, redis_url: str) -> None:
    async def steps(store: JobStore, job_id: str) -> list[tuple[bool, str]]:
        return [await store.claim(job_id, "w1", claim_id="w1.7"),
                await store.claim(job_id, "w1", claim_id="w1.7"),  # the same call, resent
                await store.claim(job_id, "w1", claim_id="w1.8"),  # another call: refused
                await store.claim(job_id, "w2")]

    assert claims(redis_url, steps) == [(True, "1"), (True, "1"), (False, "sending"),
                                        (False, "sending")]


def test_the_claim_takes_the_pair_slot_or_leaves_the_job_queued(
        redis_client: redis.Redis, redis_url: str) -> None:
    redis_client.set(PAIR, "1", px=3000)

    async def steps(store: JobStore, job_id: str) -> list[Any]:
        busy = await store.claim(job_id, "w1", PAIR, 6000, claim_id="w1.1")
        status = (await store.job(job_id) or {}).get("st")
        await store.redis.delete(PAIR)
        free = await store.claim(job_id, "w1", PAIR, 6000, claim_id="w1.2")
        return [busy, status, free, await store.redis.pttl(PAIR)]

    busy, status, free, pttl = claims(redis_url, steps)
    assert busy[0] is False and busy[1].startswith("pair:")
    assert 2000 < int(busy[1].removeprefix("pair:")) <= 3000
    assert status == "queued"
    assert free == (True, "1") and 5000 < pttl <= 6000


def test_a_refused_send_gives_the_pair_slot_back(redis_client: redis.Redis,
                                                 redis_url: str) -> None:
    async def go() -> tuple[int, int]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            limiter = RateLimiter(client)
            assert await limiter.try_pair("default", "919876500000") == 0.0
            held = await client.pttl(PAIR)
            await limiter.release_pair("default", "919876500000")
            return held, await client.exists(PAIR)
        finally:
            await client.aclose()

    held, left = asyncio.run(go())
    assert held > 5000 and left == 0
