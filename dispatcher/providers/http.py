"""The process's shared HTTP client, its transport, and the one place a send becomes a result.

Transport choice
----------------
httpx's API stays (its exceptions, ``MockTransport`` for unit tests); only the transport under it
changes. ``benchmarks/bench_transports.py``, one process, 150 requests in flight, local server
answering after 50 ms (bound: 3,000 requests/s), 2-core machine:

    client                                         requests/s   client CPU per request
    httpx AsyncClient, its own pool                    59-74      10.5-11.9 ms
    httpx + httpx-aiohttp AiohttpTransport       1,800-1,860      0.38 ms
    httpx + TranslatingAiohttpTransport (ours)   1,630-1,970      0.40-0.41 ms
    BspProvider.send on it (orjson, classify)    1,510-1,890      0.40-0.48 ms
    aiohttp directly                             2,450-2,570      0.14 ms

(two runs, median of 3 rounds each, 3,000 requests or 10 s per client; the machine was shared
with other benchmarks, load average 3-6, so requests/s is noisy and CPU per request is the figure
to trust.) httpx's own pool spends ~25x more CPU per request (encode/httpx#3215) and can't reach
even 100/s; the aiohttp transport reaches the 1,000/s upgraded Cloud API limit in one process with
room to spare, and the translation wrapper costs ~0.02 ms per request.

The default is therefore ``transport="aiohttp"``; ``transport="httpx"`` keeps httpx's own pool
for comparison and as a fallback.

Exception mapping of httpx-aiohttp 0.2.0 (checked against a real server, see the tests)
---------------------------------------------------------------------------------------
httpx-aiohttp maps every ``aiohttp.ClientConnectionError`` it doesn't know better to
``httpx.ConnectTimeout``, which classifies as transient (safe to resend). The first two cases
below are dangerous, because the provider may already have the message; this module's
``TranslatingAiohttpTransport`` fixes all of them:

* server closed the connection after reading the request (``ServerDisconnectedError``) came out as
  ``ConnectTimeout``; it is ``RemoteProtocolError`` here (ambiguous);
* connection reset after the request was written (``ClientOSError`` ECONNRESET) came out as
  ``ConnectTimeout``; it is ``ReadError`` here (ambiguous);
* connection refused (``ClientConnectorError``) came out as ``ConnectTimeout``; it is
  ``ConnectError`` here (transient either way, but the name now says what happened);
* malformed responses (``ClientResponseError``) and bare ``asyncio.TimeoutError`` escaped as
  aiohttp exceptions; they are ``RemoteProtocolError`` / ``ReadTimeout`` here.

Read timeouts (``SocketTimeoutError`` -> ``ReadTimeout``) and truncated bodies
(``ClientPayloadError`` -> ``ReadError``, here ``RemoteProtocolError`` like httpx's own pool) were
already right. aiohttp's ``connect`` timeout covers waiting for a pooled connection *and*
connecting, so a pool wait that runs out is ``ConnectTimeout`` (transient, as ``PoolTimeout``
would be). aiohttp writes the request into a buffer, so ``WriteError``/``WriteTimeout`` never come
out of this transport: a reset during the write is reported as ambiguous, the safe side.
aiohttp never retries a POST on a dropped keep-alive connection, so there is no hidden resend.

The aiohttp session is created on first use inside the running event loop: create the client
once per process and use it from one event loop only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import aiohttp
import httpx
from aiohttp.connector import Connection
from httpx_aiohttp import AiohttpTransport

from dispatcher.providers.base import ErrorClass, SendResult, SlotMissed
from dispatcher.providers.classify import (
    classify_exception,
    classify_response,
    one_line,
    parse_body,
    parse_retry_after,
)

TransportName = Literal["aiohttp", "httpx"]

# Order matters: the first matching aiohttp type wins (subclasses before their bases).
_AIOHTTP_TO_HTTPX: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.ReadError),
    (asyncio.TimeoutError, httpx.ReadTimeout),
)


def translate_aiohttp_error(
    exc: BaseException, request: httpx.Request
) -> httpx.TransportError | None:
    """The httpx exception an aiohttp failure should have been, or ``None`` to leave ``exc``.

    Works on raw aiohttp exceptions and on httpx-aiohttp's own (mis)mapped ones, whose
    ``__cause__`` is the aiohttp exception.
    """
    root = exc
    if isinstance(exc, httpx.TransportError) and exc.__cause__ is not None:
        root = exc.__cause__
    for aiohttp_type, httpx_type in _AIOHTTP_TO_HTTPX:
        if isinstance(root, aiohttp_type):
            if type(exc) is httpx_type:
                return None
            return httpx_type(str(root) or type(root).__name__, request=request)
    return None


class _TranslatingStream(httpx.AsyncByteStream):
    """Response body stream that translates aiohttp failures while the body is read."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            translated = translate_aiohttp_error(exc, self._request)
            if translated is None:
                raise
            raise translated from exc

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        except Exception as exc:
            translated = translate_aiohttp_error(exc, self._request)
            if translated is None:
                raise
            raise translated from exc


# The send's ``leave_by`` (time.monotonic()), for the connector below: a context variable
# because the request passes through httpx and httpx-aiohttp, which carry no such argument.
_LEAVE_BY: ContextVar[float | None] = ContextVar("dispatcher_leave_by", default=None)


