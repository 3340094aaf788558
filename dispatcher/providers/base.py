"""The provider seam: one interface, one module per wire format (like httpx's transports).

A provider turns one validated message into one HTTP request and turns *every* outcome of that
request (success, error body, bad status, network failure) into a :class:`SendResult`. The
dispatcher above never sees an exception for a network or HTTP problem; it reads
``SendResult.error_class`` (providers.md §3) to decide what happens next. The one exception it
sees is :class:`SlotMissed`: nothing was sent, because the request could not leave in time for
its rate-limit slot.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorClass(StrEnum):
    """What a failed attempt means for the job (providers.md §3)."""

    THROTTLED_SENDER = "throttled_sender"
    """Slow the sender's shared rate down, retry; never counts as a failure."""
    THROTTLED_RECIPIENT = "throttled_recipient"
    """Pair limit hit: retry this recipient later, other recipients go on."""
    TRANSIENT = "transient"
    """Retry with exponential backoff and jitter, up to the attempt limit."""
    PERMANENT = "permanent"
    """Fail this job now, never retry."""
    ACCOUNT = "account"
    """Stop the whole sender (pause its campaigns); retrying only burns quota."""
    AMBIGUOUS = "ambiguous"
    """The request may have reached the provider: resend only under an explicit policy."""


class SlotMissed(Exception):
    """The request was not sent: it could not be written by its ``leave_by`` moment.

    Raised before a single byte of the request is written (with the default aiohttp transport,
    once the connection is in hand, so the wait for a new connection counts), so the message
    surely did not reach the provider and the caller may take a new slot and send it again.
    """


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send attempt.

    ``error_code`` is the provider's ``error.code`` when the body carried one, else the HTTP
    status (``None`` for network failures). ``error_text`` is one short line and never contains
    the API key. ``retry_after`` is in seconds, parsed from the ``Retry-After`` header.
    """

    ok: bool
    provider_message_id: str | None
    error_class: ErrorClass | None
    error_code: int | None
    http_status: int | None
    error_text: str
    retry_after: float | None
    latency_s: float


class Provider(abc.ABC):
    """One wire format, bound to one sender (base URL + API key) and a shared HTTP client."""

    name: str

    @abc.abstractmethod
    async def send(self, message: dict[str, Any], *, job_id: str,
                   leave_by: float | None = None) -> SendResult:
        """Send one message; never raises for network or HTTP problems.

        ``leave_by`` (``time.monotonic()``): the latest moment the request may be written, or
        :class:`SlotMissed` is raised instead of sending it.

        ``message`` is the validated message in the seed's BSP shape
        ``{"to": "<E.164 digits, no +>", "type": "interactive", "interactive": {...}}``.
        ``job_id`` is sent as the ``Idempotency-Key`` header (and, for the Cloud API, as
        ``biz_opaque_callback_data``).
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what the provider owns (not the shared HTTP client, which the caller owns)."""
