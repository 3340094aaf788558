"""Monitoring commands: status, jobs, job, export, serve."""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from pathlib import Path
from typing import Annotated

import typer

from dispatcher.cli.app import app, out, print_json, settings
from dispatcher.cli.redis_access import with_store
from dispatcher.errors import ConfigError

FINISHED = ("done", "cancelled")


@app.command("status")
def status(
    campaign_id: Annotated[str | None, typer.Argument(help="campaign id (none: list them)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="redraw live until it ends")] = False,
) -> None:
    """The campaigns, or one campaign's counts, rate, ETA, failures and replies."""
    from dispatcher.monitor import campaign_details, list_campaigns
    from dispatcher.monitor.render import campaigns_table, status_view

    if watch:
        _watch(campaign_id)
        return
    if campaign_id is None:
        campaigns = with_store(list_campaigns)
        if as_json:
            print_json({"campaigns": campaigns})
        else:
            out.print(campaigns_table(campaigns))
        return
    data = with_store(lambda store: campaign_details(store, campaign_id))
    if as_json:
        print_json(data)
    else:
        out.print(status_view(data))


def _watch(campaign_id: str | None) -> None:
    """Redraw once a second (one Redis connection) until the campaign is done or cancelled."""
    import redis.asyncio as aioredis
    from rich.live import Live

    from dispatcher.monitor import campaign_details, list_campaigns
    from dispatcher.monitor.render import campaigns_table, status_view
    from dispatcher.store import JobStore

    conf = settings()

    async def run() -> None:
        client = aioredis.Redis.from_url(conf.redis_url)
        store = JobStore(client, conf.key_prefix)
        try:
            with Live(console=out, auto_refresh=False) as live:
                while True:
                    if campaign_id is None:
                        live.update(campaigns_table(await list_campaigns(store)), refresh=True)
                    else:
                        data = await campaign_details(store, campaign_id)
                        live.update(status_view(data), refresh=True)
                        if data["state"] in FINISHED:
                            return
                    await asyncio.sleep(1.0)
        except (aioredis.ConnectionError, OSError) as exc:
            raise ConfigError(f"cannot reach Redis at DISPATCHER_REDIS_URL: {exc}") from None
        finally:
            await client.aclose()

    asyncio.run(run())


@app.command("jobs")
def jobs(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    status_filter: Annotated[str | None, typer.Option("--status", help="only this status")] = None,
    limit: Annotated[int, typer.Option(help="jobs per page (max 1000)")] = 100,
    cursor: Annotated[int, typer.Option(help="continue after this job number")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """A page of a campaign's jobs; follow ``next_cursor`` with --cursor for more."""
    from dispatcher.monitor import list_jobs
    from dispatcher.monitor.render import jobs_table

    page = with_store(lambda store: list_jobs(store, campaign_id, status_filter, cursor, limit))
    if as_json:
        print_json(page)
        return
    out.print(jobs_table(page["jobs"]))
    if page["next_cursor"] is not None:
        out.print(f"more: --cursor {page['next_cursor']}")


@app.command("job")
def job(
    job_id: Annotated[str, typer.Argument(help="job id (<campaign>.<n>)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One job's whole story: attempts, errors, provider id, status changes with times."""
    from dispatcher.monitor import job_details
    from dispatcher.monitor.render import job_view

    data = with_store(lambda store: job_details(store, job_id))
    if as_json:
        print_json(data)
    else:
        out.print(job_view(data))


@app.command("export")
def export(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")]
    = None,
) -> None:
    """Every job of a campaign, streamed (CSV formula cells neutralised)."""
    from dispatcher.monitor import export_chunks
    from dispatcher.store import JobStore

    async def write(store: JobStore) -> int:
        rows = 0
        handle = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            async for chunk in export_chunks(store, campaign_id, fmt):
                handle.write(chunk)
                rows += chunk.count("\n")
        finally:
            if output:
                handle.close()
        return rows

    with_store(write)


def check_serve_access(host: str, token_set: bool, insecure_open: bool) -> None:
    """No token: refuse, unless --insecure-open and a loopback host."""
    if token_set:
        return
    if not insecure_open:
        raise ConfigError("DISPATCHER_API_TOKEN is not set; set it, or pass --insecure-open "
                          "to run without auth on a loopback address")
    if not is_loopback(host):
        raise ConfigError(f"--insecure-open only runs on a loopback address, not {host!r}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    insecure_open: Annotated[bool, typer.Option(
        "--insecure-open", help="run WITHOUT a token (loopback addresses only)")] = False,
) -> None:
    """The HTTP API, /metrics, the dashboard and the webhook receiver."""
    import uvicorn

    from dispatcher.api import create_app

    conf = settings()
    check_serve_access(host, conf.api_token is not None, insecure_open)
    out.print(f"serving on http://{host}:{port}/ (docs at /docs)", markup=False)
    uvicorn.run(create_app(conf, open_access=insecure_open and conf.api_token is None),
                host=host, port=port, log_level="warning", access_log=False)
