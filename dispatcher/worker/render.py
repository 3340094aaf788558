"""The message a job sends, built from its record just before the send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime


async def message_for(rt: Runtime, job_id: str, rec: dict[str, str]) -> dict[str, Any] | None:
    """The wire-ready message of ``job_id``, or None when it must not be sent (the job has then
    been moved to a final state by this function)."""
    payload: dict[str, Any] = orjson.loads(rec["p"])
    return payload
