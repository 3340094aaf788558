"""The WhatsApp Cloud API wire format (Meta directly).

``POST {base_url}/{api_version}/{phone_number_id}/messages``. The job id travels as
``biz_opaque_callback_data``, which Meta echoes on the status webhooks: the correlation id.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from dispatcher.providers.base import Provider, SendResult
from dispatcher.providers.bsp import JSON_CONTENT_TYPE, digits_of, message_block
from dispatcher.providers.http import invalid_message_result, post_message

MAX_CALLBACK_DATA = 512


def cloud_body(message: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The Cloud API request body for a message in the seed's BSP shape."""
    kind, block = message_block(message)
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+" + digits_of(message["to"]),
        "type": kind,
        kind: block,
        "biz_opaque_callback_data": job_id[:MAX_CALLBACK_DATA],
    }


class CloudProvider(Provider):
    """Meta's Cloud API, one business phone number."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        client: httpx.AsyncClient,
        phone_number_id: str,
        api_version: str = "v21.0",
        name: str = "cloud",
    ) -> None:
        self.name = name
        self.url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self._api_key = SecretStr(api_key)
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    async def send(self, message: dict[str, Any], *, job_id: str,
                   leave_by: float | None = None) -> SendResult:
        try:
            content = orjson.dumps(cloud_body(message, job_id))
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
