"""Response models: the documented, stable JSON shapes (they also build the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Counts(BaseModel):
    """Jobs currently in each status; they add up to ``total``."""

    model_config = ConfigDict(extra="allow")

    queued: int
    sending: int
    retrying: int
    sent: int
    delivered: int
    read: int
    failed: int
    unknown: int
    rejected: int
    cancelled: int
    suppressed: int = 0


class Reached(BaseModel):
    """The funnel: jobs that got at least this far."""

    sent: int
    delivered: int
    read: int


class CampaignSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    campaign_id: str
    name: str
    sender: str
    state: str
    reason: str
    total: int
    counts: Counts
    created_at: float
    pending: int
    progress: float
    reached: Reached


class Failure(BaseModel):
    error_class: str
    code: str
    count: int
    example: str


class ReplyOption(BaseModel):
    id: str
    title: str
    count: int


class Replies(BaseModel):
    replied: int
    options: list[ReplyOption]


class CampaignDetails(CampaignSummary):
    rate_per_s: float
    eta_s: float | None
    failures: list[Failure]
    replies: Replies


class CampaignList(BaseModel):
    campaigns: list[CampaignSummary]




class Job(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    campaign_id: str
    sender: str
    to: str
    status: str
    attempts: int
    provider_id: str | None
    error: dict[str, str] | None
    reply: dict[str, Any] | None
    created_at: float | None
    sent_at: float | None
    delivered_at: float | None
    read_at: float | None
    updated_at: float | None


class HistoryItem(BaseModel):
    at: float | None
    status: str
    note: str


class JobDetails(Job):
    message: dict[str, Any] | None
    history: list[HistoryItem]


class JobsPage(BaseModel):
    jobs: list[Job]
    next_cursor: int | None


class ControlResult(BaseModel):
    campaign_id: str
    action: str
    result: Any
    status: CampaignSummary


class RetryRequest(BaseModel):
    statuses: list[str] = ["failed"]


class Health(BaseModel):
    ok: bool
    redis: bool
