"""Campaign commands: enqueue, requeue, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatcher.cli.app import app, err, out, print_json, settings
from dispatcher.cli.redis_access import with_store
from dispatcher.store import Status


@app.command("enqueue")
def enqueue(
    file: Annotated[Path, typer.Argument(help="JSONL file: one message per line")],
    name: Annotated[str | None, typer.Option(help="campaign name (default: file name)")] = None,
    sender: Annotated[str, typer.Option(help="sender name from the settings")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create a campaign from a JSONL file of messages and print its id."""
    from dispatcher.producer import enqueue_file
    from dispatcher.worker.app import app as celery_app

    conf = settings()
    result = with_store(lambda store: enqueue_file(store, celery_app, conf, file, name=name,
                                                   sender=sender))
    if as_json:
        print_json({"campaign_id": result.campaign_id, "accepted": result.accepted,
                    "rejected": result.rejected,
                    "problems": [p.as_dict() for p in result.problems]})
        return
    for problem in result.problems[:20]:
        err.print(f"{file}:{problem}", markup=False)
    if len(result.problems) > 20:
        err.print(f"... and {len(result.problems) - 20} more (use --json for all)")
    err.print(f"accepted {result.accepted}, rejected {result.rejected}")
    out.print(result.campaign_id)


@app.command("requeue")
def requeue(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    unknown: Annotated[bool, typer.Option(help="jobs whose outcome is unknown")] = True,
    failed: Annotated[bool, typer.Option("--failed", help="also the failed jobs")] = False,
) -> None:
    """Put a campaign's unknown (and optionally failed) jobs back in the queue."""
    from dispatcher.campaigns import requeue as requeue_jobs
    from dispatcher.worker.app import app as celery_app

    wanted = [s for s, on in ((Status.UNKNOWN, unknown), (Status.FAILED, failed)) if on]
    conf = settings()
    count = with_store(lambda store: requeue_jobs(store, celery_app, campaign_id, wanted,
                                                  conf.batch_size))
    out.print(f"requeued {count} job(s)")


@app.command("resume")
def resume(campaign_id: Annotated[str, typer.Argument(help="campaign id")]) -> None:
    """Run a paused campaign again (e.g. after an account error was fixed)."""
    from dispatcher.campaigns import resume as resume_campaign
    from dispatcher.worker.app import app as celery_app

    conf = settings()
    count = with_store(lambda store: resume_campaign(store, celery_app, campaign_id,
                                                     conf.batch_size))
    out.print(f"resumed; {count} parked job(s) back in the queue")
