"""The dashboard in a real headless browser (Debian's ``chromium``): the numbers it shows match
the API's JSON, on the campaign list and on a campaign page with failures by code."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import redis
from test_api import seed
from test_api_e2e import ServerThread, free_port

from dispatcher.api import create_app
from dispatcher.settings import load_settings

TOKEN = "browser-token"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); CI has it")


class DomIds(HTMLParser):
    """Text of every element with a data-testid, grouped by id, in document order; rows
    (``campaign-row``, ``failure-row``, ``reply-row``) as dicts of their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self.rows: list[dict[str, Any]] = []
        self._open: list[tuple[str, str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        testid = found.get("data-testid")
        if testid and testid.endswith("-row"):
            self.rows.append({"kind": testid, **{k: v for k, v in found.items() if v}})
        if testid:
            self._open.append((tag, testid, []))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, testid, parts = self._open.pop()
            text = "".join(parts).strip()
            self.values.setdefault(testid, []).append(text)
            if self.rows and not testid.endswith("-row"):
                self.rows[-1].setdefault(testid, text)

    def handle_data(self, data: str) -> None:
        for _, _, parts in self._open:
            parts.append(data)


def dump_dom(url: str) -> DomIds:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--virtual-time-budget=4000", "--dump-dom", url],
            capture_output=True, text=True, timeout=60, check=True)
    parser = DomIds()
    parser.feed(out.stdout)
    return parser


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    seed(client, "c1", 12)
    seed(client, "c2", 30)
    client.close()
    conf = load_settings(redis_url=redis_url, api_token=TOKEN)
    with ServerThread(create_app(conf), free_port()) as running:
        yield running.url


def api(url: str, path: str) -> Any:
    return httpx.get(url + path, headers={"Authorization": f"Bearer {TOKEN}"}).json()


def test_campaign_list_shows_the_api_numbers_and_keeps_polling(server: str) -> None:
    page = dump_dom(f"{server}/#token={TOKEN}")
    assert not page.values.get("error") or page.values["error"] == [""]
    assert int(page.values["polls"][0]) >= 2  # it refreshed on its own, more than once
    shown = {r["data-campaign-id"]: r for r in page.rows if r["kind"] == "campaign-row"}
    expected = api(server, "/v1/campaigns")["campaigns"]
    assert set(shown) == {c["campaign_id"] for c in expected} == {"c1", "c2"}
    for c in expected:
        row = shown[c["campaign_id"]]
        assert row["name"] == c["name"] and row["state"] == c["state"]
        assert int(row["total"]) == c["total"] and int(row["pending"]) == c["pending"]
        assert int(row["count-failed"]) == c["counts"]["failed"]
        for stage in ("sent", "delivered", "read"):
            assert int(row[f"reached-{stage}"]) == c["reached"][stage]


def test_campaign_page_shows_counts_failures_and_replies(server: str) -> None:
    page = dump_dom(f"{server}/#campaign=c2&token={TOKEN}")
    expected = api(server, "/v1/campaigns/c2")
    for status, count in expected["counts"].items():
        assert page.values[f"detail-count-{status}"] == [str(count)], status
    assert page.values["detail-count-total"] == [str(expected["total"])]
    assert page.values["detail-state"] == [expected["state"]]
    failures = [r for r in page.rows if r["kind"] == "failure-row"]
    assert [(r["failure-code"], int(r["failure-count"])) for r in failures] == [
        (f["code"], f["count"]) for f in expected["failures"]]
    assert failures and failures[0]["failure-code"] == "131026"
    replies = [r for r in page.rows if r["kind"] == "reply-row"]
    assert [(r["reply-id"], int(r["reply-count"])) for r in replies] == [
        (o["id"], o["count"]) for o in expected["replies"]["options"]]


def test_without_a_token_the_page_asks_for_one(server: str) -> None:
    page = dump_dom(f"{server}/")
    assert "campaign-row" not in {r["kind"] for r in page.rows}
    assert page.values["polls"] == ["0"]
