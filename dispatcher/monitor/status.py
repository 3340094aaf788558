"""Campaign status for people and programs: the ``status --json`` shape (stable, documented).

``counts`` are the jobs *currently* in each status (the campaign's ``n:<status>`` counters), so
they always add up to ``total``: a job that moves ``sent -> delivered`` leaves ``sent``.
``reached`` is the funnel: how many jobs got at least that far (``sent`` = sent + delivered +
read; ``delivered`` = delivered + read).
"""

from __future__ import annotations

from typing import Any

from dispatcher.campaigns import campaign_status
from dispatcher.monitor.metrics import send_rate
from dispatcher.store import CampaignState, JobStore, Status
from dispatcher.store.receipts import reply_counts_from

PENDING = (Status.QUEUED.value, Status.SENDING.value, Status.RETRYING.value)
FAILURE_SCAN_LIMIT = 100_000
CHUNK = 1000


def summary_from_hash(campaign_id: str, info: dict[str, str]) -> dict[str, Any]:
    """The list view of one campaign (the same counts and state rule as ``campaign_status``)."""
    counts = {s.value: max(0, int(info.get(f"n:{s.value}", 0))) for s in Status}
    state = info.get("state", "")
    pending = sum(counts[s] for s in PENDING)
    if state == CampaignState.RUNNING and pending == 0:
        state = "done"
    total = int(info.get("total", 0))
    return {"campaign_id": campaign_id, "name": info.get("name", ""),
            "sender": info.get("sender", ""), "state": state, "reason": info.get("reason", ""),
            "total": total, "counts": counts, "created_at": float(info.get("created", 0)),
            **_derived(counts, total)}


def _derived(counts: dict[str, int], total: int) -> dict[str, Any]:
    pending = sum(counts[s] for s in PENDING)
    return {
        "pending": pending,
        "progress": round((total - pending) / total, 4) if total else 1.0,
        "reached": {"sent": counts["sent"] + counts["delivered"] + counts["read"],
                    "delivered": counts["delivered"] + counts["read"], "read": counts["read"]},
    }


async def list_campaigns(store: JobStore, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` campaigns, one pipelined round trip for their hashes."""
    ids = await store.campaign_ids(limit)
    async with store.redis.pipeline(transaction=False) as pipe:
        for campaign_id in ids:
            pipe.hgetall(store.keys.campaign(campaign_id))
        raw = await pipe.execute()
    out = []
    for campaign_id, info in zip(ids, raw, strict=True):
        if info:
            out.append(summary_from_hash(campaign_id, {_s(k): _s(v) for k, v in info.items()}))
    return out


async def campaign_details(store: JobStore, campaign_id: str) -> dict[str, Any]:
    """``status CAMPAIGN_ID``: counts, rate, ETA, failures by code, replies per option."""
    data = await campaign_status(store, campaign_id)  # raises NotFoundError
    data.update(_derived(data["counts"], data["total"]))
    info = await store.campaign(campaign_id) or {}
    now = await store.now()
    rate = await send_rate(store.redis, store.keys.prefix, campaign_id, now,
                           since=data["created_at"])
    data["rate_per_s"] = round(rate, 3)
    data["eta_s"] = round(data["pending"] / rate, 1) if rate > 0 and data["pending"] else (
        0.0 if not data["pending"] else None)
    data["failures"] = await failures_by_code(store, campaign_id)
    options = reply_counts_from(info)
    data["replies"] = {"replied": int(info.get("replied", 0)),
                       "options": [{"id": o, **v} for o, v in options.items()]}
    return data


async def failures_by_code(store: JobStore, campaign_id: str) -> list[dict[str, Any]]:
    """Failed jobs grouped by (error class, code), most frequent first, with one example text."""
    key = store.keys.exceptions_prefix(campaign_id) + Status.FAILED.value
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    scanned = 0
    batch: list[str] = []
    async for member in store.redis.sscan_iter(key, count=CHUNK):
        batch.append(_s(member))
        scanned += 1
        if len(batch) >= CHUNK or scanned >= FAILURE_SCAN_LIMIT:
            await _group(store, batch, groups)
            batch = []
        if scanned >= FAILURE_SCAN_LIMIT:
            break
    await _group(store, batch, groups)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["code"]))


async def _group(store: JobStore, job_ids: list[str],
                 groups: dict[tuple[str, str], dict[str, Any]]) -> None:
    if not job_ids:
        return
    async with store.redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(store.keys.job(job_id), ["ecl", "eco", "etx"])
        rows = await pipe.execute()
    for ecl, eco, etx in rows:
        group_key = (_s(ecl or b""), _s(eco or b""))
        group = groups.setdefault(group_key, {"error_class": group_key[0], "code": group_key[1],
                                              "count": 0, "example": _s(etx or b"")})
        group["count"] += 1


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
