"""``dispatcher rate``: a sender's shared rate limit, read and changed at runtime."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatcher.cli.app import app, out, print_json, settings
from dispatcher.cli.redis_access import with_store
from dispatcher.ratelimit import RateInfo
from dispatcher.ratelimit.control import read_rate, write_rate
from dispatcher.store import JobStore


@app.command("rate")
def rate(
    sender: Annotated[str, typer.Argument(help="sender name (see config show)")],
    new_rate: Annotated[float | None, typer.Argument(help="new messages/s for every worker",
                                                     min=0.01, max=10_000)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show a sender's configured and current rate; with NEW_RATE, set it (workers obey
    within a second, no restart)."""
    conf = settings()
    conf.sender(sender)  # an unknown sender is a clear error

    async def action(store: JobStore) -> RateInfo:
        if new_rate is not None:
            await write_rate(store.redis, conf, sender, new_rate)
        return await read_rate(store.redis, conf, sender)

    info = with_store(action)
    if as_json:
        print_json({"sender": info.sender, "configured": info.configured,
                    "current": info.current, "paused_until": info.paused_until,
                    "burst": info.burst})
        return
    paused = f", paused until {info.paused_until:.1f}" if info.paused_until else ""
    out.print(f"{info.sender}: configured {info.configured:g}/s, current {info.current:g}/s "
              f"(burst {info.burst}){paused}")
