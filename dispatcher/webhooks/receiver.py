"""The receiver's logic, independent of the web framework: check, parse, apply.

Order is the point: the size limit and the signature come before any parsing, and a receiver
without an app secret refuses every POST (an open receiver would let anyone mark messages read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dispatcher.store.receipts import ApplyResult, ReceiptStore
from dispatcher.webhooks.parse import BodyError, parse_body
from dispatcher.webhooks.signature import signature_ok

log = logging.getLogger("dispatcher.webhooks")
MAX_BODY_BYTES = 1024 * 1024


class WebhookRefused(Exception):
    """A POST the receiver will not apply; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class Applied:
    statuses: ApplyResult
    replies: ApplyResult
    skipped: int

    def as_dict(self) -> dict[str, int]:
        return {"statuses_applied": self.statuses.applied,
                "statuses_ignored": self.statuses.ignored,
                "statuses_unmatched": self.statuses.missing,
                "replies_applied": self.replies.applied,
                "replies_ignored": self.replies.ignored,
                "replies_unmatched": self.replies.missing, "skipped": self.skipped}


class WebhookReceiver:
    def __init__(self, receipts: ReceiptStore, app_secret: str | None,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.receipts = receipts
        self._secret = app_secret
        self.max_body_bytes = max_body_bytes

    def check(self, body: bytes, signature: str | None) -> None:
        """Raise :class:`WebhookRefused` unless ``body`` may be parsed."""
        if not self._secret:
            raise WebhookRefused(403, "webhook app secret is not configured")
        if len(body) > self.max_body_bytes:
            raise WebhookRefused(413, "body too large")
        if not signature_ok(body, signature, self._secret):
            raise WebhookRefused(401, "missing or wrong X-Hub-Signature-256")

    async def receive(self, body: bytes, signature: str | None) -> Applied:
        self.check(body, signature)
        try:
            found = parse_body(body)
        except BodyError as exc:
            raise WebhookRefused(400, str(exc)) from None
        statuses, replies = await self.receipts.apply(found.statuses, found.replies)
        if statuses.missing or replies.missing:
            log.warning("webhook: %d status(es) and %d reply(ies) matched no job",
                        statuses.missing, replies.missing)
        return Applied(statuses, replies, found.skipped)
