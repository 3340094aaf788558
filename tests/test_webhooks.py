"""The webhook receiver: handshake, signature on raw bytes, size limit, statuses applied
idempotently and never backwards, replies counted per option, and its speed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from dispatcher.api import create_app
from dispatcher.settings import load_settings
from dispatcher.webhooks import sign

SECRET = "app-secret-for-tests"
URL = "/webhooks/whatsapp"
CID = "camp1"


def seed_sent(client: redis.Redis, campaign_id: str, count: int, status: str = "sent") -> None:
    """A running campaign whose ``count`` jobs are in ``status`` with provider ids indexed."""
    day = int(client.time()[0]) // 86400
    pipe = client.pipeline(transaction=False)
    pipe.hset(f"dispatcher:campaign:{campaign_id}", mapping={
        "id": campaign_id, "name": "seeded", "sender": "default", "state": "running",
        "total": count, "jobs": count, f"n:{status}": count, "created": time.time()})
    pipe.zadd("dispatcher:campaigns", {campaign_id: time.time()})
    for n in range(1, count + 1):
        job_id = f"{campaign_id}.{n}"
        pipe.hset(f"dispatcher:job:{job_id}", mapping={
            "c": campaign_id, "s": "default", "to": f"9198765{n:05d}", "st": status,
            "att": 1, "pid": f"wamid.{job_id}", "t0": time.time()})
        pipe.hset(f"dispatcher:pid:{day}", f"wamid.{job_id}", job_id)
    pipe.execute()


def status_item(job: str, status: str, ts: int = 1750030073, opaque: bool = True,
                **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"wamid.{job}", "status": status, "timestamp": str(ts),
                            "recipient_id": "918856879188", **extra}
    if opaque:
        item["biz_opaque_callback_data"] = job
    return item


def reply_item(job: str, option: str, ts: int = 1750030100,
               reply_id: str | None = None) -> dict[str, Any]:
    return {"from": "918856879188", "id": reply_id or f"wamid.reply.{job}.{option}",
            "timestamp": str(ts), "context": {"from": "15550783881", "id": f"wamid.{job}"},
            "type": "interactive",
            "interactive": {"type": "button_reply",
                            "button_reply": {"id": option, "title": option.title()}}}


def body(statuses: list[dict[str, Any]] | None = None,
         messages: list[dict[str, Any]] | None = None) -> bytes:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"phone_number_id": "106540352242922"}}
    if statuses:
        value["statuses"] = statuses
    if messages:
        value["messages"] = messages
    return orjson.dumps({"object": "whatsapp_business_account",
                         "entry": [{"id": "1", "changes": [{"field": "messages",
                                                            "value": value}]}]})


def post(api: TestClient, raw: bytes, secret: str | None = SECRET) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(raw, secret)
    return api.post(URL, content=raw, headers=headers)


def make_client(redis_url: str, **settings: Any) -> TestClient:
    conf = load_settings(redis_url=redis_url, api_token="api-token", **settings)
    return TestClient(create_app(conf))


@pytest.fixture()
def api(redis_url: str, redis_client: redis.Redis) -> Iterator[TestClient]:
    with make_client(redis_url, webhook_app_secret=SECRET,
                     webhook_verify_token="verify-me") as client:
        yield client


def job(client: redis.Redis, job_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(f"dispatcher:job:{job_id}").items()}


def counters(client: redis.Redis, campaign_id: str = CID) -> dict[str, int]:
    raw = client.hgetall(f"dispatcher:campaign:{campaign_id}")
    return {k.decode()[2:]: int(v) for k, v in raw.items()
            if k.startswith(b"n:") and int(v) != 0}


def snapshot(client: redis.Redis) -> dict[bytes, Any]:
    """Every key and its value: to show that a refused request changed nothing."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter():
        kind = client.type(key)
        out[key] = (client.hgetall(key) if kind == b"hash" else
                    client.lrange(key, 0, -1) if kind == b"list" else
                    client.smembers(key) if kind == b"set" else client.get(key)
                    if kind == b"string" else kind)
    return out


# -- handshake --------------------------------------------------------------------------------

def test_handshake_answers_the_challenge_only_with_the_right_token(api: TestClient) -> None:
    good = api.get(URL, params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                "hub.challenge": "1158201444"})
    assert good.status_code == 200 and good.text == "1158201444"
    bad = api.get(URL, params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                               "hub.challenge": "1158201444"})
    assert bad.status_code == 403 and "1158201444" not in bad.text
    assert api.get(URL, params={"hub.mode": "unsubscribe", "hub.verify_token": "verify-me",
                                "hub.challenge": "x"}).status_code == 403


