"""The sandbox provider's HTTP server: the two send endpoints and the ``/_sandbox`` controls."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import uuid
from typing import Any, NoReturn

import orjson
from aiohttp import web

from dispatcher.sandbox import controls
from dispatcher.sandbox.callbacks import CallbackSender, SentMessage
from dispatcher.sandbox.config import FaultRule, SandboxConfig
from dispatcher.sandbox.faults import (
    CODE_AUTH,
    CODE_INVALID,
    CODE_PAIR,
    CODE_RATE,
    CODE_UNAVAILABLE,
    FaultBook,
    error_body,
)
from dispatcher.sandbox.frontdoor import ARRIVED_AT, arrival_time
from dispatcher.sandbox.limits import PairLimiter, SenderBuckets, retry_after_header
from dispatcher.sandbox.stats import Stats, sender_id
from dispatcher.sandbox.validation import (
    BodyError,
    check_to,
    split_cloud_envelope,
    validate_message,
)

JSON = "application/json"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type=JSON,
                        headers=headers)


class Refusal(Exception):
    """An error answer: HTTP status plus a Meta-style code (None: no code in the body)."""

    def __init__(self, status: int, code: int | None, message: str,
                 retry_after: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class Sandbox:
    """All the state of one sandbox server: settings, limiters, faults, counters, webhooks."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.stats = Stats(config.keep_messages)
        self.buckets = SenderBuckets(config.rate, config.burst)
        # The same limit judged by this loop's clock at handling, for comparison only.
        self.loop_clock_buckets = SenderBuckets(config.rate, config.burst)
        self.pairs = PairLimiter(config.pair_interval_s)
        self.faults = FaultBook(config.faults, config.fail_rate, config.seed)
        self.callbacks = CallbackSender(config, self.stats)
        self.closing = asyncio.Event()

    def apply_config(self) -> None:
        """Push runtime-changeable settings into the parts that hold a copy."""
        cfg = self.config
        if (cfg.rate, cfg.burst) != (self.buckets.rate, self.buckets.burst):
            self.buckets.configure(cfg.rate, cfg.burst)
            self.loop_clock_buckets.configure(cfg.rate, cfg.burst)
        self.pairs.interval = cfg.pair_interval_s
        self.faults.fail_rate = cfg.fail_rate

    def reset(self) -> None:
        self.stats.reset()
        self.buckets.clear()
        self.loop_clock_buckets.clear()
        self.pairs.clear()
        self.callbacks.clear()

    # -- the send endpoints ------------------------------------------------------------------

    async def handle_send(self, request: web.Request, cloud: bool) -> web.StreamResponse:
        arrived = arrival_time(request)
        request[ARRIVED_AT] = arrived  # the pair limit is judged by it too, after the latency
        self.stats.arrive(arrived)
        # The sender's rate is judged on arrival, by the kernel's stamp, as a provider's front
        # door does (frontdoor.py): this loop's own clock would see lumps that were not sent.
        try:
            token = self._admit(request, arrived)
        except Refusal as refusal:
            admitted: Refusal | str | None = refusal
        else:
            admitted = token
        raw = await request.read()
        delay_ms = self.config.latency_ms + self.faults.jitter(self.config.jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0)
        try:
            if isinstance(admitted, Refusal):
                raise admitted
            return await self._send(request, raw, cloud, admitted)
        except Refusal as refusal:
            self.stats.reject(refusal.status, refusal.code)
            headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else None
            return json_response(error_body(refusal.code, refusal.message), refusal.status, headers)

    def _admit(self, request: web.Request, arrived: float) -> str | None:
        """Authentication and the sender's token bucket; returns the sender's token."""
        token = self._check_auth(request)
        sender = sender_id(token)
        if self.loop_clock_buckets.take(sender) is not None:
            self.stats.throttled_by_loop_clock += 1
        wait = self.buckets.take(sender, arrived)
        if wait is not None:
            raise Refusal(429, CODE_RATE, "Rate limit hit", retry_after_header(wait))
        return token

    async def _send(self, request: web.Request, raw: bytes, cloud: bool,
                    token: str | None) -> web.StreamResponse:
        body = self._parse(raw)
        to_digits = self._peek_to(body)
        rule = self.faults.match(to_digits)
        if rule is not None:
            return await self._apply_fault(request, rule, body, token, cloud)
        if self.faults.random_failure():
            raise Refusal(503, CODE_UNAVAILABLE, "Service temporarily unavailable", "1")
        return json_response(self._accept(request, body, token, cloud))

    def _check_auth(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        expected = self.config.api_key
        if expected is not None and (
            token is None or not hmac.compare_digest(token.encode(), expected.encode())
        ):
            raise Refusal(401, CODE_AUTH, "Invalid OAuth access token")
        return token

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any]:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Refusal(400, CODE_INVALID, "Invalid parameter: body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refusal(400, CODE_INVALID, "Invalid parameter: body must be a JSON object")
        return body

    @staticmethod
    def _peek_to(body: dict[str, Any]) -> str | None:
        to = body.get("to")
        return to.lstrip("+") if isinstance(to, str) else None

    def _accept(self, request: web.Request, body: dict[str, Any], token: str | None,
                cloud: bool) -> dict[str, Any]:
        """Validate, apply the pair limit, record; returns the success body."""
        try:
            if cloud:
                message, opaque = split_cloud_envelope(body)
            else:
                message, opaque = body, None
            to = check_to(message.get("to"), cloud, strict=self.config.strict_to)
            validate_message(message)
        except BodyError as exc:
            raise Refusal(400, CODE_INVALID, f"Invalid parameter: {exc}") from None
        arrived: float | None = request.get(ARRIVED_AT)
        wait = self.pairs.blocked(to, arrived)
        if wait is not None:
            raise Refusal(400, CODE_PAIR, "Message failed to send because there were too many "
                          "messages sent from this phone number to the same phone number "
                          "in a short period of time", retry_after_header(wait))
        key = request.headers.get("Idempotency-Key") or opaque
        earlier = self.stats.first_id_for(key) if self.config.honor_idempotency else None
        if earlier is not None:
            self.stats.deduplicated += 1
            return self._success(earlier, message["to"], to, cloud)
        message_id = "wamid." + uuid.uuid4().hex
        canonical = orjson.dumps(
            {"type": message.get("type"), "interactive": message.get("interactive")},
            option=orjson.OPT_SORT_KEYS,
        )
        self.stats.accept(key=key, to=to, message_id=message_id, body=canonical,
                          sender=sender_id(token), fmt="cloud" if cloud else "bsp")
        self.pairs.record(to, arrived)
        phone_number_id = request.match_info.get("phone_number_id", self.config.phone_number_id)
        self.callbacks.message_accepted(
            SentMessage(message_id, to, key, message["interactive"], phone_number_id)
        )
        return self._success(message_id, message["to"], to, cloud)

    @staticmethod
    def _success(message_id: str, given_to: str, digits: str, cloud: bool) -> dict[str, Any]:
        if not cloud:
            return {"message_id": message_id}
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": given_to, "wa_id": digits}],
            "messages": [{"id": message_id}],
        }

    async def _apply_fault(self, request: web.Request, rule: FaultRule, body: dict[str, Any],
                           token: str | None, cloud: bool) -> web.StreamResponse:
        if rule.accept:
            with contextlib.suppress(Refusal):  # the message "went out"; only the answer fails
                self._accept(request, body, token, cloud)
        if rule.mode == "answer":
            retry = None if rule.retry_after is None else retry_after_header(rule.retry_after)
            raise Refusal(rule.status, rule.code, rule.message, retry)
        if rule.mode == "hang":
            self.stats.hung += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), self.config.hang_s)
        else:
            self.stats.dropped += 1
        drop_connection(request)


