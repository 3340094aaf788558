"""What the sandbox saw: every accepted message, duplicates two ways, rejections, rates."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

PER_SECOND_WINDOW = 600  # seconds of per-second counts kept


def sender_id(api_key: str | None) -> str:
    """A stable, non-secret name for a sender: a short hash of its API key."""
    if not api_key:
        return "anonymous"
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Accepted:
    key: str | None
    to: str
    message_id: str
    time: float
    format: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "to": self.to,
            "message_id": self.message_id,
            "time": self.time,
            "format": self.format,
        }


class Stats:
    """Counters for ``GET /_sandbox/stats``; everything lives in memory until reset."""

    def __init__(self, keep_messages: int = 1_000_000):
        self.keep_messages = keep_messages
        self.reset()

    def reset(self) -> None:
        self.started_at = time.time()
        self.received = 0
        # Requests that arrived within 0.1 ms of the one before (by the kernel's stamps).
        self.arrivals_bunched = 0
        # 429s the limit would have answered judged by this loop's clock instead (not sent).
        self.throttled_by_loop_clock = 0
        self._last_arrival = 0.0
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.rejected_codes: Counter[str] = Counter()
        self.dropped = 0
        self.hung = 0
        self.deduplicated = 0
        self.key_counts: dict[str, int] = {}
        self.key_ids: dict[str, str] = {}
        self.duplicates_by_key = 0
        self.pair_counts: dict[bytes, int] = {}
        self.duplicates_by_recipient = 0
        self.per_second: dict[int, int] = {}
        self.throttled_per_second: Counter[int] = Counter()  # 429s by second, to see when
        self.max_per_second = 0
        self.by_sender: Counter[str] = Counter()
        self.messages: list[Accepted] = []
        self.messages_not_kept = 0
        self.callbacks_sent = 0
        self.callbacks_failed = 0
        self._last_second = 0

    def arrive(self, arrived: float) -> None:
        if abs(arrived - self._last_arrival) < 0.0001:
            self.arrivals_bunched += 1
        self._last_arrival = arrived
        self.received += 1

    def reject(self, status: int, code: int | None) -> None:
        self.rejected[str(status)] += 1
        if status == 429:
            self.throttled_per_second[int(time.time())] += 1
        if code is not None:
            self.rejected_codes[str(code)] += 1

    def first_id_for(self, key: str | None) -> str | None:
        """The message id already given for this Idempotency-Key, if any."""
        return self.key_ids.get(key) if key is not None else None

    def accept(self, *, key: str | None, to: str, message_id: str, body: bytes, sender: str,
               fmt: str) -> None:
        """Record one accepted message. ``body`` is the canonical interactive block."""
        now = time.time()
        self.accepted += 1
        self.by_sender[sender] += 1
        if key is not None:
            seen = self.key_counts.get(key, 0)
            if seen:
                self.duplicates_by_key += 1
            else:
                self.key_ids[key] = message_id
            self.key_counts[key] = seen + 1
        pair = hashlib.blake2b(to.encode() + b"\0" + body, digest_size=16).digest()
        seen = self.pair_counts.get(pair, 0)
        if seen:
            self.duplicates_by_recipient += 1
        self.pair_counts[pair] = seen + 1
        self._count_second(int(now))
        if len(self.messages) < self.keep_messages:
            self.messages.append(Accepted(key, to, message_id, now, fmt))
        else:
            self.messages_not_kept += 1

    def _count_second(self, second: int) -> None:
        count = self.per_second.get(second, 0) + 1
        self.per_second[second] = count
        self.max_per_second = max(self.max_per_second, count)
        if second != self._last_second:
            self._last_second = second
            cutoff = second - PER_SECOND_WINDOW
            for old in [s for s in self.per_second if s < cutoff]:
                del self.per_second[old]

    def snapshot(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "arrivals_bunched": self.arrivals_bunched,
            "throttled_by_loop_clock": self.throttled_by_loop_clock,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "rejected_by_code": dict(self.rejected_codes),
            "dropped": self.dropped,
            "hung": self.hung,
            "deduplicated": self.deduplicated,
            "duplicates_by_key": self.duplicates_by_key,
            "duplicates_by_recipient": self.duplicates_by_recipient,
            "unique_keys": len(self.key_counts),
            "unique_recipient_messages": len(self.pair_counts),
            "per_second": {str(s): n for s, n in sorted(self.per_second.items())},
            "max_per_second": self.max_per_second,
            "throttled_per_second": {str(s): n for s, n in
                                     sorted(self.throttled_per_second.items())},
            "by_sender": dict(self.by_sender),
            "messages_not_kept": self.messages_not_kept,
            "callbacks_sent": self.callbacks_sent,
            "callbacks_failed": self.callbacks_failed,
            "started_at": self.started_at,
        }

    def page(self, limit: int, offset: int) -> dict[str, Any]:
        chunk = self.messages[offset : offset + limit]
        return {
            "total": len(self.messages),
            "offset": offset,
            "messages": [m.as_dict() for m in chunk],
        }
