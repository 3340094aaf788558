"""Monitoring commands: status."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatcher.cli.app import app, out, print_json
from dispatcher.cli.redis_access import with_store


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
