"""``GET /v1/jobs/{job_id}``: one job with its message and whole history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dispatcher.api.context import Ctx
from dispatcher.api.models import JobDetails
from dispatcher.monitor import job_details

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobDetails)
async def get_job(job_id: str, ctx: Ctx) -> dict[str, Any]:
    return await job_details(ctx.store, job_id)
