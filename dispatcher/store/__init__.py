"""Job records and campaign counters in Redis (see ``jobs.py``)."""

from dispatcher.store.jobs import JobStore
from dispatcher.store.keys import FINAL, PENDING, CampaignState, Keys, Status, campaign_of

__all__ = ["FINAL", "PENDING", "CampaignState", "JobStore", "Keys", "Status", "campaign_of"]
