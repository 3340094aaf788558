"""The provider's throughput limits: a token bucket per sender, and the per-recipient pair limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class SenderBuckets:
    """One token bucket per sender key: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float | None, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # sender -> (tokens, last refill)

    def configure(self, rate: float | None, burst: int) -> None:
        """Change the limit; buckets start full again so the new rate applies at once."""
        self.rate = rate
        self.burst = burst
        self._buckets.clear()

    def take(self, sender: str, now: float | None = None) -> float | None:
        """Take one token: None when granted, else the seconds until one is available.

        ``now`` is when the request arrived (default: the clock now). Requests read in one pass
        may be judged out of arrival order: an earlier one then refills nothing, which ends in
        the same bucket as judging them in order.
        """
        if self.rate is None:
            return None
        if now is None:
            now = self._clock()
        tokens, last = self._buckets.get(sender, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
        now = max(now, last)
        if tokens >= 1.0:
            self._buckets[sender] = (tokens - 1.0, now)
            return None
        self._buckets[sender] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def clear(self) -> None:
        self._buckets.clear()


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` is whole seconds: round up, never 0 (0 invites an immediate retry storm)."""
    return str(max(1, math.ceil(wait_s)))


class PairLimiter:
    """At most one accepted message per recipient every ``interval`` seconds (Meta's 131056)."""

    def __init__(self, interval: float | None, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def blocked(self, recipient: str, now: float | None = None) -> float | None:
        """Seconds the recipient still has to wait, or None when a message may go now.

        ``now``: when the request arrived (default: the clock now)."""
        if self.interval is None:
            return None
        last = self._last.get(recipient)
        if last is None:
            return None
        wait = last + self.interval - (self._clock() if now is None else now)
        return wait if wait > 0 else None

    def record(self, recipient: str, now: float | None = None) -> None:
        if self.interval is not None:
            self._last[recipient] = self._clock() if now is None else now

    def clear(self) -> None:
        self._last.clear()