def test_handshake_fails_when_no_verify_token_is_configured(redis_url: str) -> None:
    with make_client(redis_url, webhook_app_secret=SECRET) as client:
        answer = client.get(URL, params={"hub.mode": "subscribe", "hub.verify_token": "",
                                         "hub.challenge": "x"})
    assert answer.status_code == 403


# -- refusals change nothing ------------------------------------------------------------------

def test_missing_or_forged_signature_changes_nothing(api: TestClient,
                                                     redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 3)
    raw = body([status_item(f"{CID}.1", "read")], [reply_item(f"{CID}.1", "btn_growth")])
    before = snapshot(redis_client)
    assert post(api, raw, secret=None).status_code == 401
    assert post(api, raw, secret="not-the-secret").status_code == 401
    tampered = raw.replace(b'"read"', b'"failed"')
    forged = api.post(URL, content=tampered,
                      headers={"X-Hub-Signature-256": sign(raw, SECRET)})
    assert forged.status_code == 401
    assert api.post(URL, content=raw, headers={"X-Hub-Signature-256": "sha256=zz"}
                    ).status_code == 401
    assert snapshot(redis_client) == before


def test_every_post_is_refused_without_an_app_secret(redis_url: str,
                                                     redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 1)
    before = snapshot(redis_client)
    with make_client(redis_url) as client:
        raw = body([status_item(f"{CID}.1", "read")])
        assert post(client, raw).status_code == 403
        assert post(client, raw, secret="").status_code == 403
    assert snapshot(redis_client) == before


def test_oversized_body_is_refused_before_parsing(api: TestClient,
                                                  redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 1)
    before = snapshot(redis_client)
    filler = [status_item(f"{CID}.1", "read", note="x" * 100)] * 6000  # ~1.3 MiB, signed
    raw = body(filler)
    assert len(raw) > 1024 * 1024
    assert post(api, raw).status_code == 413
    assert snapshot(redis_client) == before


def test_an_oversized_chunked_body_is_cut_off(api: TestClient) -> None:
    """No Content-Length (chunked): reading stops past the limit."""
    chunks = (b"x" * 65536 for _ in range(20))
    answer = api.post(URL, content=chunks, headers={"X-Hub-Signature-256": "sha256=00"})
    assert answer.status_code == 413


def test_a_signed_body_that_is_not_json_is_a_400(api: TestClient) -> None:
    assert post(api, b"{not json").status_code == 400
    assert post(api, b"[1, 2]").status_code == 400


# -- statuses ---------------------------------------------------------------------------------

def test_statuses_move_forward_and_replays_change_nothing(api: TestClient,
                                                          redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 2)
    first = post(api, body([status_item(f"{CID}.1", "delivered")]))
    assert first.status_code == 200 and first.json()["statuses_applied"] == 1
    assert post(api, body([status_item(f"{CID}.1", "read")])).json()["statuses_applied"] == 1
    history = redis_client.llen(f"dispatcher:hist:{CID}.1")
    replay = post(api, body([status_item(f"{CID}.1", "delivered"),
                             status_item(f"{CID}.1", "read")]))
    assert replay.json()["statuses_applied"] == 0 and replay.json()["statuses_ignored"] == 2
    assert job(redis_client, f"{CID}.1")["st"] == "read"
    assert redis_client.llen(f"dispatcher:hist:{CID}.1") == history
    assert counters(redis_client) == {"sent": 1, "read": 1}


def test_out_of_order_read_before_delivered_stays_read(api: TestClient,
                                                       redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 1)
    post(api, body([status_item(f"{CID}.1", "read", ts=200)]))
    late = post(api, body([status_item(f"{CID}.1", "delivered", ts=100),
                           status_item(f"{CID}.1", "sent", ts=50)]))
    assert late.json()["statuses_ignored"] == 2
    record = job(redis_client, f"{CID}.1")
    assert record["st"] == "read" and record["tr"] == "200"
    assert counters(redis_client) == {"read": 1}


