"""Commands that run services on this machine: sandbox, worker, demo."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatcher.cli.app import app, out, settings


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


@app.command("demo")
def demo(
    messages: Annotated[int, typer.Option(help="recipients in the demo campaign", min=1,
                                          max=90_000)] = 3000,
    workers: Annotated[int, typer.Option(help="worker processes", min=1, max=16)] = 2,
    keep: Annotated[bool, typer.Option(
        "--keep", help="keep everything running after the summary, until Ctrl-C")] = False,
) -> None:
    """Run a demo campaign end to end: a private Redis, the sandbox provider (with faults and
    delivery webhooks), local workers and the HTTP service with its dashboard."""
    from dispatcher.demo import run_demo
    from dispatcher.localstack import Interrupted

    try:
        outcome = run_demo(messages, workers, keep, out)
    except Interrupted as stopped:
        out.print(f"{stopped}: stopped everything the demo started")
        raise typer.Exit(128 + stopped.signum) from None
    raise typer.Exit(0 if outcome.ok else 1)
