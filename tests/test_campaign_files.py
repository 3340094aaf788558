"""Campaign files and recipient files against a real Redis: every bad input of issue 5 gets one
clear line (fatal: nothing is created) or a rejected row with its line, path and reason."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from dispatcher.campaign import enqueue_campaign_file
from dispatcher.campaign.distinct import DistinctCounter
from dispatcher.errors import ConfigError, InputError
from dispatcher.producer import EnqueueSummary
from dispatcher.settings import Settings, load_settings
from dispatcher.store import JobStore
from dispatcher.worker.app import make_celery

HEADER = b"to,name,plan\n"
CAMPAIGN = """\
name: files
sender: {sender}
message:
  type: button
  body: {{text: "Hi {{{{ name }}}}, pick one"}}
  action:
    buttons:
      - {{type: reply, reply: {{id: a, title: "{{{{ plan }}}} Plan"}}}}
      - {{type: reply, reply: {{id: b, title: "Scale Plan"}}}}
recipients: {recipients}
{extra}
"""


def good(i: int) -> bytes:
    return f"+9198765{i:05d},Name{i},Growth\n".encode()


@pytest.fixture()
def conf(redis_client: redis.Redis, redis_url: str) -> Settings:
    return load_settings(redis_url=redis_url)


@pytest.fixture()
def celery_app(conf: Settings) -> Iterator[Any]:
    app = make_celery(conf)
    yield app
    app.close()


def write(tmp: Path, recipients: bytes | None, extra: str = "", name: str = "r.csv",
          sender: str = "default") -> Path:
    if recipients is not None:
        (tmp / name).write_bytes(recipients)
    campaign = tmp / "c.yaml"
    campaign.write_text(CAMPAIGN.format(recipients=name, extra=extra, sender=sender))
    return campaign


def enqueue(conf: Settings, celery_app: Any, campaign: Path, **kw: Any) -> EnqueueSummary:
    async def run() -> EnqueueSummary:
        client = aioredis.Redis.from_url(conf.redis_url)
        try:
            return await enqueue_campaign_file(JobStore(client), celery_app, conf, campaign,
                                               **kw)
        finally:
            await client.aclose()

    return asyncio.run(run())


def nothing_written(client: redis.Redis) -> bool:
    return [k for k in client.keys("*") if not k.startswith(b"_kombu")] == []


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b"phone,name,plan\n" + b"+919876500001,a,b\n", "no 'to' column"),
    (HEADER, "no recipient rows"),
    (b"to,name\n+919876500001,a\n", "no column 'plan'"),
    (b"to,na\xffme,plan\n", "header: not UTF-8"),
    (b"to,name,name,plan\n", "appears more than once"),
])
def test_fatal_recipient_files_create_nothing(conf: Settings, celery_app: Any,
                                              redis_client: redis.Redis, tmp_path: Path,
                                              content: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        enqueue(conf, celery_app, write(tmp_path, content))
    assert nothing_written(redis_client)


def test_bad_rows_are_rejected_with_line_path_and_reason(conf: Settings, celery_app: Any,
                                                         redis_client: redis.Redis,
                                                         tmp_path: Path) -> None:
    huge = b"+919876500009,Name," + b"x" * (10 * 1024 * 1024) + b"\n"
    content = (HEADER + good(1) + b"call me,Bob,Growth\n" + good(2).rstrip() + b",extra\n"
               + b"+919876500004,Ann\n" + b"+919876500005,B\xe9b,Growth\n" + huge
               + b"+919876500006,Cy,Growthxxxxxxxxxxxxxxxxx\n" + good(7) + good(1))
    seen: list[Any] = []
    summary = enqueue(conf, celery_app, write(tmp_path, content), on_problem=seen.append)
    found = {(p.line, p.path, p.reason.split(" (")[0]) for p in summary.problems}
    assert found == {
        (3, "to", "not a phone number"),
        (4, "", "expected 3 columns, found 4"),
        (5, "", "expected 3 columns, found 2"),
        (6, "", "not UTF-8"),
        (7, "", "line longer than 1048576 bytes"),
        (8, "interactive.action.buttons[0].reply.title",
         "String should have at most 20 characters"),
    }
    assert seen == summary.problems
    assert (summary.rows, summary.accepted, summary.rejected, summary.duplicates) == (9, 2, 6, 1)
    info = {k.decode(): v.decode() for k, v in
            redis_client.hgetall(f"dispatcher:campaign:{summary.campaign_id}").items()}
    assert info["state"] == "running" and info["total"] == "9" and info["dups"] == "1"
    assert info["n:rejected"] == "6" and info["n:queued"] == "2"
    assert redis_client.llen("dispatcher.send") == 1
    assert not redis_client.exists(f"dispatcher:seen:{summary.campaign_id}")


def test_job_records_are_compact(conf: Settings, celery_app: Any, redis_client: redis.Redis,
                                 tmp_path: Path) -> None:
    summary = enqueue(conf, celery_app, write(tmp_path, HEADER + good(1)))
    record = redis_client.hgetall(f"dispatcher:job:{summary.campaign_id}.1")
    assert record == {b"st": b"queued", b"to": b"919876500001", b"v": b'["Name1","Growth"]'}


def test_jsonl_recipients_with_a_missing_variable(conf: Settings, celery_app: Any,
                                                  tmp_path: Path) -> None:
    rows = (b'{"to": "+919876500001", "name": "A", "plan": "Pro"}\n'
            b'{"to": "+919876500002", "name": "B"}\n[1]\n{bad json\n')
    summary = enqueue(conf, celery_app, write(tmp_path, rows, name="r.jsonl"))
    assert summary.accepted == 1
    assert [(p.line, p.path) for p in summary.problems] == [(2, "plan"), (3, ""), (4, "")]


@pytest.mark.parametrize(("extra", "reason"), [
    ("colour: blue", "unknown key 'colour'"),
    ("send_at: 2001-01-01T00:00:00Z", "send_at: 2001-01-01T00:00:00+00:00 is in the past"),
    ("send_at: next tuesday", "send_at: not an ISO 8601 date"),
    ("send_at: '2099-01-01T09:00:00'", "send_at: needs a timezone"),
])
def test_bad_campaign_files_are_one_clear_line(conf: Settings, celery_app: Any,
                                               redis_client: redis.Redis, tmp_path: Path,
                                               extra: str, reason: str) -> None:
    with pytest.raises(InputError, match=re.escape(reason)):
        enqueue(conf, celery_app, write(tmp_path, HEADER + good(1), extra))
    assert nothing_written(redis_client)


def test_template_errors_that_no_row_can_fix_are_fatal(conf: Settings, celery_app: Any,
                                                       tmp_path: Path) -> None:
    campaign = tmp_path / "c.json"
    campaign.write_text('{"name": "x", "recipients": "r.csv", "message": {"type": "button", '
                        '"body": {"text": "Hi {{ name }}"}, "action": {"buttons": []}}}')
    (tmp_path / "r.csv").write_bytes(b"to,name\n+919876500001,a\n")
    with pytest.raises(InputError, match=r"c\.json: message\.action\.buttons: "):
        enqueue(conf, celery_app, campaign)


def test_unknown_sender_is_refused(conf: Settings, celery_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown sender 'nobody'"):
        enqueue(conf, celery_app, write(tmp_path, HEADER + good(1), sender="nobody"))


def test_dry_run_writes_nothing(conf: Settings, celery_app: Any, redis_client: redis.Redis,
                                tmp_path: Path) -> None:
    summary = enqueue(conf, celery_app, write(tmp_path, HEADER + good(1) + good(1) + good(2)),
                      dry_run=True)
    assert (summary.accepted, summary.duplicates, summary.campaign_id) == (2, 1, "")
    assert redis_client.dbsize() == 0


def test_dry_run_counts_like_the_real_enqueue(conf: Settings, celery_app: Any,
                                              redis_client: redis.Redis, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DistinctCounter.__init__, "__defaults__", (7,))  # several runs on disk
    rng = random.Random(5)
    rows = b"".join(good(rng.randrange(60)) for _ in range(200)) + b"12345,Bad,Growth\n"
    (tmp_path / "optout.txt").write_text("+9198765" + "00003\n+919876500004\n")
    redis_client.sadd("dispatcher:suppressed", "919876500005")
    campaign = write(tmp_path, HEADER + rows, "suppression: optout.txt")
    dry = enqueue(conf, celery_app, campaign, dry_run=True)
    real = enqueue(conf, celery_app, campaign)
    counts = ("rows", "accepted", "rejected", "duplicates", "suppressed")
    assert [getattr(dry, c) for c in counts] == [getattr(real, c) for c in counts]
    assert dry.duplicates > 100 and dry.suppressed > 0 and dry.rejected == 1


def test_suppression_file_and_global_list(conf: Settings, celery_app: Any,
                                          redis_client: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "optout.txt").write_text("# opted out\n+91 98765 00002\n")
    redis_client.sadd("dispatcher:suppressed", "919876500003")
    campaign = write(tmp_path, HEADER + good(1) + good(2) + good(3) + good(4),
                     "suppression: optout.txt")
    summary = enqueue(conf, celery_app, campaign)
    assert (summary.accepted, summary.suppressed, summary.rows) == (2, 2, 4)
    info = redis_client.hgetall(f"dispatcher:campaign:{summary.campaign_id}")
    assert info[b"n:suppressed"] == b"2"


def test_scheduled_campaign_publishes_nothing(conf: Settings, celery_app: Any,
                                              redis_client: redis.Redis, tmp_path: Path) -> None:
    summary = enqueue(conf, celery_app,
                      write(tmp_path, HEADER + good(1), "send_at: 2099-01-01T09:00:00+05:30"))
    assert summary.state == "scheduled"
    assert redis_client.llen("dispatcher.send") == 0
    assert redis_client.zscore("dispatcher:scheduled", summary.campaign_id) == pytest.approx(
        4070923200.0)


def test_cli_prints_one_line_without_traceback(redis_url: str, tmp_path: Path) -> None:
    campaign = write(tmp_path, HEADER + good(1), "colour: blue")
    done = subprocess.run([sys.executable, "-m", "dispatcher", "enqueue", str(campaign)],
                          env={"DISPATCHER_REDIS_URL": redis_url, "PATH": "/usr/bin"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {campaign}: colour: unknown key 'colour'"


@pytest.mark.parametrize("name", ["button-campaign.yaml", "list-campaign.yaml",
                                  "personalised-buttons.json"])
def test_shipped_examples_are_valid(name: str) -> None:
    path = Path(__file__).parent.parent / "config" / "examples" / name
    summary = asyncio.run(enqueue_campaign_file(None, None, load_settings(), path,
                                                dry_run=True))
    assert summary.rejected == 0 and summary.accepted >= 2, summary.problems