def test_failed_records_the_provider_error_and_never_follows_delivery(
        api: TestClient, redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 2)
    error = {"code": 131026, "title": "Message undeliverable", "message": "m",
             "error_data": {"details": "recipient cannot receive"}}
    post(api, body([status_item(f"{CID}.1", "failed", errors=[error]),
                    status_item(f"{CID}.2", "delivered")]))
    late_failure = post(api, body([status_item(f"{CID}.2", "failed", errors=[error])]))
    assert late_failure.json()["statuses_ignored"] == 1
    record = job(redis_client, f"{CID}.1")
    assert record["st"] == "failed" and record["eco"] == "131026"
    assert record["ecl"] == "delivery" and "undeliverable" in record["etx"]
    assert redis_client.smembers(f"dispatcher:cst:{CID}:failed") == {f"{CID}.1".encode()}
    assert job(redis_client, f"{CID}.2")["st"] == "delivered"
    assert counters(redis_client) == {"failed": 1, "delivered": 1}


def test_a_status_without_callback_data_is_found_by_provider_id(
        api: TestClient, redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 1)
    answer = post(api, body([status_item(f"{CID}.1", "delivered", opaque=False),
                             status_item("nope.9", "delivered", opaque=False)]))
    assert answer.json()["statuses_applied"] == 1 and answer.json()["statuses_unmatched"] == 1
    assert job(redis_client, f"{CID}.1")["st"] == "delivered"


def test_a_receipt_that_beats_the_worker_records_the_provider_id(
        api: TestClient, redis_client: redis.Redis) -> None:
    """The webhook can arrive before the worker records ``sent``: the job moves on (and is
    never sent again), with the provider id indexed for replies."""
    seed_sent(redis_client, CID, 1, status="sending")
    redis_client.hdel(f"dispatcher:job:{CID}.1", "pid")
    redis_client.delete(*redis_client.keys("dispatcher:pid:*"))
    post(api, body([status_item(f"{CID}.1", "delivered")]))
    record = job(redis_client, f"{CID}.1")
    assert record["st"] == "delivered" and record["pid"] == f"wamid.{CID}.1" and "ts" in record
    assert counters(redis_client) == {"delivered": 1}
    reply = post(api, body(messages=[reply_item(f"{CID}.1", "btn_scale")]))
    assert reply.json()["replies_applied"] == 1


# -- replies ----------------------------------------------------------------------------------

def test_replies_are_counted_per_option_once_and_the_latest_choice_wins(
        api: TestClient, redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 3)
    post(api, body(messages=[reply_item(f"{CID}.1", "btn_growth"),
                             reply_item(f"{CID}.2", "btn_growth"),
                             reply_item(f"{CID}.3", "btn_scale")]))
    replay = post(api, body(messages=[reply_item(f"{CID}.1", "btn_growth")]))
    assert replay.json()["replies_ignored"] == 1
    older = post(api, body(messages=[reply_item(f"{CID}.2", "btn_scale", ts=1)]))
    assert older.json()["replies_ignored"] == 1
    changed = post(api, body(messages=[reply_item(f"{CID}.2", "btn_scale", ts=1750039999)]))
    assert changed.json()["replies_applied"] == 1
    unknown = post(api, body(messages=[reply_item("other.1", "btn_scale")]))
    assert unknown.status_code == 200 and unknown.json()["replies_unmatched"] == 1
    campaign = {k.decode(): v.decode() for k, v in
                redis_client.hgetall(f"dispatcher:campaign:{CID}").items()}
    assert campaign["replied"] == "3"
    assert (campaign["r:btn_growth"], campaign["r:btn_scale"]) == ("1", "2")
    assert campaign["rt:btn_scale"] == "Btn_Scale"
    assert job(redis_client, f"{CID}.2")["rop"] == "btn_scale"


# -- speed ------------------------------------------------------------------------------------

def test_ten_thousand_statuses_are_applied_in_under_ten_seconds(
        api: TestClient, redis_client: redis.Redis) -> None:
    seed_sent(redis_client, CID, 5000)
    posts = []
    for stage in ("delivered", "read"):
        for start in range(1, 5001, 250):
            items = [status_item(f"{CID}.{n}", stage) for n in range(start, start + 250)]
            raw = body(items)
            posts.append((raw, sign(raw, SECRET)))
    started = time.perf_counter()
    applied = 0
    for raw, signature in posts:
        answer = api.post(URL, content=raw, headers={"X-Hub-Signature-256": signature})
        assert answer.status_code == 200
        applied += answer.json()["statuses_applied"]
    elapsed = time.perf_counter() - started
    print(f"10,000 webhook statuses in {elapsed:.2f} s")
    assert applied == 10_000
    assert elapsed < 10.0
    assert counters(redis_client) == {"read": 5000}
