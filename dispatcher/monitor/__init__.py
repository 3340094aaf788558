"""Watching campaigns: status, jobs, history, export and metrics (used by the CLI and the API)."""

from dispatcher.monitor.export import FORMATS, export_chunks, neutralise
from dispatcher.monitor.jobs import job_details, job_view, list_jobs
from dispatcher.monitor.status import campaign_details, list_campaigns, summary_from_hash

__all__ = ["FORMATS", "campaign_details", "export_chunks", "job_details", "job_view",
           "list_campaigns", "list_jobs", "neutralise", "summary_from_hash"]
