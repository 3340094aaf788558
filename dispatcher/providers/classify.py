"""Error classification: providers.md §3 as code.

The provider's ``error.code`` (Meta's codes, which BSPs usually pass through) decides first,
because Meta sends the same throttling code with both 400 and 429. The HTTP status decides only
when the body carries no known code. Network failures are classified by *where* they happened:
before the request was fully sent (transient, safe to resend) or after (ambiguous, the provider
may have accepted it).
"""

from __future__ import annotations

import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from dispatcher.providers.base import ErrorClass

MAX_TEXT = 200

THROTTLED_SENDER_CODES = frozenset({130429, 80007, 4, 131057})
THROTTLED_RECIPIENT_CODES = frozenset({131056})
TRANSIENT_CODES = frozenset({131000, 131016, 1, 2})
PERMANENT_CODES = frozenset(
    {131026, 131047, 131051, 131008, 131009, 100, 131021, 131030, 131050, 130403, 131053, 135000}
)
ACCOUNT_CODES = frozenset({190, 0, 10, 368, 131031, 131042, 131045, 133010, 131048, 131064})
ACCOUNT_CODE_RANGE = range(200, 300)
"""Meta's permission errors (200-299) all mean the sender can't send."""

_CODE_TABLE: tuple[tuple[frozenset[int], ErrorClass], ...] = (
    (THROTTLED_SENDER_CODES, ErrorClass.THROTTLED_SENDER),
    (THROTTLED_RECIPIENT_CODES, ErrorClass.THROTTLED_RECIPIENT),
    (TRANSIENT_CODES, ErrorClass.TRANSIENT),
    (PERMANENT_CODES, ErrorClass.PERMANENT),
    (ACCOUNT_CODES, ErrorClass.ACCOUNT),
)

TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
ACCOUNT_STATUSES = frozenset({401, 403})

# Exceptions raised before the request was fully sent: resending can't duplicate a message.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.ProxyError,
)
# The sender's configuration can't work (bad base URL, unusable header value): stop the sender.
_MISCONFIGURED: tuple[type[Exception], ...] = (
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
    httpx.LocalProtocolError,
)


def class_of_code(code: int) -> ErrorClass | None:
    """The class of a provider ``error.code``, or ``None`` when the table doesn't know it."""
    for codes, error_class in _CODE_TABLE:
        if code in codes:
            return error_class
    if code in ACCOUNT_CODE_RANGE:
        return ErrorClass.ACCOUNT
    return None


def class_of_status(status: int) -> ErrorClass:
    """The HTTP fallback column of the table, for a response that is not a success."""
    if status == 429:
        return ErrorClass.THROTTLED_SENDER
    if status in TRANSIENT_STATUSES:
        return ErrorClass.TRANSIENT
    if status in ACCOUNT_STATUSES:
        return ErrorClass.ACCOUNT
    if 400 <= status < 500:
        return ErrorClass.PERMANENT
    if 500 <= status < 600:
        return ErrorClass.TRANSIENT
    if 300 <= status < 400:
        # Redirects are not followed: a POST API that redirects means the base URL is wrong
        # for every message of this sender.
        return ErrorClass.ACCOUNT
    # 2xx without a message id, 1xx, nonsense: the provider may have taken the message.
    return ErrorClass.AMBIGUOUS


def classify_response(
    status: int, body: bytes | dict[str, Any] | None
) -> tuple[ErrorClass, int | None, str]:
    """Classify an unsuccessful response: ``(class, error code or HTTP status, short text)``."""
    payload = parse_body(body)
    code, message = _provider_error(payload)
    error_class = class_of_code(code) if code is not None else None
    if error_class is None:
        error_class = class_of_status(status)
    text = f"HTTP {status}"
    if code is not None:
        text += f" code {code}"
    if message:
        text += f": {message}"
    return error_class, code if code is not None else status, one_line(text)


def classify_exception(exc: Exception) -> tuple[ErrorClass, str]:
    """Classify an exception raised while sending: ``(class, short text)``.

    Anything not known to have happened before the request was fully sent is ambiguous:
    read timeouts, protocol errors, dropped connections, and exceptions we don't recognise.
    """
    if isinstance(exc, _NOT_SENT):
        error_class = ErrorClass.TRANSIENT
    elif isinstance(exc, _MISCONFIGURED):
        error_class = ErrorClass.ACCOUNT
    else:
        error_class = ErrorClass.AMBIGUOUS
    detail = str(exc)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return error_class, one_line(text)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date).

    ``now`` is a Unix timestamp (defaults to the current time); a date in the past gives 0.
    Unparseable or negative values give ``None``.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _retry_after_date(value, time.time() if now is None else now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _retry_after_date(value: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT anyway
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_body(body: bytes | dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON object in a response body, or ``None`` when there isn't one."""
    if body is None or isinstance(body, dict):
        return body
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _provider_error(payload: dict[str, Any] | None) -> tuple[int | None, str]:
    """``(error.code, error.message)`` from a Meta-style error body."""
    if payload is None:
        return None, ""
    error = payload.get("error")
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, ""
    message = error.get("message")
    text = message if isinstance(message, str) else ""
    details = error.get("error_data", {})
    if isinstance(details, dict) and isinstance(details.get("details"), str):
        text = f"{text} ({details['details']})" if text else details["details"]
    return _as_int(error.get("code")), text


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    """Collapse whitespace to single spaces and cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
