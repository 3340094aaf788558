"""Campaigns: list, status, jobs page by page, export, and the controls."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi.responses import StreamingResponse

from dispatcher import campaigns as controls
from dispatcher.api.context import ApiContext, Ctx
from dispatcher.api.models import (
    CampaignDetails,
    CampaignList,
    ControlResult,
    JobsPage,
    RetryRequest,
)
from dispatcher.errors import InputError
from dispatcher.monitor import campaign_details, export_chunks, list_campaigns, list_jobs
from dispatcher.monitor.status import summary_from_hash
from dispatcher.store import Status

router = APIRouter(prefix="/v1", tags=["campaigns"])
ACTOR = "api"  # who the campaign controls record as acting


@router.get("/campaigns", response_model=CampaignList)
async def get_campaigns(ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100
                        ) -> dict[str, Any]:
    return {"campaigns": await list_campaigns(ctx.store, limit)}


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetails)
async def get_campaign(campaign_id: str, ctx: Ctx) -> dict[str, Any]:
    return await campaign_details(ctx.store, campaign_id)


@router.get("/campaigns/{campaign_id}/jobs", response_model=JobsPage)
async def get_jobs(campaign_id: str, ctx: Ctx, status: Status | None = None,
                   cursor: Annotated[int, Query(ge=0)] = 0,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return await list_jobs(ctx.store, campaign_id, status.value if status else None, cursor,
                           limit)


@router.get("/campaigns/{campaign_id}/export", response_class=StreamingResponse)
async def export(campaign_id: str, ctx: Ctx,
                 format: Literal["csv", "jsonl"] = "csv") -> StreamingResponse:
    chunks = export_chunks(ctx.store, campaign_id, format)
    first = await anext(chunks)  # a missing campaign is a 404, not a broken stream

    async def body() -> Any:
        yield first
        async for chunk in chunks:
            yield chunk

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    headers = {"Content-Disposition": f'attachment; filename="{campaign_id}.{format}"'}
    return StreamingResponse(body(), media_type=media, headers=headers)


def _control(name: str) -> Callable[..., Any]:
    """A control of ``dispatcher.campaigns`` by name; 501 while it does not exist."""
    fn = getattr(controls, name, None)
    if fn is None:
        raise HTTPException(501, f"campaign control {name!r} is not available")
    return fn  # type: ignore[no-any-return]


async def _answer(ctx: ApiContext, campaign_id: str, action: str, result: Any) -> dict[str, Any]:
    if inspect.isawaitable(result):
        result = await result
    info = await ctx.store.campaign(campaign_id) or {}
    if not isinstance(result, int | str | bool | list | dict | None):
        result = str(result)
    return {"campaign_id": campaign_id, "action": action, "result": result,
            "status": summary_from_hash(campaign_id, info)}


@router.post("/campaigns/{campaign_id}/pause", response_model=ControlResult)
async def pause(campaign_id: str, ctx: Ctx) -> dict[str, Any]:
    result = _control("pause")(ctx.store, campaign_id, actor=ACTOR)
    return await _answer(ctx, campaign_id, "pause", result)


@router.post("/campaigns/{campaign_id}/resume", response_model=ControlResult)
async def resume(campaign_id: str, ctx: Ctx) -> dict[str, Any]:
    result = _control("resume")(ctx.store, ctx.celery, campaign_id, ctx.settings.batch_size,
                               actor=ACTOR)
    return await _answer(ctx, campaign_id, "resume", result)


@router.post("/campaigns/{campaign_id}/cancel", response_model=ControlResult)
async def cancel(campaign_id: str, ctx: Ctx) -> dict[str, Any]:
    result = _control("cancel")(ctx.store, campaign_id, actor=ACTOR)
    return await _answer(ctx, campaign_id, "cancel", result)


@router.post("/campaigns/{campaign_id}/retry", response_model=ControlResult)
async def retry(campaign_id: str, ctx: Ctx,
                request: Annotated[RetryRequest | None, Body()] = None) -> dict[str, Any]:
    names = (request or RetryRequest()).statuses
    try:
        statuses = [Status(name) for name in names]
    except ValueError:
        raise InputError(f"unknown status in {names}") from None
    result = _control("retry")(ctx.store, ctx.celery, campaign_id, statuses,
                               ctx.settings.batch_size, actor=ACTOR)
    return await _answer(ctx, campaign_id, "retry", result)
