"""``/webhooks/whatsapp``: the provider's handshake (GET) and notifications (POST).

The body is read with a size cap and its signature checked on the raw bytes before anything
parses it; the whole POST is applied in one pipelined round trip, then answered 200.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from dispatcher.api.context import Ctx
from dispatcher.webhooks import WebhookRefused, verify_token_ok

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.get("/whatsapp", response_class=PlainTextResponse)
async def handshake(
    ctx: Ctx,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> Response:
    expected = ctx.settings.webhook_verify_token
    if mode == "subscribe" and challenge is not None and verify_token_ok(
            token, expected.get_secret_value() if expected else None):
        return PlainTextResponse(challenge)
    return PlainTextResponse("verification failed", status_code=403)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it grows past ``limit`` bytes (nothing more is read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            return None
    return bytes(body)


@router.post("/whatsapp")
async def notify(request: Request, ctx: Ctx) -> Response:
    receiver = ctx.receiver
    signature = request.headers.get("x-hub-signature-256")
    try:
        if not ctx.settings.webhook_app_secret:
            raise WebhookRefused(403, "webhook app secret is not configured")
        body = await _read_capped(request, receiver.max_body_bytes)
        if body is None:
            raise WebhookRefused(413, "body too large")
        applied = await receiver.receive(body, signature)
    except WebhookRefused as refused:
        return JSONResponse({"detail": refused.reason}, status_code=refused.status)
    return JSONResponse(applied.as_dict())
