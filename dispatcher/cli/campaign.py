"""Campaign commands: enqueue, pause, resume, cancel, retry (requeue), suppress add|remove|list."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import orjson
import typer

from dispatcher.cli.app import app, err, out, print_json, settings
from dispatcher.cli.redis_access import with_store
from dispatcher.errors import InputError
from dispatcher.store import Status

if TYPE_CHECKING:
    from dispatcher.checking import Problem
    from dispatcher.producer import EnqueueSummary

SHOWN_PROBLEMS = 20
suppress_app = typer.Typer(help="The global opt-out list (numbers never messaged).",
                           no_args_is_help=True)
app.add_typer(suppress_app, name="suppress")


class ProblemReport:
    """Every rejected row as one JSON line: in ``path``, or a temporary file when none."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.count = 0
        try:
            self._handle: IO[bytes] = (path.open("w+b") if path is not None
                                       else tempfile.TemporaryFile())  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"--report {path}: cannot write the report: "
                             f"{exc.strerror or exc}") from None

    def __call__(self, problem: Problem) -> None:
        self.count += 1
        self._handle.write(orjson.dumps(problem.as_dict()) + b"\n")

    def problems(self) -> Iterator[dict[str, Any]]:
        self._handle.flush()
        self._handle.seek(0)
        for line in self._handle:
            yield orjson.loads(line)

    def close(self) -> None:
        self._handle.close()
        if self.path is not None and self.count == 0:
            self.path.unlink(missing_ok=True)


def _progress_bar() -> tuple[Callable[[int, int, int], None] | None, Callable[[], None]]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not err.is_terminal:
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("enqueue"), BarColumn(), DownloadColumn(),
                   TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn(),
                   console=err, transient=True)
    task = bar.add_task("enqueue", total=None, rows=0)
    bar.start()

    def update(rows: int, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, rows=rows)

    return update, bar.stop


@app.command("enqueue")
def enqueue(
    file: Annotated[Path, typer.Argument(help="campaign file (.yaml/.json); or a .jsonl file of "
                                               "ready-made messages")],
    recipients: Annotated[Path | None, typer.Option(
        help="recipients CSV/JSONL (instead of the campaign file's `recipients`)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything, write "
                                          "nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary and every "
                                          "rejected row as JSON")] = False,
    report: Annotated[Path | None, typer.Option(
        help="where to write the rejected rows (JSONL); default: <campaign>.rejected.jsonl "
             "next to the campaign file (none on --dry-run)")] = None,
    name: Annotated[str | None, typer.Option(help="campaign name (.jsonl only)")] = None,
    sender: Annotated[str, typer.Option(help="sender (.jsonl only)")] = "default",
) -> None:
    """Create a campaign from a campaign file and print its id and a summary."""
    from dispatcher.campaign import enqueue_campaign_file
    from dispatcher.producer import enqueue_file
    from dispatcher.worker.app import app as celery_app

    conf = settings()
    legacy = file.suffix.lower() in (".jsonl", ".ndjson")
    if report is None and not dry_run:
        report = file.with_name(file.stem + ".rejected.jsonl")
    sink = ProblemReport(report)
    update, stop = _progress_bar()
    try:
        if legacy:
            result = with_store(lambda store: enqueue_file(store, celery_app, conf, file,
                                                           name=name, sender=sender))
            for problem in result.problems:
                sink(problem)
        else:
            result = with_store(lambda store: enqueue_campaign_file(
                store, None if dry_run else celery_app, conf, file, recipients=recipients,
                dry_run=dry_run, on_problem=sink, progress=update))
        stop()
        _print_summary(file, result, sink, as_json)
    finally:
        stop()
        sink.close()


def _print_summary(file: Path, result: EnqueueSummary, sink: ProblemReport,
                   as_json: bool) -> None:
    if as_json:
        data = result.as_dict(problems=[])
        data["problems"] = list(sink.problems())
        data["report"] = str(sink.path) if sink.path is not None and sink.count else None
        print_json(data)
        return
    source = result.source or str(file)
    for problem in result.problems[:SHOWN_PROBLEMS]:
        err.print(f"{source}:{problem}", markup=False)
    if sink.count > SHOWN_PROBLEMS:
        err.print(f"... and {sink.count - SHOWN_PROBLEMS} more", markup=False)
    what = "dry run" if result.dry_run else f"campaign {result.campaign_id} ({result.state})"
    err.print(f"{what}: {result.rows:,} rows: accepted {result.accepted:,}, rejected "
              f"{result.rejected:,}, duplicates dropped {result.duplicates:,}, suppressed "
              f"{result.suppressed:,}", markup=False)
    for reason, count in result.rejected_by_reason.most_common(10):
        err.print(f"  rejected {count:,}: {reason}", markup=False)
    if sink.path is not None and sink.count:
        err.print(f"rejected rows: {sink.path}", markup=False)
    if not result.dry_run:
        out.print(result.campaign_id)


