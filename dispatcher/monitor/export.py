"""``dispatcher export``: every job of a campaign as CSV or JSON lines, streamed in chunks.

CSV cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return) get a leading ``'``: recipients' replies and provider error texts are
data from outside and must not run in an operator's spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from dispatcher.errors import InputError, NotFoundError
from dispatcher.monitor.jobs import load_jobs
from dispatcher.store import JobStore

FORMATS = ("csv", "jsonl")
CHUNK = 1000
COLUMNS = ("job_id", "to", "status", "attempts", "provider_id", "error_class", "error_code",
           "error_text", "reply_option", "reply_title", "created_at", "sent_at", "delivered_at",
           "read_at", "updated_at")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def flat_row(job: dict[str, Any]) -> dict[str, Any]:
    error = job.get("error") or {}
    reply = job.get("reply") or {}
    return {"job_id": job["job_id"], "to": job["to"], "status": job["status"],
            "attempts": job["attempts"], "provider_id": job["provider_id"] or "",
            "error_class": error.get("class", ""), "error_code": error.get("code", ""),
            "error_text": error.get("text", ""), "reply_option": reply.get("option", ""),
            "reply_title": reply.get("title", ""),
            **{k: job[k] for k in ("created_at", "sent_at", "delivered_at", "read_at",
                                   "updated_at")}}


def _csv_text(rows: list[dict[str, Any]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([neutralise("" if row[c] is None else str(row[c])) for c in COLUMNS])
    return buffer.getvalue()


async def export_chunks(store: JobStore, campaign_id: str, fmt: str) -> AsyncIterator[str]:
    """Yield the export text chunk by chunk (``CHUNK`` jobs each, one pipelined read)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    info = await store.campaign(campaign_id)
    if info is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    last = int(info.get("jobs", 0))
    if fmt == "csv":
        yield _csv_text([], header=True)
    for start in range(1, last + 1, CHUNK):
        numbers = list(range(start, min(last, start + CHUNK - 1) + 1))
        jobs = await load_jobs(store, campaign_id, numbers)
        if fmt == "csv":
            yield _csv_text([flat_row(j) for j in jobs], header=False)
        else:
            yield "".join(orjson.dumps(j).decode() + "\n" for j in jobs)
