"""Every Redis key the dispatcher uses, in one place.

Job ids are ``<campaign id>.<n>`` with n counting from 1, so a campaign's jobs can be walked
without an index and a job's campaign is known from its id alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"  # opted out (global list) after enqueue: never sent


# A job in one of these is never sent again, whatever the queue delivers.
FINAL = frozenset({Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED, Status.REJECTED,
                   Status.CANCELLED, Status.SUPPRESSED})
PENDING = frozenset({Status.QUEUED, Status.SENDING, Status.RETRYING})


class CampaignState(StrEnum):
    CREATING = "creating"
    SCHEDULED = "scheduled"  # written, waiting for its send_at; nothing published yet
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


def campaign_of(job_id: str) -> str:
    return job_id.rsplit(".", 1)[0]


def job_id_for(campaign_id: str, index: int) -> str:
    return f"{campaign_id}.{index}"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "dispatcher"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def history(self, job_id: str) -> str:
        return f"{self.prefix}:hist:{job_id}"

    def campaign(self, campaign_id: str) -> str:
        return f"{self.prefix}:campaign:{campaign_id}"

    def parked(self, campaign_id: str) -> str:
        return f"{self.prefix}:parked:{campaign_id}"

    def exceptions_prefix(self, campaign_id: str) -> str:
        """Prefix of the per-campaign sets of failed and unknown job ids."""
        return f"{self.prefix}:cst:{campaign_id}:"

    def seen(self, campaign_id: str) -> str:
        """Normalised numbers already accepted, only while the campaign is being created."""
        return f"{self.prefix}:seen:{campaign_id}"

    def job_prefix(self, campaign_id: str) -> str:
        """``job_prefix(c) + str(n)`` is ``job(job_id_for(c, n))`` (for Lua scripts)."""
        return f"{self.prefix}:job:{campaign_id}."

    def history_prefix(self, campaign_id: str) -> str:
        return f"{self.prefix}:hist:{campaign_id}."

    def sender_campaigns(self, sender: str) -> str:
        return f"{self.prefix}:sender:{sender}:campaigns"

    def held(self, worker_id: str) -> str:
        return f"{self.prefix}:held:{worker_id}"

    @property
    def campaigns(self) -> str:
        return f"{self.prefix}:campaigns"

    @property
    def provider_ids_prefix(self) -> str:
        """``<prefix><UTC day number>``: hash of provider message id -> job id, kept 35 days."""
        return f"{self.prefix}:pid:"

    @property
    def active(self) -> str:
        return f"{self.prefix}:active"

    @property
    def suppressed(self) -> str:
        """The global opt-out list: a set of E.164 digits."""
        return f"{self.prefix}:suppressed"

    @property
    def scheduled(self) -> str:
        """Campaigns waiting for their ``send_at``: zset campaign id -> epoch seconds."""
        return f"{self.prefix}:scheduled"

    @property
    def sweep_lock(self) -> str:
        return f"{self.prefix}:sweep-lock"

    @property
    def due(self) -> str:
        return f"{self.prefix}:due"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"
