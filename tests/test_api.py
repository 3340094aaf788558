"""The HTTP API: bearer auth on every route, the campaign and job views, export, controls,
OpenAPI, /healthz, and ``serve``'s refusal to run open."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from starlette.routing import Mount
from typer.testing import CliRunner

from dispatcher import campaigns
from dispatcher.api import create_app
from dispatcher.cli.app import app as cli_app
from dispatcher.cli.monitor import check_serve_access
from dispatcher.errors import ConfigError
from dispatcher.settings import load_settings

TOKEN = "s3cret-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPEN_PATHS = {"/healthz", "/", "/webhooks/whatsapp"}
STATUSES = ["sent", "delivered", "read", "failed", "queued", "rejected"]


def seed(client: redis.Redis, campaign_id: str = "c1", count: int = 12) -> None:
    """A campaign whose jobs cycle through STATUSES; failures carry an error; one reply."""
    pipe = client.pipeline(transaction=False)
    counts: dict[str, int] = {}
    for n in range(1, count + 1):
        status = STATUSES[(n - 1) % len(STATUSES)]
        counts[status] = counts.get(status, 0) + 1
        fields: dict[str, Any] = {"c": campaign_id, "s": "default", "to": f"9198765{n:05d}",
                                  "st": status, "att": 1, "t0": time.time(),
                                  "p": '{"type": "interactive"}'}
        if status == "failed":
            fields.update(ecl="permanent", eco="131026", etx="=HYPERLINK(\"x\")")
            pipe.sadd(f"dispatcher:cst:{campaign_id}:failed", f"{campaign_id}.{n}")
        pipe.hset(f"dispatcher:job:{campaign_id}.{n}", mapping=fields)
        pipe.rpush(f"dispatcher:hist:{campaign_id}.{n}", f"{time.time():.3f} sending attempt 1",
                   f"{time.time():.3f} {status}")
    pipe.hset(f"dispatcher:campaign:{campaign_id}", mapping={
        "id": campaign_id, "name": "Spring sale", "sender": "default", "state": "running",
        "total": count, "jobs": count, "created": time.time(), "replied": 1,
        "r:btn_growth": 1, "rt:btn_growth": "Growth Plan",
        **{f"n:{s}": c for s, c in counts.items()}})
    pipe.zadd("dispatcher:campaigns", {campaign_id: time.time()})
    pipe.execute()


@pytest.fixture()
def api(redis_url: str, redis_client: redis.Redis) -> Iterator[TestClient]:
    seed(redis_client)
    conf = load_settings(redis_url=redis_url, api_token=TOKEN, webhook_app_secret="x")
    with TestClient(create_app(conf)) as client:
        yield client


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "c1", path)


def all_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (FastAPI >= 0.16x keeps them
    as lazily included router objects)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from all_routes(inner.routes, prefix + route.include_context.prefix)
        elif not isinstance(route, Mount):  # the dashboard's static files (no data)
            yield prefix + route.path, set(getattr(route, "methods", None) or {"GET"})


def test_every_route_but_the_open_ones_needs_the_token(api: TestClient) -> None:
    checked = 0
    for raw_path, methods in all_routes(api.app.routes):  # type: ignore[attr-defined]
        path = concrete(raw_path)
        for method in sorted(methods):
            if method == "HEAD" or path in OPEN_PATHS:
                continue
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                answer = api.request(method, path, headers=headers)
                assert answer.status_code == 401, (method, path, headers, answer.status_code)
                assert answer.headers.get("www-authenticate") == "Bearer"
            checked += 1
    assert checked >= 10  # campaigns, jobs, export, 4 controls, metrics, openapi, docs, job


def test_open_routes_are_only_health_dashboard_and_webhooks(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"ok": True, "redis": True}
    assert api.get("/").status_code == 200
    api_routes = {path for path, _ in all_routes(api.app.routes)}  # type: ignore[attr-defined]
    assert {"/v1/campaigns", "/v1/campaigns/{campaign_id}", "/v1/campaigns/{campaign_id}/jobs",
            "/v1/jobs/{job_id}", "/metrics"} <= api_routes


def test_campaign_list_and_details_have_the_documented_shape(api: TestClient) -> None:
    listed = api.get("/v1/campaigns", headers=AUTH).json()["campaigns"]
    assert [c["campaign_id"] for c in listed] == ["c1"]
    data = api.get("/v1/campaigns/c1", headers=AUTH).json()
    assert set(data["counts"]) >= {"queued", "sending", "retrying", "sent", "delivered", "read",
                                   "failed", "unknown", "rejected", "cancelled"}
    assert sum(data["counts"].values()) == data["total"] == 12
    assert data["counts"]["failed"] == 2 and data["reached"] == {"sent": 6, "delivered": 4,
                                                                 "read": 2}
    assert data["failures"] == [{"error_class": "permanent", "code": "131026", "count": 2,
                                 "example": "=HYPERLINK(\"x\")"}]
    assert data["replies"] == {"replied": 1, "options": [
        {"id": "btn_growth", "title": "Growth Plan", "count": 1}]}
    assert data["state"] == "running" and data["pending"] == 2
    assert listed[0]["counts"] == data["counts"]
    assert api.get("/v1/campaigns/nope", headers=AUTH).status_code == 404


def test_jobs_are_paged_by_cursor_and_filtered(api: TestClient) -> None:
    seen, cursor = [], 0
    while cursor is not None:
        page = api.get("/v1/campaigns/c1/jobs", params={"cursor": cursor, "limit": 5},
                       headers=AUTH).json()
        seen += [j["job_id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
    assert seen == [f"c1.{n}" for n in range(1, 13)]
    failed = api.get("/v1/campaigns/c1/jobs", params={"status": "failed"}, headers=AUTH).json()
    assert [j["job_id"] for j in failed["jobs"]] == ["c1.4", "c1.10"]
    assert failed["jobs"][0]["error"]["code"] == "131026"
    read = api.get("/v1/campaigns/c1/jobs", params={"status": "read", "limit": 1},
                   headers=AUTH).json()
    assert [j["job_id"] for j in read["jobs"]] == ["c1.3"] and read["next_cursor"] == 3
    assert api.get("/v1/campaigns/c1/jobs", params={"status": "bogus"},
                   headers=AUTH).status_code == 422


def test_job_shows_its_history(api: TestClient) -> None:
    data = api.get("/v1/jobs/c1.4", headers=AUTH).json()
    assert data["status"] == "failed" and data["attempts"] == 1
    assert [h["status"] for h in data["history"]] == ["sending", "failed"]
    assert data["history"][0]["note"] == "attempt 1"
    assert api.get("/v1/jobs/c1.99", headers=AUTH).status_code == 404


def test_controls_answer_501_while_the_function_is_missing(
        api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(campaigns, "resume")
    answer = api.post("/v1/campaigns/c1/resume", headers=AUTH)
    assert answer.status_code == 501 and "resume" in answer.json()["detail"]


def test_export_streams_csv_with_formulas_neutralised(api: TestClient) -> None:
    answer = api.get("/v1/campaigns/c1/export", params={"format": "csv"}, headers=AUTH)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 12
    assert rows[3]["error_text"] == "'=HYPERLINK(\"x\")"
    lines = api.get("/v1/campaigns/c1/export", params={"format": "jsonl"},
                    headers=AUTH).text.splitlines()
    assert len(lines) == 12 and '"job_id":"c1.1"' in lines[0]
    assert api.get("/v1/campaigns/nope/export", headers=AUTH).status_code == 404


def test_openapi_documents_the_routes(api: TestClient) -> None:
    schema = api.get("/openapi.json", headers=AUTH).json()
    assert "/v1/campaigns/{campaign_id}" in schema["paths"]
    assert "CampaignDetails" in schema["components"]["schemas"]


@pytest.mark.parametrize("action", ["pause", "cancel", "resume", "retry"])
def test_controls_call_the_campaign_functions(api: TestClient, redis_client: redis.Redis,
                                             action: str) -> None:
    if not hasattr(campaigns, action):
        pytest.skip(f"dispatcher.campaigns.{action} does not exist yet (another engineer's work)")
    if action == "resume":
        redis_client.hset("dispatcher:campaign:c1", "state", "paused")
    answer = api.post(f"/v1/campaigns/c1/{action}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["action"] == action
    expected = {"pause": "paused", "cancel": "cancelled", "resume": "running"}.get(action)
    if expected:
        assert answer.json()["status"]["state"] == expected


def test_serve_refuses_to_run_open_except_on_loopback() -> None:
    with pytest.raises(ConfigError, match="DISPATCHER_API_TOKEN"):
        check_serve_access("127.0.0.1", token_set=False, insecure_open=False)
    with pytest.raises(ConfigError, match="loopback"):
        check_serve_access("0.0.0.0", token_set=False, insecure_open=True)
    check_serve_access("::1", token_set=False, insecure_open=True)
    check_serve_access("0.0.0.0", token_set=True, insecure_open=False)
    import dispatcher.cli.monitor  # noqa: F401  (registers the commands)

    result = CliRunner().invoke(cli_app, ["serve", "--port", "1"])
    assert result.exit_code != 0 and "DISPATCHER_API_TOKEN" in str(result.exception)


def test_open_access_app_needs_no_token(redis_url: str, redis_client: redis.Redis) -> None:
    seed(redis_client)
    with TestClient(create_app(load_settings(redis_url=redis_url), open_access=True)) as client:
        assert client.get("/v1/campaigns").status_code == 200
    with TestClient(create_app(load_settings(redis_url=redis_url))) as client:
        assert client.get("/v1/campaigns").status_code == 401  # no token set: nobody gets in


def test_serve_runs_open_on_loopback_when_told(redis_url: str, redis_client: redis.Redis,
                                               tmp_path: Any) -> None:
    import os
    import socket
    import subprocess
    import sys

    import httpx

    seed(redis_client)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DISPATCHER_REDIS_URL": redis_url}
    proc = subprocess.Popen([sys.executable, "-m", "dispatcher", "serve", "--insecure-open",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/campaigns")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["campaigns"][0]["campaign_id"] == "c1"
    finally:
        proc.terminate()
        proc.wait(10)
