"""The BSP wire format (the seed's provider): ``POST {base_url}/v1/messages``.

The body is the validated message itself, ``{"to": "<digits>", "type": "interactive",
"interactive": {...}}``, so the seed's examples reach the provider byte for byte.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from dispatcher.providers.base import Provider, SendResult
from dispatcher.providers.http import invalid_message_result, post_message

JSON_CONTENT_TYPE = "application/json"


def digits_of(to: object) -> str:
    """The destination as E.164 digits without ``+``; ``ValueError`` if it isn't one."""
    if not isinstance(to, str):
        raise ValueError("'to' must be a string")
    digits = to.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError("'to' must be E.164 digits")
    return digits


def message_block(message: dict[str, Any]) -> tuple[str, Any]:
    """``(type, block)``: the message type and the object carried under that key."""
    kind = message["type"]
    if not isinstance(kind, str) or kind in ("to", "type") or kind not in message:
        raise ValueError(f"message of type {kind!r} has no {kind!r} object")
    return kind, message[kind]


def bsp_body(message: dict[str, Any]) -> dict[str, Any]:
    """The BSP request body: the seed shape ``{"to", "type", "interactive"}``, in that order."""
    kind, block = message_block(message)
    return {"to": digits_of(message["to"]), "type": kind, kind: block}


class BspProvider(Provider):
    """A BSP speaking the seed's API. Also the sandbox, which speaks the same format."""

    def __init__(
        self, *, base_url: str, api_key: str, client: httpx.AsyncClient, name: str = "bsp"
    ) -> None:
        self.name = name
        self.url = f"{base_url.rstrip('/')}/v1/messages"
        self._api_key = SecretStr(api_key)
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    async def send(self, message: dict[str, Any], *, job_id: str,
                   leave_by: float | None = None) -> SendResult:
        try:
            content = orjson.dumps(bsp_body(message))
        except (KeyError, TypeError, ValueError) as exc:
            return invalid_message_result(exc)
        key = self._api_key.get_secret_value()
        headers = {
            "authorization": f"Bearer {key}",
            "content-type": JSON_CONTENT_TYPE,
            "idempotency-key": job_id,
        }
        return await post_message(self._client, self.url, content, headers, secret=key,
                                  leave_by=leave_by)

    async def aclose(self) -> None:
        """Nothing to release: the shared client belongs to the caller."""
