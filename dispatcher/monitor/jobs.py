"""One job's public view and history, and a campaign's jobs page by page (cursor = job number).

Job ids are ``<campaign>.<n>``, so a campaign's jobs are walked by number without an index; the
``failed`` and ``unknown`` indexes are used when those are asked for.
"""

from __future__ import annotations

from typing import Any

import orjson

from dispatcher.errors import InputError, NotFoundError
from dispatcher.store import JobStore, Status
from dispatcher.store.keys import campaign_of, job_id_for

SCAN_CHUNK = 1000
MAX_SCAN = 20_000  # jobs looked at for one page of a filtered listing
INDEXED = (Status.FAILED.value, Status.UNKNOWN.value)


def _num(value: str | None) -> float | None:
    return float(value) if value else None


def job_view(job_id: str, rec: dict[str, str]) -> dict[str, Any]:
    """The public fields of a job record (names spelled out; see ``store/jobs.py``)."""
    error = None
    if rec.get("ecl") or rec.get("eco"):
        error = {"class": rec.get("ecl", ""), "code": rec.get("eco", ""),
                 "text": rec.get("etx", "")}
    reply = None
    if rec.get("rop"):
        reply = {"option": rec["rop"], "title": rec.get("rti", ""), "id": rec.get("rid", ""),
                 "at": _num(rec.get("rts"))}
    return {
        "job_id": job_id, "campaign_id": rec.get("c") or campaign_of(job_id),
        "sender": rec.get("s", ""),
        "to": rec.get("to", ""), "status": rec.get("st", ""),
        "attempts": int(rec.get("att", 0) or 0), "provider_id": rec.get("pid") or None,
        "error": error, "reply": reply,
        "created_at": _num(rec.get("t0")), "first_attempt_at": _num(rec.get("t1")),
        "last_attempt_at": _num(rec.get("tl")), "sent_at": _num(rec.get("ts")),
        "delivered_at": _num(rec.get("td")), "read_at": _num(rec.get("tr")),
        "updated_at": _num(rec.get("tu")), "next_retry_at": _num(rec.get("due")),
    }


def parse_history(lines: list[str]) -> list[dict[str, Any]]:
    """History lines ``"<time> <status> <note>"`` as ``{"at", "status", "note"}``."""
    out = []
    for line in lines:
        parts = line.split(" ", 2)
        at = float(parts[0]) if parts and _is_float(parts[0]) else None
        out.append({"at": at, "status": parts[1] if len(parts) > 1 else "",
                    "note": parts[2] if len(parts) > 2 else ""})
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def job_details(store: JobStore, job_id: str) -> dict[str, Any]:
    """``dispatcher job JOB_ID``: the job, its message and its whole history."""
    rec = await store.job(job_id)
    if rec is None:
        raise NotFoundError(f"no job {job_id!r}")
    data = job_view(job_id, rec)
    data["message"] = orjson.loads(rec["p"]) if rec.get("p") else None
    data["history"] = parse_history(await store.history(job_id))
    return data


def check_status(status: str | None) -> str | None:
    if status is not None and status not in {s.value for s in Status}:
        known = ", ".join(s.value for s in Status)
        raise InputError(f"unknown status {status!r}; one of: {known}")
    return status


async def list_jobs(store: JobStore, campaign_id: str, status: str | None = None,
                    cursor: int = 0, limit: int = 100) -> dict[str, Any]:
    """A page of jobs numbered above ``cursor``; ``next_cursor`` is None at the end.

    A filtered page may come back short (at most ``MAX_SCAN`` jobs are looked at per call):
    follow ``next_cursor`` until it is None.
    """
    check_status(status)
    info = await store.campaign(campaign_id)
    if info is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    last = int(info.get("jobs", 0))
    limit = max(1, min(limit, 1000))
    if status in INDEXED:
        numbers = await _indexed_numbers(store, campaign_id, status or "", cursor)
        page = numbers[:limit]
        jobs = await load_jobs(store, campaign_id, page)
        following = page[-1] if len(numbers) > limit else None
        return {"jobs": [j for j in jobs if j["status"] == status], "next_cursor": following}
    found: list[dict[str, Any]] = []
    number = cursor
    while number < last and len(found) < limit and number - cursor < MAX_SCAN:
        chunk = list(range(number + 1, min(last, number + SCAN_CHUNK) + 1))
        for job in await load_jobs(store, campaign_id, chunk):
            number = int(job["job_id"].rsplit(".", 1)[1])
            if status is None or job["status"] == status:
                found.append(job)
                if len(found) >= limit:
                    break
        else:
            number = chunk[-1]
    return {"jobs": found, "next_cursor": number if number < last else None}


async def _indexed_numbers(store: JobStore, campaign_id: str, status: str,
                           cursor: int) -> list[int]:
    key = store.keys.exceptions_prefix(campaign_id) + status
    members = await store.redis.smembers(key)
    numbers = (int(_s(m).rsplit(".", 1)[1]) for m in members)
    return sorted(n for n in numbers if n > cursor)


async def load_jobs(store: JobStore, campaign_id: str,
                    numbers: list[int]) -> list[dict[str, Any]]:
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.hget(store.keys.campaign(campaign_id), "sender")  # jobs may not repeat it
        for n in numbers:
            pipe.hgetall(store.keys.job(job_id_for(campaign_id, n)))
        sender, *rows = await pipe.execute()
    out = []
    for n, raw in zip(numbers, rows, strict=True):
        if raw:
            rec = {_s(k): _s(v) for k, v in raw.items()}
            rec.setdefault("s", _s(sender or b""))
            out.append(job_view(job_id_for(campaign_id, n), rec))
    return out


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
