"""``GET /metrics``: Prometheus text format (see ``monitor/exposition.py``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from dispatcher.api.context import Ctx
from dispatcher.monitor.exposition import metrics_text

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Ctx) -> Response:
    return Response(await metrics_text(ctx.store), media_type=CONTENT_TYPE_LATEST)
