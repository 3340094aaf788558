"""POST /v1/campaigns: recipients inline, the campaign files' validation, JSON errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from dispatcher.api import create_app
from dispatcher.settings import load_settings

TOKEN = "create-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MESSAGE = {"type": "button", "body": {"text": "Hi {{ name }}, pick one"},
           "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "{{ plan }}"}}]}}


@pytest.fixture()
def api(redis_url: str, redis_client: redis.Redis) -> Iterator[TestClient]:
    conf = load_settings(redis_url=redis_url, api_token=TOKEN)
    with TestClient(create_app(conf)) as client:
        yield client


def test_create_with_inline_recipients_counts_every_row(api: TestClient) -> None:
    body = {"name": "inline", "sender": "default", "message": MESSAGE, "recipients": [
        {"to": "+919876500001", "name": "Asha", "plan": "Growth"},
        {"to": "+919876500002", "name": "Ravi", "plan": "x" * 25},
        {"to": "+919876500001", "name": "Asha", "plan": "Growth"}]}
    answer = api.post("/v1/campaigns", json=body, headers=AUTH)
    assert answer.status_code == 201, answer.text
    data = answer.json()
    campaign = api.get(f"/v1/campaigns/{data['campaign_id']}", headers=AUTH).json()
    assert campaign["counts"]["rejected"] == 1
    assert campaign["total"] == 3


def test_bad_requests_get_json_errors_and_create_nothing(api: TestClient) -> None:
    before = api.get("/v1/campaigns", headers=AUTH).json()["campaigns"]
    assert api.post("/v1/campaigns", content=b"{not json", headers=AUTH).status_code == 400
    unknown = api.post("/v1/campaigns", headers=AUTH,
                       json={"name": "x", "message": MESSAGE, "recipients": [], "bogus": 1})
    assert unknown.status_code == 422 and unknown.json()["errors"]
    assert api.post("/v1/campaigns", json={"name": "x"}).status_code == 401
    assert api.get("/v1/campaigns", headers=AUTH).json()["campaigns"] == before
