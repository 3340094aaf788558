"""Rich renderings of campaign status and job details for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from dispatcher.store import Status


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def campaigns_table(campaigns: list[dict[str, Any]]) -> Table:
    table = Table(title="campaigns", title_justify="left")
    for column in ("id", "name", "state", "progress", "sent", "delivered", "read", "failed",
                   "total"):
        table.add_column(column, justify="right" if column not in ("id", "name", "state")
                         else "left")
    for c in campaigns:
        reached, counts = c["reached"], c["counts"]
        table.add_row(c["campaign_id"], Text(c["name"]), c["state"], f"{c['progress']:.0%}",
                      str(reached["sent"]), str(reached["delivered"]), str(reached["read"]),
                      str(counts["failed"]), str(c["total"]))
    return table


def status_view(data: dict[str, Any]) -> RenderableType:
    """One campaign: header, progress bar, counts, rate and ETA, failures, replies."""
    head = Text(f"campaign {data['campaign_id']} ({data['name']}): {data['state']}")
    if data.get("reason"):
        head.append(f" - {data['reason']}")
    bar = ProgressBar(total=max(1, data["total"]), completed=data["total"] - data["pending"],
                      width=50)
    line = Text(f"{data['progress']:.0%} done, {data['rate_per_s']:.1f} msg/s over the last "
                f"minute, ETA {_duration(data['eta_s'])}")
    counts = Table(show_header=False, box=None, padding=(0, 2))
    for status in Status:
        counts.add_row(status.value, str(data["counts"][status.value]))
    counts.add_row("total", str(data["total"]))
    parts: list[RenderableType] = [head, bar, line, counts]
    if data["failures"]:
        failures = Table(title="failures by code", title_justify="left")
        for column in ("class", "code", "count", "example"):
            failures.add_column(column)
        for f in data["failures"]:
            failures.add_row(f["error_class"], f["code"], str(f["count"]), Text(f["example"]))
        parts.append(failures)
    if data["replies"]["options"]:
        replies = Table(title=f"replies ({data['replies']['replied']} users)",
                        title_justify="left")
        for column in ("option", "title", "count"):
            replies.add_column(column)
        for option in data["replies"]["options"]:
            replies.add_row(Text(option["id"]), Text(option["title"]), str(option["count"]))
        parts.append(replies)
    return Group(*parts)


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("job", "status", "attempts", "provider id", "error", "reply"):
        table.add_column(column)
    for job in jobs:
        error = job["error"] or {}
        reply = job["reply"] or {}
        table.add_row(job["job_id"], job["status"], str(job["attempts"]),
                      job["provider_id"] or "", Text(" ".join(
                          x for x in (error.get("class"), error.get("code")) if x)),
                      Text(reply.get("option", "")))
    return table


def job_view(job: dict[str, Any]) -> RenderableType:
    fields = Table(show_header=False, box=None, padding=(0, 2))
    for key in ("job_id", "campaign_id", "sender", "to", "status", "attempts", "provider_id"):
        fields.add_row(key, Text(str(job[key] if job[key] is not None else "-")))
    if job["error"]:
        e = job["error"]
        fields.add_row("error", Text(f"{e['class']} {e['code']}: {e['text']}"))
    if job["reply"]:
        fields.add_row("reply", Text(f"{job['reply']['option']} ({job['reply']['title']})"))
    history = Table(title="history", title_justify="left")
    for column in ("at", "status", "note"):
        history.add_column(column)
    for item in job["history"]:
        history.add_row(f"{item['at']:.3f}" if item["at"] is not None else "-", item["status"],
                        Text(item["note"]))
    return Group(fields, history)
