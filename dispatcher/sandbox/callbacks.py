"""Status webhooks: after accepting a message, tell ``callback_url`` what became of it.

Each accepted message gets a planned story (sent, then delivered and read, or failed; maybe a
button or list reply), told in signed, batched POSTs shaped like the Cloud API's webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import itertools
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.stats import Stats

log = logging.getLogger(__name__)

POST_ATTEMPTS = 3
POST_TIMEOUT_S = 5.0


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What the story of one accepted message needs."""

    message_id: str
    to: str
    key: str | None
    interactive: dict[str, Any]
    phone_number_id: str


def reply_choices(interactive: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The answers a user could pick: ``(reply type, {id, title[, description]})``."""
    action = interactive.get("action") or {}
    kind = interactive.get("type")
    out: list[tuple[str, dict[str, str]]] = []
    if kind == "button":
        for button in action.get("buttons") or []:
            reply = button.get("reply") or {}
            choice = {"id": reply.get("id", ""), "title": reply.get("title", "")}
            out.append(("button_reply", choice))
    elif kind == "list":
        for section in action.get("sections") or []:
            for row in section.get("rows") or []:
                choice = {"id": row.get("id", ""), "title": row.get("title", "")}
                if "description" in row:
                    choice["description"] = row["description"]
                out.append(("list_reply", choice))
    return out


class CallbackSender:
    """Plans webhook events on a timeline and posts the due ones in batches."""

    def __init__(self, config: SandboxConfig, stats: Stats):
        self.config = config
        self.stats = stats
        seed = None if config.seed is None else config.seed + 1
        self._rng = random.Random(seed)
        self._heap: list[tuple[float, int, str, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.callback_url)

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
            )
            self._task = asyncio.create_task(self._run(), name="sandbox-callbacks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def clear(self) -> None:
        self._heap.clear()

    def pending(self) -> int:
        return len(self._heap)

    def message_accepted(self, msg: SentMessage) -> None:
        """Plan the story of one message (no-op without a callback_url)."""
        if not self.enabled:
            return
        cfg, rng = self.config, self._rng
        step = cfg.callback_delay_ms / 1000.0
        due = time.monotonic()
        stages = ["sent"]
        if rng.random() < cfg.failed_rate:
            stages.append("failed")
        else:
            replied = bool(reply_choices(msg.interactive)) and rng.random() < cfg.reply_rate
            if rng.random() < cfg.delivered_rate:
                stages.append("delivered")
            if replied or rng.random() < cfg.read_rate:
                stages.append("read")
            if replied:
                stages.append("reply")
        for stage in stages:
            due += step
            item = self._reply(msg) if stage == "reply" else self._status(msg, stage)
            self._push(due, msg.phone_number_id, item)
            if stage != "reply" and rng.random() < cfg.callback_duplicate_rate:
                self._push(due + step * 2, msg.phone_number_id, item)  # the provider's retry
        self._wake.set()

    def _push(self, due: float, phone_number_id: str, item: dict[str, Any]) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), phone_number_id, item))

    def _status(self, msg: SentMessage, status: str) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": msg.message_id,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": msg.to,
        }
        if msg.key is not None:
            event["biz_opaque_callback_data"] = msg.key
        if status == "failed":
            event["errors"] = [{
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Sandbox: recipient cannot receive this message"},
            }]
        return {"kind": "status", "event": event}

    def _reply(self, msg: SentMessage) -> dict[str, Any]:
        reply_type, choice = self._rng.choice(reply_choices(msg.interactive))
        event = {
            "from": msg.to,
            "id": "wamid.reply." + uuid.uuid4().hex,
            "timestamp": str(int(time.time())),
            "context": {"from": self.config.display_phone_number, "id": msg.message_id},
            "type": "interactive",
            "interactive": {"type": reply_type, reply_type: choice},
        }
        return {"kind": "message", "event": event}

    async def _run(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._heap[0][0] - time.monotonic()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            batch: dict[str, list[dict[str, Any]]] = {}
            now = time.monotonic()
            taken = 0
            while self._heap and self._heap[0][0] <= now and taken < self.config.callback_batch:
                _, _, phone_number_id, item = heapq.heappop(self._heap)
                batch.setdefault(phone_number_id, []).append(item)
                taken += 1
            for phone_number_id, items in batch.items():
                await self._post(self._payload(phone_number_id, items))

    def _payload(self, phone_number_id: str, items: list[dict[str, Any]]) -> bytes:
        metadata: dict[str, Any] = {
            "display_phone_number": self.config.display_phone_number,
            "phone_number_id": phone_number_id,
        }
        statuses = [i["event"] for i in items if i["kind"] == "status"]
        messages = [i["event"] for i in items if i["kind"] == "message"]
        changes: list[dict[str, Any]] = []
        if statuses:
            value: dict[str, Any] = {
                "messaging_product": "whatsapp", "metadata": metadata, "statuses": statuses,
            }
            changes.append({"field": "messages", "value": value})
        if messages:
            contacts = [{"profile": {"name": "Sandbox User"}, "wa_id": m["from"]} for m in messages]
            value = {"messaging_product": "whatsapp", "metadata": metadata,
                     "contacts": contacts, "messages": messages}
            changes.append({"field": "messages", "value": value})
        payload = {"object": "whatsapp_business_account",
                   "entry": [{"id": self.config.waba_id, "changes": changes}]}
        return orjson.dumps(payload)

    async def _post(self, body: bytes) -> None:
        url, session = self.config.callback_url, self._session
        if url is None or session is None:
            return
        headers = {"Content-Type": "application/json"}
        if self.config.app_secret:
            headers["X-Hub-Signature-256"] = sign(body, self.config.app_secret)
        for attempt in range(POST_ATTEMPTS):
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status < 300:
                        self.stats.callbacks_sent += 1
                        return
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = type(exc).__name__
            log.warning("callback POST failed (%s), attempt %d", reason, attempt + 1)
            await asyncio.sleep(0.1 * 2**attempt)
        self.stats.callbacks_failed += 1
