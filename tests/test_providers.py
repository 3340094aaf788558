"""Provider unit tests (httpx.MockTransport) and real-HTTP tests of both transports."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
import uvloop
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey

from dispatcher.providers import (
    BspProvider,
    CloudProvider,
    ErrorClass,
    Provider,
    SendResult,
    bsp_body,
    cloud_body,
    make_async_client,
    make_provider,
)
from dispatcher.providers.http import TranslatingAiohttpTransport, translate_aiohttp_error

E = ErrorClass
API_KEY = "sk_live_SECRET_0123456789"
JOB_ID = "job-7f3a"

# The two examples of the seed page (/work/shared/seeds/README.md), verbatim.
SEED_BUTTONS = """{"to": "918856879188", "type": "interactive",
 "interactive": {"type": "button",
   "header": {"type": "text", "text": "Select your plan"},
   "body": {"text": "Choose a subscription model to get started:"},
   "action": {"buttons": [
     {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
     {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}}]}}}"""
SEED_LIST = """{"to": "918856879188", "type": "interactive",
 "interactive": {"type": "list",
   "header": {"type": "text", "text": "Support Hub"},
   "body": {"text": "How can we assist you today? Please choose an option from the menu."},
   "action": {"button": "Select Topic",
     "sections": [{"title": "Help Categories", "rows": [
       {"id": "row_billing", "title": "Billing & Invoices", "description": "Queries related to plans and payments"},
       {"id": "row_tech", "title": "Technical Setup", "description": "Webhooks, API keys, and integrations support"},
       {"id": "row_other", "title": "Speak to Agent", "description": "Transfer directly to a live agent"}]}]}}}"""  # noqa: E501
SEEDS = [SEED_BUTTONS, SEED_LIST]

Handler = Callable[[httpx.Request], httpx.Response]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def message() -> dict[str, Any]:
    return json.loads(SEED_BUTTONS)  # type: ignore[no-any-return]


class Recorder:
    """A MockTransport handler that records requests and answers with a fixed response."""

    def __init__(self, response: httpx.Response | Exception) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


async def send_with(
    handler: Handler, kind: str = "bsp", msg: dict[str, Any] | None = None
) -> SendResult:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = make_provider(
            kind,
            base_url="https://bsp.example/",
            api_key=API_KEY,
            client=client,
            phone_number_id="1234567890",
        )
        result = await provider.send(message() if msg is None else msg, job_id=JOB_ID)
        await provider.aclose()
        return result


# --- bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_bsp_body_is_the_seed_byte_for_byte(seed: str) -> None:
    parsed = json.loads(seed)
    assert json.dumps(bsp_body(parsed)) == json.dumps(parsed)
    assert list(bsp_body(parsed)) == ["to", "type", "interactive"]


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_reaches_the_bsp_unchanged(seed: str) -> None:
    recorder = Recorder(httpx.Response(200, json={"message_id": "wamid.1"}))
    result = run(send_with(recorder, msg=json.loads(seed)))
    assert result.ok
    (request,) = recorder.requests
    assert request.content == orjson.dumps(json.loads(seed))
    assert json.dumps(json.loads(request.content)) == json.dumps(json.loads(seed))


def test_bsp_body_drops_extra_keys_and_plus() -> None:
    msg = {**message(), "to": "+918856879188", "internal": 1}
    assert bsp_body(msg) == message()


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "interactive", "interactive": {}},
        {"to": "91 885", "type": "interactive", "interactive": {}},
        {"to": 918856879188, "type": "interactive", "interactive": {}},
        {"to": "918856879188", "type": "interactive"},
    ],
)
def test_invalid_message_is_permanent_and_not_sent(bad: dict[str, Any]) -> None:
    recorder = Recorder(httpx.Response(200, json={"message_id": "x"}))
    for kind in ("bsp", "cloud"):
        result = run(send_with(recorder, kind=kind, msg=bad))
        assert not result.ok
        assert result.error_class is E.PERMANENT
        assert result.error_text.startswith("invalid message:")
    assert recorder.requests == []


def test_cloud_body() -> None:
    body = cloud_body(message(), "j" * 600)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+918856879188",
        "type": "interactive",
        "interactive": message()["interactive"],
        "biz_opaque_callback_data": "j" * 512,
    }


# --- requests -----------------------------------------------------------------------------


def test_bsp_request() -> None:
    recorder = Recorder(httpx.Response(200, json={"message_id": "wamid.1"}))
    result = run(send_with(recorder))
    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == "https://bsp.example/v1/messages"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["idempotency-key"] == JOB_ID
    assert request.headers["content-type"] == "application/json"
    assert result == SendResult(True, "wamid.1", None, None, 200, "", None, result.latency_s)
    assert result.latency_s >= 0


def test_cloud_request() -> None:
    cloud_ok = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+918856879188", "wa_id": "918856879188"}],
        "messages": [{"id": "wamid.HBg"}],
    }
    recorder = Recorder(httpx.Response(200, json=cloud_ok))
    result = run(send_with(recorder, kind="cloud"))
    (request,) = recorder.requests
    assert str(request.url) == "https://bsp.example/v21.0/1234567890/messages"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["idempotency-key"] == JOB_ID
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == cloud_body(message(), JOB_ID)
    assert result.ok and result.provider_message_id == "wamid.HBg"


@pytest.mark.parametrize("kind", ["bsp", "cloud", "sandbox"])
@pytest.mark.parametrize("answer", [{"message_id": "wamid.A"}, {"messages": [{"id": "wamid.A"}]}])
def test_both_success_shapes_are_accepted(kind: str, answer: dict[str, Any]) -> None:
    result = run(send_with(Recorder(httpx.Response(201, json=answer)), kind=kind))
    assert result.ok and result.provider_message_id == "wamid.A"
    assert result.error_class is None and result.error_code is None


@pytest.mark.parametrize(
    "answer", [{}, {"messages": []}, {"message_id": ""}, {"status": "queued"}, None]
)
def test_success_without_message_id_is_ambiguous(answer: dict[str, Any] | None) -> None:
    response = httpx.Response(200, json=answer) if answer is not None else httpx.Response(202)
    result = run(send_with(Recorder(response)))
    assert not result.ok and result.error_class is E.AMBIGUOUS
    assert "without a message id" in result.error_text


# --- error answers ------------------------------------------------------------------------


def meta_error(code: int) -> dict[str, Any]:
    return {"error": {"message": f"(#{code}) boom", "type": "OAuthException", "code": code}}


@pytest.mark.parametrize("kind", ["bsp", "cloud"])
@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, 130429, E.THROTTLED_SENDER),
        (429, 130429, E.THROTTLED_SENDER),
        (400, 131056, E.THROTTLED_RECIPIENT),
        (500, 131000, E.TRANSIENT),
        (400, 131047, E.PERMANENT),
        (401, 190, E.ACCOUNT),
        (403, 200, E.ACCOUNT),
    ],
)
def test_error_bodies(kind: str, status: int, code: int, expected: ErrorClass) -> None:
    result = run(send_with(Recorder(httpx.Response(status, json=meta_error(code))), kind=kind))
    assert not result.ok and result.provider_message_id is None
    assert (result.error_class, result.error_code, result.http_status) == (expected, code, status)
    assert result.error_text == f"HTTP {status} code {code}: (#{code}) boom"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, E.THROTTLED_SENDER),
        (408, E.TRANSIENT),
        (502, E.TRANSIENT),
        (401, E.ACCOUNT),
        (403, E.ACCOUNT),
        (404, E.PERMANENT),
        (422, E.PERMANENT),
    ],
)
def test_error_statuses(status: int, expected: ErrorClass) -> None:
    response = httpx.Response(status, text="<html>\n<b>upstream</b> trouble</html>")
    result = run(send_with(Recorder(response)))
    assert (result.error_class, result.error_code, result.http_status) == (expected, status, status)
    assert result.error_text == f"HTTP {status}: <html> <b>upstream</b> trouble</html>"


def test_retry_after_seconds() -> None:
    response = httpx.Response(429, headers={"Retry-After": "7"}, json=meta_error(130429))
    result = run(send_with(Recorder(response)))
    assert result.error_class is E.THROTTLED_SENDER
    assert result.retry_after == 7.0


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    response = httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    result = run(send_with(Recorder(response)))
    assert result.error_class is E.TRANSIENT
    assert result.retry_after is not None and 85 <= result.retry_after <= 90


def test_no_retry_after() -> None:
    assert run(send_with(Recorder(httpx.Response(503)))).retry_after is None


# --- exceptions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), E.TRANSIENT),
        (httpx.ConnectTimeout("slow"), E.TRANSIENT),
        (httpx.PoolTimeout("busy"), E.TRANSIENT),
        (httpx.WriteError("pipe"), E.TRANSIENT),
        (httpx.WriteTimeout("slow write"), E.TRANSIENT),
        (httpx.ReadTimeout("slow read"), E.AMBIGUOUS),
        (httpx.RemoteProtocolError("dropped"), E.AMBIGUOUS),
        (httpx.ReadError("reset"), E.AMBIGUOUS),
        (ValueError("a bug somewhere"), E.AMBIGUOUS),
    ],
)
def test_exceptions_become_results(exc: Exception, expected: ErrorClass) -> None:
    result = run(send_with(Recorder(exc)))
    assert not result.ok
    assert result.error_class is expected
    assert result.error_code is None and result.http_status is None
    assert result.error_text == f"{type(exc).__name__}: {exc}"


def test_cancellation_is_not_swallowed() -> None:
    async def scenario() -> None:
        async def slow(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(10)
            return httpx.Response(200)

        async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
            provider = BspProvider(base_url="http://x", api_key=API_KEY, client=client)
            task = asyncio.create_task(provider.send(message(), job_id=JOB_ID))
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(scenario())


# --- secrets ------------------------------------------------------------------------------


def test_repr_hides_the_key() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(Recorder(httpx.Response(200))))
    providers: list[Provider] = [
        make_provider(
            kind, base_url="https://b", api_key=API_KEY, client=client, phone_number_id="1"
        )
        for kind in ("bsp", "cloud", "sandbox")
    ]
    for provider in providers:
        for text in (repr(provider), str(provider), repr(vars(provider))):
            assert API_KEY not in text
        assert provider.name in repr(provider)
    run(client.aclose())


def test_echoed_key_is_scrubbed_from_error_text() -> None:
    body = {"error": {"code": 190, "message": f"Invalid OAuth access token {API_KEY}."}}
    result = run(send_with(Recorder(httpx.Response(401, json=body))))
    assert result.error_class is E.ACCOUNT
    assert API_KEY not in result.error_text
    assert result.error_text == "HTTP 401 code 190: Invalid OAuth access token ***."
    raw = run(send_with(Recorder(httpx.Response(401, text=f"bad key {API_KEY}"))))
    assert API_KEY not in raw.error_text and "***" in raw.error_text


# --- factory ------------------------------------------------------------------------------


def test_make_provider() -> None:
    client = httpx.AsyncClient()
    bsp = make_provider("bsp", base_url="https://b/", api_key="k", client=client)
    sandbox = make_provider("sandbox", base_url="http://127.0.0.1:9", api_key="k", client=client)
    cloud = make_provider(
        "cloud",
        base_url="https://graph.facebook.com",
        api_key="k",
        client=client,
        phone_number_id="42",
        api_version="v22.0",
    )
    assert isinstance(bsp, BspProvider) and bsp.name == "bsp"
    assert bsp.url == "https://b/v1/messages"
    assert isinstance(sandbox, BspProvider) and sandbox.name == "sandbox"
    assert sandbox.url == "http://127.0.0.1:9/v1/messages"
    assert isinstance(cloud, CloudProvider) and cloud.name == "cloud"
    assert cloud.url == "https://graph.facebook.com/v22.0/42/messages"
    with pytest.raises(ValueError, match="phone_number_id"):
        make_provider("cloud", base_url="https://g", api_key="k", client=client)
    with pytest.raises(ValueError, match="unknown provider kind"):
        make_provider("smtp", base_url="https://g", api_key="k", client=client)
    run(client.aclose())


def test_make_async_client() -> None:
    client = make_async_client(connect_timeout=2, read_timeout=9, transport="aiohttp")
    assert isinstance(client._transport, TranslatingAiohttpTransport)
    assert client.timeout == httpx.Timeout(connect=2, read=9, write=9, pool=10)
    run(client.aclose())
    own = make_async_client(transport="httpx")
    assert isinstance(own._transport, httpx.AsyncHTTPTransport)
    run(own.aclose())
    with pytest.raises(ValueError, match="unknown transport"):
        make_async_client(transport="curl")


# --- exception translation of the aiohttp transport (unit) --------------------------------


def _conn_key() -> Any:
    return ConnectionKey("h", 1, False, True, None, None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (aiohttp.ClientConnectorError(_conn_key(), OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientPayloadError("short body"), httpx.RemoteProtocolError),
        (TimeoutError(), httpx.ReadTimeout),
    ],
)
def test_translate_aiohttp_error(raw: BaseException, expected: type[Exception]) -> None:
    request = httpx.Request("POST", "http://x")
    # raw aiohttp exception, and the same after httpx-aiohttp mapped it to ConnectTimeout
    mapped = httpx.ConnectTimeout("mis-mapped")
    mapped.__cause__ = raw
    for exc in (raw, mapped):
        translated = translate_aiohttp_error(exc, request)
        # None means "already the right exception, leave it"
        assert type(exc if translated is None else translated) is expected
    assert translate_aiohttp_error(ValueError("not ours"), request) is None


# --- real HTTP: both transports against a local aiohttp server -----------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def local_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A BSP-like server: /ok answers, /hang never does, /drop and /reset cut the connection
    after reading the request, /partial sends half a body. Yields (base URL, paths received)."""
    received: list[str] = []
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        received.append(request.path)
        scenario = request.match_info["scenario"]
        transport = request.transport
        assert transport is not None
        if scenario == "ok":
            return web.json_response({"message_id": f"wamid.{request.headers['Idempotency-Key']}"})
        if scenario == "hang":
            await release.wait()
        elif scenario in ("drop", "reset"):
            if scenario == "reset":  # RST instead of FIN
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            await release.wait()
        elif scenario == "partial":
            response = web.StreamResponse()
            response.content_length = 100
            await response.prepare(request)
            await response.write(b'{"message_id": ')
            transport.close()
            await release.wait()
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/{scenario}/v1/messages", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        release.set()
        await runner.cleanup()


