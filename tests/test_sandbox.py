"""The sandbox provider, exercised over real HTTP (in a thread, and once as a subprocess)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from dispatcher.sandbox import (
    ConfigValueError,
    FaultRule,
    SandboxConfig,
    SandboxProcess,
    SandboxThread,
    config_from_dict,
)
from dispatcher.sandbox.__main__ import build_parser, config_from_args

BUTTONS: dict[str, Any] = {
    "to": "918856879188",
    "type": "interactive",
    "interactive": {
        "type": "button",
        "header": {"type": "text", "text": "Select your plan"},
        "body": {"text": "Choose a subscription model to get started:"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
            {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}},
        ]},
    },
}
LIST: dict[str, Any] = {
    "to": "918856879188",
    "type": "interactive",
    "interactive": {
        "type": "list",
        "header": {"type": "text", "text": "Support Hub"},
        "body": {"text": "How can we assist you today? Please choose an option from the menu."},
        "action": {"button": "Select Topic", "sections": [{"title": "Help Categories", "rows": [
            {"id": "row_billing", "title": "Billing & Invoices",
             "description": "Queries related to plans and payments"},
            {"id": "row_tech", "title": "Technical Setup",
             "description": "Webhooks, API keys, and integrations support"},
            {"id": "row_other", "title": "Speak to Agent",
             "description": "Transfer directly to a live agent"},
        ]}]},
    },
}
RECIPIENTS = [f"9188568791{i:02d}" for i in range(40)]


def msg(to: str = "918856879188", base: dict[str, Any] = BUTTONS) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["to"] = to
    return body


def cloud(to: str = "+918856879188", base: dict[str, Any] = BUTTONS) -> dict[str, Any]:
    body = msg(to, base)
    body.update(messaging_product="whatsapp", recipient_type="individual")
    return body


StartSandbox = Callable[..., SandboxThread]
HTTP = httpx.Client()  # one pool for the whole file: a new client per request costs ~20 ms


@pytest.fixture()
def start() -> Iterator[StartSandbox]:
    """Start sandboxes (in threads, free ports) with SandboxConfig options; all stopped after."""
    running: list[SandboxThread] = []

    def _start(**options: Any) -> SandboxThread:
        sandbox = SandboxThread(SandboxConfig(**options)).start()
        running.append(sandbox)
        return sandbox

    yield _start
    for sandbox in running:
        sandbox.stop()


@pytest.fixture()
def sandbox(start: StartSandbox) -> SandboxThread:
    return start()


def send(sb: SandboxThread, body: Any, *, key: str | None = None, token: str | None = None,
         path: str = "/v1/messages", timeout: float = 5.0) -> httpx.Response:
    headers = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers["Content-Type"] = "application/json"
    return HTTP.post(sb.url + path, content=content, headers=headers, timeout=timeout)


def error_code(response: httpx.Response) -> int | None:
    code = response.json()["error"].get("code")
    return int(code) if code is not None else None


# -- accepting ------------------------------------------------------------------------------


def test_bsp_send_is_accepted_with_a_wamid(sandbox: SandboxThread) -> None:
    response = send(sandbox, BUTTONS, key="job-1")
    assert response.status_code == 200
    message_id = response.json()["message_id"]
    assert message_id.startswith("wamid.") and len(message_id) == len("wamid.") + 32
    assert send(sandbox, LIST, key="job-2").status_code == 200

    stats = sandbox.stats()
    assert (stats["received"], stats["accepted"], stats["rejected"]) == (2, 2, {})
    listed = sandbox.messages()
    assert [m["key"] for m in listed] == ["job-1", "job-2"]
    assert listed[0]["message_id"] == message_id
    assert listed[0]["to"] == "918856879188" and listed[0]["format"] == "bsp"


def test_cloud_send_answers_in_the_cloud_shape(sandbox: SandboxThread) -> None:
    body = cloud()
    body["biz_opaque_callback_data"] = "job-77"
    response = send(sandbox, body, path="/v21.0/106540352242922/messages")
    assert response.status_code == 200
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "+918856879188", "wa_id": "918856879188"}]
    assert answer["messages"][0]["id"].startswith("wamid.")
    # Without an Idempotency-Key header the callback data is the correlation key.
    assert sandbox.key_count("job-77") == 1
    assert sandbox.messages()[0]["format"] == "cloud"


def test_latency_is_added_to_every_answer(start: StartSandbox) -> None:
    sb = start(latency_ms=150)
    began = time.perf_counter()
    assert send(sb, BUTTONS).status_code == 200
    assert time.perf_counter() - began >= 0.15


# -- refusing bad bodies --------------------------------------------------------------------


def test_bad_json_is_400_code_100(sandbox: SandboxThread) -> None:
    response = send(sandbox, b'{"to": "91885', key="k")
    assert response.status_code == 400
    assert error_code(response) == 100
    assert "JSON" in response.json()["error"]["message"]
    assert send(sandbox, b"[1, 2]").status_code == 400
    stats = sandbox.stats()
    assert stats["accepted"] == 0
    assert stats["rejected"] == {"400": 2}
    assert stats["rejected_by_code"] == {"100": 2}


def test_invalid_message_names_the_first_bad_field(sandbox: SandboxThread) -> None:
    body = msg()
    del body["interactive"]["action"]
    response = send(sandbox, body)
    assert response.status_code == 400
    assert error_code(response) == 100
    assert "interactive" in response.json()["error"]["message"]
    assert "action" in response.json()["error"]["message"]


def test_button_title_over_20_chars_is_refused_by_the_message_model(
    sandbox: SandboxThread,
) -> None:
    body = msg()
    body["interactive"]["action"]["buttons"][1]["reply"]["title"] = "x" * 21
    response = send(sandbox, body)
    assert response.status_code == 400
    assert error_code(response) == 100
    assert "buttons[1].reply.title" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", msg("+918856879188")),  # BSP format: digits only
        ("/v21.0/1065/messages", cloud("918856879188")),  # Cloud format: '+' required
        ("/v21.0/1065/messages", msg("+918856879188")),  # no messaging_product
        ("/v1/messages", {**msg(), "bodyy": 1}),  # unknown envelope key
    ],
)
def test_wrong_envelope_is_refused(sandbox: SandboxThread, path: str, body: Any) -> None:
    response = send(sandbox, body, path=path)
    assert response.status_code == 400
    assert error_code(response) == 100
    assert sandbox.stats()["accepted"] == 0


# -- limits -----------------------------------------------------------------------------------


def test_over_rate_is_429_with_retry_after_per_sender(start: StartSandbox) -> None:
    sb = start(rate=4, burst=2)
    codes = [send(sb, msg(to), token="sender-a").status_code for to in RECIPIENTS[:2]]
    assert codes == [200, 200]
    over = send(sb, msg(RECIPIENTS[2]), token="sender-a")
    assert over.status_code == 429
    assert over.headers["Retry-After"] == "1"
    assert over.json()["error"]["code"] == 130429
    assert over.json()["error"]["message"] == "(#130429) Rate limit hit"
    # Another API key has its own bucket.
    assert send(sb, msg(RECIPIENTS[3]), token="sender-b").status_code == 200
    time.sleep(0.3)  # a token every 0.25 s
    assert send(sb, msg(RECIPIENTS[4]), token="sender-a").status_code == 200
    stats = sb.stats()
    assert stats["rejected"] == {"429": 1}
    assert sorted(stats["by_sender"].values()) == [1, 3]
    assert not any("sender-a" in name for name in stats["by_sender"])


def test_pair_limit_refuses_a_second_message_to_one_recipient(start: StartSandbox) -> None:
    sb = start(pair_interval_s=0.3)
    assert send(sb, msg(RECIPIENTS[0])).status_code == 200
    second = send(sb, msg(RECIPIENTS[0]))
    assert second.status_code == 400
    assert error_code(second) == 131056
    assert send(sb, msg(RECIPIENTS[1])).status_code == 200  # other recipients go on
    time.sleep(0.35)
    assert send(sb, msg(RECIPIENTS[0])).status_code == 200


def test_auth_401_code_190_for_wrong_or_missing_key(start: StartSandbox) -> None:
    sb = start(api_key="s3cret-key")
    for token in (None, "wrong"):
        response = send(sb, BUTTONS, token=token)
        assert response.status_code == 401
        assert error_code(response) == 190
        assert "s3cret" not in response.text
    assert send(sb, BUTTONS, token="s3cret-key").status_code == 200
    assert "s3cret" not in repr(SandboxConfig(api_key="s3cret-key"))
    config_page = HTTP.get(sb.url + "/_sandbox/config").json()
    assert config_page["api_key"] == "<set>"


# -- faults -------------------------------------------------------------------------------------


def test_fail_rate_one_answers_503_always(start: StartSandbox) -> None:
    sb = start(fail_rate=1.0)
    responses = [send(sb, msg(to)) for to in RECIPIENTS[:5]]
    assert {r.status_code for r in responses} == {503}
    assert {error_code(r) for r in responses} == {131016}
    assert sb.stats()["rejected"] == {"503": 5}
    assert sb.stats()["accepted"] == 0


def test_fail_rate_is_repeatable_with_a_seed(start: StartSandbox) -> None:
    runs = []
    for _ in range(2):
        sb = start(fail_rate=0.5, seed=42)
        runs.append([send(sb, msg(to)).status_code for to in RECIPIENTS[:20]])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


def test_answer_rule_for_one_recipient_with_times(sandbox: SandboxThread) -> None:
    target, other = RECIPIENTS[0], RECIPIENTS[1]
    sandbox.set_faults([{"to": target, "status": 400, "code": 131026,
                         "message": "Message undeliverable", "times": 2}])
    first = send(sandbox, msg(target))
    assert first.status_code == 400
    assert first.json()["error"]["code"] == 131026
    assert first.json()["error"]["message"] == "(#131026) Message undeliverable"
    assert send(sandbox, msg(other)).status_code == 200  # rule is for one recipient only
    assert send(sandbox, msg(target)).status_code == 400
    assert send(sandbox, msg(target)).status_code == 200  # used up after two hits
    assert sandbox.stats()["rejected_by_code"] == {"131026": 2}


def test_answer_rule_with_retry_after_and_no_code(sandbox: SandboxThread) -> None:
    sandbox.set_faults([FaultRule(status=503, retry_after=7, times=1)])
    response = send(sandbox, BUTTONS)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert "code" not in response.json()["error"]  # the client must fall back to the status
    sandbox.clear_faults()
    assert HTTP.get(sandbox.url + "/_sandbox/faults").json() == {"rules": []}


def test_hang_rule_makes_the_client_time_out(start: StartSandbox) -> None:
    sb = start(faults=[{"mode": "hang", "times": 1}])
    began = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        send(sb, BUTTONS, timeout=0.3)
    assert time.perf_counter() - began < 2
    assert send(sb, BUTTONS).status_code == 200
    stats = sb.stats()
    assert (stats["hung"], stats["accepted"]) == (1, 1)


def test_drop_rule_closes_the_connection_without_an_answer(sandbox: SandboxThread) -> None:
    sandbox.set_faults([{"mode": "drop", "times": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        send(sandbox, BUTTONS, key="dropped")
    assert sandbox.key_count("dropped") == 0
    assert send(sandbox, BUTTONS).status_code == 200
    assert sandbox.stats()["dropped"] == 1


def test_drop_after_accepting_is_the_ambiguous_outcome(sandbox: SandboxThread) -> None:
    sandbox.set_faults([{"mode": "drop", "times": 1, "accept": True}])
    with pytest.raises(httpx.RemoteProtocolError):
        send(sandbox, BUTTONS, key="job-9")
    assert sandbox.key_count("job-9") == 1
    assert send(sandbox, BUTTONS, key="job-9").status_code == 200  # a blind resend
    assert sandbox.stats()["duplicates_by_key"] == 1


def test_bad_fault_rules_are_refused(sandbox: SandboxThread) -> None:
    for rules in ([{"mode": "explode"}], [{"status": 99}], [{"too": "1"}], "nope"):
        response = HTTP.post(sandbox.url + "/_sandbox/faults", json={"rules": rules})
        assert response.status_code == 400
    with pytest.raises(ConfigValueError):
        SandboxConfig(faults=[{"times": -1}])  # type: ignore[list-item]


# -- counting ------------------------------------------------------------------------------------


def test_duplicates_counted_by_key_and_by_recipient(sandbox: SandboxThread) -> None:
    assert send(sandbox, msg(RECIPIENTS[0]), key="a").status_code == 200
    assert send(sandbox, msg(RECIPIENTS[0]), key="a").status_code == 200  # same key again
    assert send(sandbox, msg(RECIPIENTS[0]), key="b").status_code == 200  # same body, new key
    assert send(sandbox, msg(RECIPIENTS[0], LIST), key="c").status_code == 200  # other body
    assert send(sandbox, msg(RECIPIENTS[1]), key="d").status_code == 200  # other recipient
    # The same message in Cloud format is the same message.
    cloud_body = cloud("+" + RECIPIENTS[1])
    assert send(sandbox, cloud_body, path="/v21.0/1/messages").status_code == 200
    stats = sandbox.stats()
    assert stats["accepted"] == 6
    assert stats["duplicates_by_key"] == 1
    assert stats["unique_keys"] == 4
    assert stats["duplicates_by_recipient"] == 3
    assert sandbox.key_count("a") == 2
    assert sandbox.key_count("never") == 0


def test_honor_idempotency_returns_the_first_id(start: StartSandbox) -> None:
    sb = start(honor_idempotency=True)
    first = send(sb, BUTTONS, key="job-1").json()["message_id"]
    assert send(sb, BUTTONS, key="job-1").json()["message_id"] == first
    stats = sb.stats()
    assert (stats["accepted"], stats["deduplicated"], stats["duplicates_by_key"]) == (1, 1, 0)


def test_per_second_counts_add_up(sandbox: SandboxThread) -> None:
    before = int(time.time())
    for to in RECIPIENTS[:25]:
        assert send(sandbox, msg(to)).status_code == 200
    stats = sandbox.stats()
    per_second = {int(s): n for s, n in stats["per_second"].items()}
    assert sum(per_second.values()) == 25
    assert all(before <= s <= time.time() for s in per_second)
    assert stats["max_per_second"] == max(per_second.values())
    assert stats["started_at"] <= time.time()


def test_messages_pagination_and_reset(sandbox: SandboxThread) -> None:
    for i, to in enumerate(RECIPIENTS[:5]):
        send(sandbox, msg(to), key=f"k{i}")
    page = HTTP.get(sandbox.url + "/_sandbox/messages", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert [m["key"] for m in page["messages"]] == ["k1", "k2"]
    bad = HTTP.get(sandbox.url + "/_sandbox/messages", params={"limit": "x"})
    assert bad.status_code == 400
    sandbox.reset()
    stats = sandbox.stats()
    assert (stats["received"], stats["accepted"], stats["unique_keys"]) == (0, 0, 0)
    assert stats["per_second"] == {}
    assert sandbox.messages() == []


def test_runtime_config_changes_rate_and_fail_rate(sandbox: SandboxThread) -> None:
    assert sandbox.update_config(fail_rate=1.0)["fail_rate"] == 1.0
    assert send(sandbox, BUTTONS).status_code == 503
    sandbox.update_config(fail_rate=0, rate=0.5, burst=1)
    assert send(sandbox, msg(RECIPIENTS[0])).status_code == 200
    assert send(sandbox, msg(RECIPIENTS[1])).status_code == 429
    sandbox.update_config(rate=None)
    assert send(sandbox, msg(RECIPIENTS[2])).status_code == 200
    for bad in ({"fail_rate": 2}, {"port": 1}, {"rate": -1}, {"latency_ms": "slow"}):
        response = HTTP.post(sandbox.url + "/_sandbox/config", json=bad)
        assert response.status_code == 400, bad
    assert HTTP.get(sandbox.url + "/_sandbox/config").json()["fail_rate"] == 0


# -- status webhooks ------------------------------------------------------------------------------


class Receiver:
    """A tiny webhook receiver in a thread, recording raw bodies and signature headers."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, str | None]] = []
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            self.posts.append((await request.read(), request.headers.get("X-Hub-Signature-256")))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/webhooks/whatsapp", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/webhooks/whatsapp"
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> Receiver:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def values(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for raw, _ in list(self.posts):
            for entry in orjson.loads(raw)["entry"]:
                out.extend(change["value"] for change in entry["changes"])
        return out

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "webhooks did not arrive in time"
            time.sleep(0.02)


def test_callbacks_are_signed_and_tell_each_message_story(start: StartSandbox) -> None:
    secret = "app-secret"
    with Receiver() as receiver:
        sb = start(callback_url=receiver.url, app_secret=secret, delivered_rate=1.0,
                   read_rate=1.0, reply_rate=1.0, callback_delay_ms=5, seed=3)
        ids = {}
        for key, base in (("job-b", BUTTONS), ("job-l", LIST)):
            ids[key] = send(sb, msg(base=base), key=key).json()["message_id"]

        def statuses() -> list[dict[str, Any]]:
            return [s for v in receiver.values() for s in v.get("statuses", [])]

        def replies() -> list[dict[str, Any]]:
            return [m for v in receiver.values() for m in v.get("messages", [])]

        receiver.wait_for(lambda: len(statuses()) == 6 and len(replies()) == 2)

        for raw, signature in receiver.posts:
            expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            assert signature == expected
            assert orjson.loads(raw)["object"] == "whatsapp_business_account"
        for key, message_id in ids.items():
            story = [s["status"] for s in statuses() if s["id"] == message_id]
            assert story == ["sent", "delivered", "read"]
            assert {s["biz_opaque_callback_data"] for s in statuses() if s["id"] == message_id} \
                == {key}
            assert all(s["recipient_id"] == "918856879188" for s in statuses())
        by_context = {m["context"]["id"]: m for m in replies()}
        button = by_context[ids["job-b"]]["interactive"]
        assert button["type"] == "button_reply"
        assert button["button_reply"]["id"] in {"btn_growth", "btn_scale"}
        choice = by_context[ids["job-l"]]["interactive"]
        assert choice["type"] == "list_reply"
        assert choice["list_reply"]["id"] in {"row_billing", "row_tech", "row_other"}
        assert sb.stats()["callbacks_sent"] == len(receiver.posts)


def test_callbacks_report_failures_with_131026(start: StartSandbox) -> None:
    with Receiver() as receiver:
        sb = start(callback_url=receiver.url, app_secret="x", failed_rate=1.0,
                   callback_delay_ms=1)
        message_id = send(sb, BUTTONS).json()["message_id"]

        def story() -> list[dict[str, Any]]:
            return [s for v in receiver.values() for s in v.get("statuses", [])
                    if s["id"] == message_id]

        receiver.wait_for(lambda: len(story()) == 2)
        sent, failed = story()
        assert (sent["status"], failed["status"]) == ("sent", "failed")
        assert failed["errors"][0]["code"] == 131026
        assert "errors" not in sent
        assert "biz_opaque_callback_data" not in sent  # no key was given


# -- configuration and the subprocess helper ---------------------------------------------------


def test_cli_flags_and_env_build_the_config() -> None:
    args = build_parser().parse_args([
        "--port", "0", "--latency-ms", "50", "--fail-rate", "0.1", "--rate", "80",
        "--burst", "10", "--pair-interval", "6", "--api-key", "k", "--seed", "7",
        "--faults", '[{"status": 503, "times": 1}]',
    ])
    env = {"SANDBOX_CONFIG_JSON": '{"jitter_ms": 5, "rate": 1}'}
    config = config_from_args(args, env)
    assert (config.port, config.latency_ms, config.fail_rate, config.rate) == (0, 50, 0.1, 80)
    assert (config.burst, config.pair_interval_s, config.api_key, config.seed) == (10, 6, "k", 7)
    assert config.jitter_ms == 5
    assert config.faults == [FaultRule(status=503, times=1)]
    with pytest.raises(ConfigValueError):
        config_from_dict({"latency": 5})


def test_subprocess_helper_starts_serves_and_stops() -> None:
    config = SandboxConfig(api_key="proc-key", rate=1000, latency_ms=1)
    with SandboxProcess(config) as sb:
        assert sb.url.startswith("http://127.0.0.1:")
        response = httpx.post(sb.url + "/v1/messages", json=BUTTONS,
                              headers={"Authorization": "Bearer proc-key"})
        assert response.status_code == 200
        assert sb.stats()["accepted"] == 1
        proc = sb.proc
        assert proc is not None
    assert proc.returncode == 0  # SIGTERM ends it cleanly
    with pytest.raises(httpx.ConnectError):
        HTTP.get(sb.url + "/_sandbox/stats", timeout=1)
