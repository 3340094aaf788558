"""Helpers for driving a :class:`~dispatcher.localstack.LocalStack` from tests, benchmarks and
the demo: build messages, enqueue them through the real producer, wait for the campaign."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterable, Iterator
from typing import Any

import redis.asyncio as aioredis

from dispatcher.campaigns import campaign_status
from dispatcher.localstack import LocalStack
from dispatcher.producer import EnqueueResult, enqueue_messages
from dispatcher.settings import Settings, load_settings
from dispatcher.store import JobStore
from dispatcher.worker.app import make_celery

BUTTON_EXAMPLE: dict[str, Any] = {
    "to": "918856879188", "type": "interactive",
    "interactive": {
        "type": "button",
        "header": {"type": "text", "text": "Select your plan"},
        "body": {"text": "Choose a subscription model to get started:"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
            {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}}]}}}


def recipient(index: int) -> str:
    """A valid Indian mobile number, different for each index below 100,000."""
    return f"9198765{index:05d}"


def button_messages(count: int, start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, message)`` pairs: the seed's button example to ``count`` recipients."""
    for offset in range(count):
        message = copy.deepcopy(BUTTON_EXAMPLE)
        message["to"] = recipient(start + offset)
        yield offset + 1, message


def stack_settings(stack: LocalStack) -> Settings:
    env = stack.env
    overrides: dict[str, Any] = {
        key.removeprefix("DISPATCHER_").lower(): value for key, value in env.items()
        if key.startswith("DISPATCHER_") and key != "DISPATCHER_CONFIG"}
    return load_settings(**overrides)


def enqueue(stack: LocalStack, messages: Iterable[tuple[int, Any]], name: str = "test",
            sender: str = "default") -> EnqueueResult:
    settings = stack_settings(stack)
    celery_app = make_celery(settings)

    async def run() -> EnqueueResult:
        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            return await enqueue_messages(JobStore(client, settings.key_prefix), celery_app,
                                          settings, messages, name=name, sender=sender)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    finally:
        celery_app.close()


def status(stack: LocalStack, campaign_id: str) -> dict[str, Any]:
    settings = stack_settings(stack)

    async def run() -> dict[str, Any]:
        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            return await campaign_status(JobStore(client, settings.key_prefix), campaign_id)
        finally:
            await client.aclose()

    return asyncio.run(run())


def wait_until(stack: LocalStack, campaign_id: str, states: Iterable[str],
               timeout_s: float) -> dict[str, Any]:
    """Poll the campaign until its state is one of ``states``; raise on timeout."""
    wanted = set(states)
    deadline = time.monotonic() + timeout_s
    while True:
        current = status(stack, campaign_id)
        if current["state"] in wanted:
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaign still {current['state']}: {current['counts']}")
        time.sleep(0.2)


def jobs(stack: LocalStack, campaign_id: str) -> list[dict[str, str]]:
    """Every job record of the campaign, in order."""
    settings = stack_settings(stack)

    async def run() -> list[dict[str, str]]:
        client = aioredis.Redis.from_url(settings.redis_url)
        store = JobStore(client, settings.key_prefix)
        try:
            info = await store.campaign(campaign_id) or {}
            out = []
            for index in range(1, int(info.get("jobs", 0)) + 1):
                record = await store.job(f"{campaign_id}.{index}") or {}
                out.append({"id": f"{campaign_id}.{index}", **record})
            return out
        finally:
            await client.aclose()

    return asyncio.run(run())