def drop_connection(request: web.Request) -> NoReturn:
    """Close the connection with no answer; the client sees it dropped mid-response.

    Raising CancelledError makes aiohttp abandon the request without writing anything.
    """
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError


SANDBOX_KEY: web.AppKey[Sandbox] = web.AppKey("sandbox", Sandbox)


def create_app(config: SandboxConfig) -> web.Application:
    """The sandbox as an aiohttp application (serve it with ``web.AppRunner`` or ``serve``)."""
    app = web.Application(client_max_size=1 << 20)
    sandbox = Sandbox(config)
    app[SANDBOX_KEY] = sandbox

    async def bsp(request: web.Request) -> web.StreamResponse:
        return await sandbox.handle_send(request, cloud=False)

    async def cloud(request: web.Request) -> web.StreamResponse:
        return await sandbox.handle_send(request, cloud=True)

    async def on_startup(_: web.Application) -> None:
        await sandbox.callbacks.start()

    async def on_shutdown(_: web.Application) -> None:
        sandbox.closing.set()  # wake requests that "hang"

    async def on_cleanup(_: web.Application) -> None:
        await sandbox.callbacks.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.router.add_post("/v1/messages", bsp)
    app.router.add_post(r"/{version:v[0-9.]+}/{phone_number_id:[0-9A-Za-z_-]+}/messages", cloud)
    controls.add_routes(app, sandbox)
    return app
