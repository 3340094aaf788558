"""``POST /v1/campaigns``: a campaign with its recipients inline, validated like the CLI's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dispatcher.api.context import Ctx
from dispatcher.campaign import create_campaign_from_request

router = APIRouter(prefix="/v1", tags=["campaigns"])
MAX_BODY = 32 << 20


@router.post("/campaigns", status_code=201)
async def post_campaign(request: Request, ctx: Ctx) -> JSONResponse:
    """Create a campaign: 201 with its summary, 422 with every fatal error (index, path, reason)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, status_code=413)
    status, answer = await create_campaign_from_request(body, ctx.store, ctx.celery,
                                                        ctx.settings)
    return JSONResponse(answer, status_code=status)