SCENARIOS = [
    ("hang", E.AMBIGUOUS, "ReadTimeout"),
    ("drop", E.AMBIGUOUS, "RemoteProtocolError"),
    ("reset", E.AMBIGUOUS, "ReadError"),
    ("partial", E.AMBIGUOUS, "RemoteProtocolError"),
]


LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}  # the worker runs on uvloop


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_real_http(transport: str, loop: str) -> None:
    async def scenario() -> None:
        async with local_server() as (base, received):
            client = make_async_client(connect_timeout=1.0, read_timeout=0.3, transport=transport)
            try:
                ok = make_provider("sandbox", base_url=f"{base}/ok", api_key=API_KEY, client=client)
                result = await ok.send(message(), job_id=JOB_ID)
                assert result.ok and result.provider_message_id == f"wamid.{JOB_ID}"
                assert result.http_status == 200 and result.latency_s > 0

                for path, expected, exc_name in SCENARIOS:
                    provider = make_provider(
                        "bsp", base_url=f"{base}/{path}", api_key=API_KEY, client=client
                    )
                    result = await provider.send(message(), job_id=JOB_ID)
                    assert (path, result.error_class) == (path, expected), result
                    assert result.error_text.startswith(exc_name), (path, result.error_text)
                    assert result.http_status is None and not result.ok
                # each scenario's request did reach the server: that is what "ambiguous" means
                assert received == [f"/{p}/v1/messages" for p in ["ok"] + [s[0] for s in SCENARIOS]]

                closed = make_provider(
                    "bsp",
                    base_url=f"http://127.0.0.1:{free_port()}",
                    api_key=API_KEY,
                    client=client,
                )
                result = await closed.send(message(), job_id=JOB_ID)
                assert result.error_class is E.TRANSIENT
                assert result.error_text.startswith("ConnectError"), result.error_text
            finally:
                await client.aclose()

    LOOPS[loop](scenario())


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_real_http_pool_exhausted_is_transient(transport: str) -> None:
    async def scenario() -> None:
        async with local_server() as (base, received):
            client = make_async_client(
                read_timeout=0.6, pool_timeout=0.2, max_connections=1, transport=transport
            )
            try:
                hang = make_provider("bsp", base_url=f"{base}/hang", api_key=API_KEY, client=client)
                first, second = await asyncio.gather(
                    hang.send(message(), job_id="a"), hang.send(message(), job_id="b")
                )
                assert first.error_class is E.AMBIGUOUS
                assert second.error_class is E.TRANSIENT
                assert second.error_text.split(":")[0] in ("PoolTimeout", "ConnectTimeout")
                assert len(received) == 1
            finally:
                await client.aclose()

    run(scenario())
