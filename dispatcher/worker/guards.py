"""Checks a worker makes after an outcome (e.g. auto-pause on a high permanent-failure rate)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime


async def after_permanent_failure(rt: Runtime, job_id: str) -> None:
    """Called after a job failed permanently (not for throttling)."""
