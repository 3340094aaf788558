"""Campaigns: one message template, a file (or iterable) of recipients with their variables.

Public entry points:

- :func:`create_campaign` -- the Python API (template + rows -> :class:`EnqueueSummary`);
- :func:`enqueue_campaign_file` -- what ``dispatcher enqueue CAMPAIGN_FILE`` runs;
- :func:`create_campaign_from_request` -- the framework-free handler of ``POST /v1/campaigns``;
- :class:`CampaignSpec`, :func:`load_campaign_file` -- the campaign file;
- :class:`MessageTemplate` -- placeholders rendered per string field (sandboxed, strict);
- :func:`add_suppressed`, :func:`remove_suppressed`, :func:`list_suppressed` -- the global
  opt-out list.
"""

from dispatcher.campaign.api import create_campaign, enqueue_campaign_file
from dispatcher.campaign.http import create_campaign_from_request
from dispatcher.campaign.hygiene import add_suppressed, list_suppressed, remove_suppressed
from dispatcher.campaign.spec import CampaignSpec, load_campaign_file
from dispatcher.campaign.template import MessageTemplate

__all__ = [
    "CampaignSpec",
    "MessageTemplate",
    "add_suppressed",
    "create_campaign",
    "create_campaign_from_request",
    "enqueue_campaign_file",
    "list_suppressed",
    "load_campaign_file",
    "remove_suppressed",
]
