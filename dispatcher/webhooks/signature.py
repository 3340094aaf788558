"""The ``X-Hub-Signature-256`` check (webhooks.md): HMAC-SHA256 of the raw bytes, constant time."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value the provider sends for ``body``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the signature of exactly these bytes under ``secret``."""
    if not header or not secret or not header.startswith(PREFIX):
        return False
    expected = sign(body, secret)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def verify_token_ok(given: str | None, expected: str | None) -> bool:
    """The GET handshake's ``hub.verify_token`` check (constant time; no token, no match)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