@app.command("pause")
def pause(campaign_id: Annotated[str, typer.Argument(help="campaign id")]) -> None:
    """Stop sending a campaign (takes effect between two messages on every worker)."""
    from dispatcher.campaigns import pause as pause_campaign

    with_store(lambda store: pause_campaign(store, campaign_id))
    out.print(f"paused {campaign_id}")


@app.command("resume")
def resume(campaign_id: Annotated[str, typer.Argument(help="campaign id")]) -> None:
    """Run a paused campaign again (after a pause, an auto-pause or an account error)."""
    from dispatcher.campaigns import resume as resume_campaign
    from dispatcher.worker.app import app as celery_app

    conf = settings()
    count = with_store(lambda store: resume_campaign(store, celery_app, campaign_id,
                                                     conf.batch_size))
    out.print(f"resumed; {count} parked job(s) back in the queue")


@app.command("cancel")
def cancel(campaign_id: Annotated[str, typer.Argument(help="campaign id")]) -> None:
    """Cancel a campaign: every message not yet sent ends `cancelled`."""
    from dispatcher.campaigns import cancel as cancel_campaign

    count = with_store(lambda store: cancel_campaign(store, campaign_id))
    out.print(f"cancelled {campaign_id}; {count} waiting job(s) marked cancelled")


def _retry(campaign_id: str, statuses: list[Status]) -> None:
    from dispatcher.campaigns import retry as retry_jobs
    from dispatcher.worker.app import app as celery_app

    conf = settings()
    count = with_store(lambda store: retry_jobs(store, celery_app, campaign_id, statuses,
                                                conf.batch_size))
    out.print(f"retrying {count} job(s)")


@app.command("retry")
def retry(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    failed: Annotated[bool, typer.Option("--failed", help="the failed jobs")] = False,
    unknown: Annotated[bool, typer.Option("--unknown", help="the jobs whose outcome is "
                                          "unknown")] = False,
) -> None:
    """Put a campaign's failed and/or unknown jobs back in the queue (both when neither flag
    is given), keeping their history."""
    wanted = [s for s, on in ((Status.FAILED, failed), (Status.UNKNOWN, unknown)) if on]
    _retry(campaign_id, wanted or [Status.FAILED, Status.UNKNOWN])


@app.command("requeue")
def requeue(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    unknown: Annotated[bool, typer.Option(help="jobs whose outcome is unknown")] = True,
    failed: Annotated[bool, typer.Option("--failed", help="also the failed jobs")] = False,
) -> None:
    """Put a campaign's unknown (and optionally failed) jobs back (see also `retry`)."""
    wanted = [s for s, on in ((Status.UNKNOWN, unknown), (Status.FAILED, failed)) if on]
    _retry(campaign_id, wanted)


def _numbers(numbers: list[str], file: Path | None) -> list[str]:
    from dispatcher.campaign.hygiene import load_suppression_file, normalize_numbers

    region = settings().default_region
    found = normalize_numbers(numbers, region)
    if file is not None:
        found.extend(sorted(load_suppression_file(file, region)))
    return found


@suppress_app.command("add")
def suppress_add(
    numbers: Annotated[list[str] | None, typer.Argument(help="phone numbers")] = None,
    file: Annotated[Path | None, typer.Option(help="a file of numbers, one per line")] = None,
) -> None:
    """Add numbers to the opt-out list (checked at enqueue and before each send)."""
    from dispatcher.campaign.hygiene import add_suppressed

    found = _numbers(numbers or [], file)
    added = with_store(lambda store: add_suppressed(store, found))
    out.print(f"added {added} number(s) ({len(found) - added} already listed)")


@suppress_app.command("remove")
def suppress_remove(
    numbers: Annotated[list[str] | None, typer.Argument(help="phone numbers")] = None,
    file: Annotated[Path | None, typer.Option(help="a file of numbers, one per line")] = None,
) -> None:
    """Remove numbers from the opt-out list."""
    from dispatcher.campaign.hygiene import remove_suppressed

    found = _numbers(numbers or [], file)
    removed = with_store(lambda store: remove_suppressed(store, found))
    out.print(f"removed {removed} number(s)")


@suppress_app.command("list")
def suppress_list(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the opt-out list, one number per line."""
    from dispatcher.campaign.hygiene import list_suppressed

    listed = with_store(list_suppressed)
    if as_json:
        print_json({"suppressed": listed, "count": len(listed)})
        return
    sys.stdout.write("".join(f"{n}\n" for n in listed))
