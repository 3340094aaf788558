"""``/healthz``: open (no token), for load balancers; 503 when Redis does not answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dispatcher.api.context import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(ctx: Ctx) -> JSONResponse:
    try:
        ok = bool(await ctx.redis.ping())
    except Exception:  # any Redis failure: unhealthy, not a 500
        ok = False
    return JSONResponse({"ok": ok, "redis": ok}, status_code=200 if ok else 503)