def _check_leave_by(leave_by: float | None) -> None:
    """Raise :class:`SlotMissed` when the send is past its ``leave_by`` (time.monotonic())."""
    if leave_by is not None and (late := time.monotonic() - leave_by) > 0:
        raise SlotMissed(f"late by {late:.4f} s")


class DeadlineConnector(aiohttp.TCPConnector):
    """Checks the send's ``leave_by`` once the connection is in hand, right before the write.

    Waiting for a new connection is the one pause between the rate-limit slot and the write
    (traced at 1,000/s: requests that had to open a connection were written 3-6 ms after
    their slots, several at once, and the provider answered 429). A request past its moment
    gives the connection back to the pool, unused, and raises :class:`SlotMissed`.
    """

    async def connect(self, req: aiohttp.ClientRequest, traces: list[Any],
                      timeout: aiohttp.ClientTimeout) -> Connection:
        connection = await super().connect(req, traces, timeout)
        try:
            _check_leave_by(_LEAVE_BY.get())
        except SlotMissed:
            connection.release()
            raise
        return connection


class TranslatingAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport with the exception mapping this dispatcher relies on, and
    the send's ``leave_by`` checked right before the write (:class:`DeadlineConnector`; on
    Python 3.11 the worker's loop also needs ``eager_write.install`` for "right before")."""

    def get_client(self) -> aiohttp.ClientSession:
        limit = self.limits.max_connections
        connector = DeadlineConnector(keepalive_timeout=self.limits.keepalive_expiry,
                                      ssl=self.ssl_context,
                                      limit=limit if limit is not None else 100)
        return aiohttp.ClientSession(connector=connector)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except Exception as exc:
            translated = translate_aiohttp_error(exc, request)
            if translated is None:
                raise
            raise translated from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TranslatingStream(response.stream, request)
        return response


def make_async_client(
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
    max_connections: int = 256,
    transport: str = "aiohttp",
    pool_timeout: float = 10.0,
) -> httpx.AsyncClient:
    """The long-lived HTTP client of one process (one per process, one event loop).

    ``read_timeout`` bounds each wait for data once the request is sent (so also the wait for
    the provider's answer); ``pool_timeout`` bounds the wait for a free connection (with the
    aiohttp transport: the wait plus the connect).
    """
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=pool_timeout
    )
    # Idle connections are kept 30 s (httpx's default: 5 s): a connection opened in a busy
    # second is still there for the next one, rather than opened again on the send path.
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
    )
    headers = {"user-agent": "dispatcher"}
    if transport == "aiohttp":
        return httpx.AsyncClient(
            transport=TranslatingAiohttpTransport(limits=limits), timeout=timeout, headers=headers
        )
    if transport == "httpx":
        return httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers)
    raise ValueError(f"unknown transport {transport!r}: expected 'aiohttp' or 'httpx'")


def message_id_of(payload: dict[str, Any] | None) -> str | None:
    """The provider message id of a success body: BSP ``message_id`` or Cloud ``messages[0].id``."""
    if payload is None:
        return None
    message_id = payload.get("message_id")
    if isinstance(message_id, str) and message_id:
        return message_id
    messages = payload.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        cloud_id = messages[0].get("id")
        if isinstance(cloud_id, str) and cloud_id:
            return cloud_id
    return None


async def post_message(
    client: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    leave_by: float | None = None,
) -> SendResult:
    """POST one serialized message and turn whatever happens into a :class:`SendResult`.

    ``secret`` (the API key) is scrubbed from every error text. Cancellation propagates, and
    :class:`SlotMissed` when the request could not be written by ``leave_by``: checked here,
    and again once the connection is in hand with the aiohttp transport (``DeadlineConnector``).
    """
    _check_leave_by(leave_by)
    started = time.perf_counter()
    deadline = _LEAVE_BY.set(leave_by)
    try:
        response = await client.post(url, content=content, headers=headers)
    except SlotMissed:
        raise
    except Exception as exc:
        error_class, text = classify_exception(exc)
        return SendResult(
            ok=False,
            provider_message_id=None,
            error_class=error_class,
            error_code=None,
            http_status=None,
            error_text=_scrub(text, secret),
            retry_after=None,
            latency_s=time.perf_counter() - started,
        )
    finally:
        _LEAVE_BY.reset(deadline)
    latency = time.perf_counter() - started
    body = response.content
    if secret and secret.encode() in body:  # a provider echoing the key must not leak it
        body = body.replace(secret.encode(), b"***")
    payload = parse_body(body)
    message_id = message_id_of(payload) if response.is_success else None
    if message_id is not None:
        return SendResult(True, message_id, None, None, response.status_code, "", None, latency)
    error_class, code, text = classify_response(response.status_code, payload)
    if response.is_success:
        text = f"{text} without a message id"
    elif payload is None and body:
        text = f"{text}: {body[:120].decode('utf-8', 'replace')}"
    return SendResult(
        ok=False,
        provider_message_id=None,
        error_class=error_class,
        error_code=code,
        http_status=response.status_code,
        error_text=one_line(_scrub(text, secret)),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        latency_s=latency,
    )


def invalid_message_result(exc: Exception) -> SendResult:
    """The result for a message that can't be put on the wire (a bug upstream): permanent."""
    detail = f"{type(exc).__name__}: {exc}"
    return SendResult(
        ok=False,
        provider_message_id=None,
        error_class=ErrorClass.PERMANENT,
        error_code=None,
        http_status=None,
        error_text=one_line(f"invalid message: {detail}"),
        retry_after=None,
        latency_s=0.0,
    )


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
