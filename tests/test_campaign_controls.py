"""Controls, scheduling, auto-pause, render-at-send and the HTTP handler, against a real Redis
(no workers: the worker-side functions get a minimal runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from dispatcher.campaign import create_campaign, create_campaign_from_request
from dispatcher.campaigns import ControlError, campaign_status, cancel, pause, resume, retry
from dispatcher.errors import NotFoundError
from dispatcher.settings import Settings, load_settings
from dispatcher.store import JobStore, Status
from dispatcher.worker.app import make_celery
from dispatcher.worker.guards import after_permanent_failure
from dispatcher.worker.scheduler import activate_due_once
from dispatcher.worker.sending import prepare_batch

T = TypeVar("T")
TEMPLATE = {"type": "button", "body": {"text": "Hi {{ name }}"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Yes"}}]}}


@pytest.fixture()
def conf(redis_client: redis.Redis, redis_url: str) -> Settings:
    return load_settings(redis_url=redis_url)


@pytest.fixture()
def celery_app(conf: Settings) -> Iterator[Any]:
    app = make_celery(conf)
    yield app
    app.close()


def run(conf: Settings, action: Callable[[JobStore], Awaitable[T]]) -> T:
    async def go() -> T:
        client = aioredis.Redis.from_url(conf.redis_url)
        try:
            return await action(JobStore(client))
        finally:
            await client.aclose()

    return asyncio.run(go())


def rows(count: int, start: int = 0) -> list[dict[str, str]]:
    return [{"to": f"+9198765{start + i:05d}", "name": f"N{i}"} for i in range(count)]


def make(conf: Settings, celery_app: Any, count: int, **kw: Any) -> str:
    async def go(store: JobStore) -> str:
        summary = await create_campaign(TEMPLATE, rows(count), name="c", settings=conf,
                                        store=store, celery_app=celery_app, **kw)
        return summary.campaign_id

    return run(conf, go)


def runtime(store: JobStore, conf: Settings, celery_app: Any) -> Any:
    return SimpleNamespace(store=store, settings=conf, celery=celery_app, worker_id="w1")


def test_pause_parks_claims_and_resume_publishes_them(conf: Settings, celery_app: Any,
                                                      redis_client: redis.Redis) -> None:
    cid = make(conf, celery_app, 3)
    redis_client.delete("dispatcher.send")

    async def go(store: JobStore) -> tuple[Any, ...]:
        await pause(store, cid)
        claimed = await store.claim(f"{cid}.1", "w1")
        with pytest.raises(ControlError, match="paused, not running"):
            await pause(store, cid)
        paused = (await campaign_status(store, cid))["state"]
        count = await resume(store, celery_app, cid, 100)
        return claimed, paused, count

    claimed, paused, count = run(conf, go)
    assert claimed == (False, "paused") and paused == "paused" and count == 1
    assert redis_client.llen("dispatcher.send") == 1


def test_cancel_marks_every_waiting_job_once(conf: Settings, celery_app: Any,
                                             redis_client: redis.Redis) -> None:
    cid = make(conf, celery_app, 5)

    async def go(store: JobStore) -> dict[str, Any]:
        await store.claim(f"{cid}.1", "w1")  # sending: finishes with its outcome
        await store.claim(f"{cid}.2", "w1")
        await store.move(f"{cid}.2", [Status.SENDING], Status.RETRYING, delay_s=60)
        await pause(store, cid)
        await store.claim(f"{cid}.3", "w1")  # parked
        assert await cancel(store, cid) == 4
        assert await store.claim(f"{cid}.4", "w1") == (False, "cancelled")  # counted once
        return await campaign_status(store, cid)

    final = run(conf, go)
    assert final["state"] == "cancelled"
    assert final["counts"]["cancelled"] == 4 and final["counts"]["sending"] == 1
    assert final["counts"]["queued"] == final["counts"]["retrying"] == 0
    assert redis_client.zcard("dispatcher:due") == 0
    assert not redis_client.exists(f"dispatcher:parked:{cid}")


def test_retry_puts_failed_and_unknown_back_keeping_history(conf: Settings, celery_app: Any,
                                                            redis_client: redis.Redis) -> None:
    cid = make(conf, celery_app, 3)
    redis_client.delete("dispatcher.send")

    async def go(store: JobStore) -> tuple[int, list[str], dict[str, Any]]:
        for n, to in ((1, Status.FAILED), (2, Status.UNKNOWN)):
            await store.claim(f"{cid}.{n}", "w1")
            await store.move(f"{cid}.{n}", [Status.SENDING], to)
        moved = await retry(store, celery_app, cid, [Status.FAILED, Status.UNKNOWN], 100)
        return moved, await store.history(f"{cid}.1"), await campaign_status(store, cid)

    moved, history, final = run(conf, go)
    assert moved == 2 and final["counts"]["queued"] == 3 and final["counts"]["failed"] == 0
    assert [line.split(" ", 1)[1] for line in history] == [
        "sending attempt 1", "failed", "queued retried by cli"]
    assert redis_client.llen("dispatcher.send") == 1


def test_controls_on_unknown_campaigns(conf: Settings, celery_app: Any) -> None:
    with pytest.raises(NotFoundError):
        run(conf, lambda store: cancel(store, "nope"))


def test_scheduled_campaign_is_activated_once_when_due(conf: Settings, celery_app: Any,
                                                       redis_client: redis.Redis) -> None:
    cid = make(conf, celery_app, 150, send_at="2099-01-01T00:00:00Z")
    assert redis_client.llen("dispatcher.send") == 0
    redis_client.zadd("dispatcher:scheduled", {cid: 1.0})  # as if the time had come

    async def go(store: JobStore) -> tuple[bool, bool, str]:
        rt = runtime(store, conf, celery_app)
        first = await activate_due_once(rt)
        second = await activate_due_once(rt)
        return first, second, (await campaign_status(store, cid))["state"]

    assert run(conf, go) == (True, False, "running")
    assert redis_client.llen("dispatcher.send") == 2  # 150 jobs in batches of 100


@pytest.mark.parametrize(("auto_pause", "failed", "sent", "paused"), [
    ({"failure_rate": 0.2, "min_finished": 10}, 3, 7, True),
    ({"failure_rate": 0.2, "min_finished": 10}, 1, 9, False),
    ({"failure_rate": 0.2, "min_finished": 50}, 5, 5, False),
    (False, 10, 0, False),
])
def test_auto_pause_on_permanent_failure_rate(conf: Settings, celery_app: Any,
                                              redis_client: redis.Redis, auto_pause: Any,
                                              failed: int, sent: int, paused: bool) -> None:
    cid = make(conf, celery_app, 1, auto_pause=auto_pause)
    redis_client.hset(f"dispatcher:campaign:{cid}",
                      mapping={"n:failed": failed, "n:sent": sent, "pf": failed - 1})

    async def go(store: JobStore) -> dict[str, Any]:
        await after_permanent_failure(runtime(store, conf, celery_app), f"{cid}.1")
        return await campaign_status(store, cid)

    final = run(conf, go)
    assert (final["state"] == "paused") is paused
    if paused:
        assert final["reason"].startswith("auto-paused: 3 permanent failures in 10")


def test_message_is_rendered_at_send_time_and_opt_outs_are_checked_again(
        conf: Settings, celery_app: Any, redis_client: redis.Redis) -> None:
    cid = make(conf, celery_app, 2)
    redis_client.sadd("dispatcher:suppressed", "919876500001")

    async def go(store: JobStore) -> tuple[Any, dict[str, Any]]:
        rt = runtime(store, conf, celery_app)
        ids = [f"{cid}.1", f"{cid}.2"]
        records = await store.load(ids)
        ready = await prepare_batch(rt, [(i, r or {}) for i, r in zip(ids, records, strict=True)])
        return ready, await campaign_status(store, cid)

    ready, final = run(conf, go)
    assert [(job_id, rec["s"], message) for job_id, rec, message in ready] == [
        (f"{cid}.1", "default", {"to": "919876500000", "type": "interactive",
                                  "interactive": {**TEMPLATE, "body": {"text": "Hi N0"}}})]
    assert final["counts"]["suppressed"] == 1 and final["counts"]["queued"] == 1


def test_http_handler_creates_or_explains(conf: Settings, celery_app: Any) -> None:
    def post(body: Any) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return run(conf, lambda store: create_campaign_from_request(raw, store, celery_app,
                                                                    conf))

    spec = {"name": "api", "message": TEMPLATE,
            "recipients": [*rows(2), {"to": "12", "name": "x"}, {"to": "+919876500009"}]}
    status, body = post(spec)
    assert status == 201 and body["accepted"] == 2 and body["rejected"] == 2
    assert [(p["index"], p["path"]) for p in body["problems"]] == [(2, "to"), (3, "name")]
    assert post(b"{nope")[0] == 400
    assert post({**spec, "colour": 1}) == (422, {"errors": [
        {"index": None, "path": "colour", "reason": "unknown key"}]})
    status, body = post({**spec, "sender": "ghost"})
    assert status == 422 and body["errors"][0]["path"] == "sender"
    status, body = post({**spec, "send_at": "2001-01-01T00:00:00Z"})
    assert status == 422 and body["errors"][0]["path"] == "send_at"
    status, body = post({**spec, "message": {**TEMPLATE, "{{ k }}": 1}})
    assert status == 422 and "placeholders" in body["errors"][0]["reason"]
    status, body = post({**spec, "dry_run": True})
    assert status == 200 and body["campaign_id"] is None
