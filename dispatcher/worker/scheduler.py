"""Campaigns scheduled for later (``send_at``): started when due, by whichever worker looks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.worker.runtime import Runtime

POLL_S = 1.0


async def activate_due_once(rt: Runtime) -> bool:
    """Start the scheduled campaigns whose time has come; True when there may be more."""
    return False
