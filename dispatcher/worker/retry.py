"""When to try again: exponential backoff with full jitter, never sooner than ``Retry-After``."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_s: float, cap_s: float, retry_after_s: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    Full jitter (uniform between 0 and ``min(cap, base * 2**(attempt-1))``) spreads the retries of
    many jobs that failed together, so they don't come back as one wave. A provider's
    ``Retry-After`` is a floor, not a suggestion.
    """
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay
