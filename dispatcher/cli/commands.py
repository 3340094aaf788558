"""Commands that run services or talk to Redis: sandbox, worker, enqueue, status, requeue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import redis.asyncio as aioredis
import typer

from dispatcher.cli.app import app, err, out, print_json, settings
from dispatcher.errors import ConfigError
from dispatcher.store import JobStore, Status

T = TypeVar("T")


def with_store(action: Callable[[JobStore], Awaitable[T]]) -> T:
    """Run ``action`` with a store on the configured Redis; a dead Redis is one clear line."""
    conf = settings()

    async def run() -> T:
        client = aioredis.Redis.from_url(conf.redis_url)
        try:
            return await action(JobStore(client, conf.key_prefix))
        except (aioredis.ConnectionError, OSError) as exc:
            raise ConfigError(f"cannot reach Redis at DISPATCHER_REDIS_URL: {exc}") from None
        finally:
            await client.aclose()

    return asyncio.run(run())


@app.command("sandbox")
def sandbox(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8099,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option(help="answer after this many ms")] = 0.0,
    fail_rate: Annotated[float, typer.Option(help="fraction answered 503", min=0, max=1)] = 0.0,
    rate: Annotated[float | None, typer.Option(help="messages/s accepted per key")] = None,
    burst: Annotated[int, typer.Option(help="burst over the rate")] = 5,
    pair_interval: Annotated[float | None, typer.Option(help="seconds between two messages "
                                                        "to one recipient (131056)")] = None,
) -> None:
    """Run the sandbox provider: a local HTTP server speaking the BSP and Cloud API formats."""
    from dispatcher.sandbox import SandboxConfig, serve

    serve(SandboxConfig(host=host, port=port, latency_ms=latency_ms, fail_rate=fail_rate,
                        rate=rate, burst=burst, pair_interval_s=pair_interval))


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(help="batches in flight (threads)", min=1)] = 4,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Run a worker process: Celery thread pool, sends in flight on one asyncio loop."""
    settings()  # a bad setting fails here, in one line
    from dispatcher.worker import tasks

    tasks.app.worker_main(["worker", "-P", "threads", "-c", str(concurrency),
                            "--loglevel", loglevel, "--without-gossip", "--without-mingle",
                            "-n", "dispatcher-%i-%d@%h"])


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


@app.command("status")
def status(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show a campaign's state and its counts per status."""
    from dispatcher.campaigns import campaign_status

    data = with_store(lambda store: campaign_status(store, campaign_id))
    if as_json:
        print_json(data)
        return
    out.print(f"campaign {data['campaign_id']} ({data['name']}): {data['state']}"
              + (f" - {data['reason']}" if data["reason"] else ""))
    for key, value in data["counts"].items():
        out.print(f"  {key:<10} {value}")


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


@app.command("demo")
def demo(
    messages: Annotated[int, typer.Option(help="recipients in the demo campaign", min=1,
                                          max=90_000)] = 3000,
    workers: Annotated[int, typer.Option(help="worker processes", min=1, max=16)] = 2,
    keep: Annotated[bool, typer.Option("--keep", help="keep everything running")] = False,
) -> None:
    """Run a demo campaign end to end on a private Redis, the sandbox and local workers."""
    from dispatcher.demo import run_demo

    final = run_demo(messages, workers, keep, out)
    raise typer.Exit(0 if final["state"] == "done" else 1)
