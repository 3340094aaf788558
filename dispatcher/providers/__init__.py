"""Provider layer: one interface (:class:`Provider`), one module per wire format.

``make_provider`` builds one from configuration; ``make_async_client`` builds the process's
shared HTTP client it sends with.
"""

from __future__ import annotations

import httpx

from dispatcher.providers.base import ErrorClass, Provider, SendResult, SlotMissed
from dispatcher.providers.bsp import BspProvider, bsp_body
from dispatcher.providers.classify import (
    classify_exception,
    classify_response,
    parse_retry_after,
)
from dispatcher.providers.cloud import CloudProvider, cloud_body
from dispatcher.providers.http import make_async_client

PROVIDER_KINDS = ("bsp", "cloud", "sandbox")

__all__ = [
    "PROVIDER_KINDS",
    "BspProvider",
    "CloudProvider",
    "ErrorClass",
    "Provider",
    "SendResult",
    "SlotMissed",
    "bsp_body",
    "classify_exception",
    "classify_response",
    "cloud_body",
    "make_async_client",
    "make_provider",
    "parse_retry_after",
]


def make_provider(
    kind: str,
    *,
    base_url: str,
    api_key: str,
    client: httpx.AsyncClient,
    phone_number_id: str | None = None,
    api_version: str = "v21.0",
) -> Provider:
    """A provider of ``kind`` ``"bsp"``, ``"cloud"`` or ``"sandbox"`` (the BSP format pointed
    at the local sandbox server, named ``"sandbox"``)."""
    if kind in ("bsp", "sandbox"):
        return BspProvider(base_url=base_url, api_key=api_key, client=client, name=kind)
    if kind == "cloud":
        if not phone_number_id:
            raise ValueError("the cloud provider needs a phone_number_id")
        return CloudProvider(
            base_url=base_url,
            api_key=api_key,
            client=client,
            phone_number_id=phone_number_id,
            api_version=api_version,
        )
    raise ValueError(f"unknown provider kind {kind!r}: expected one of {PROVIDER_KINDS}")
