"""Scripted and random faults, and the Meta-style error bodies every refusal carries."""

from __future__ import annotations

import random
import uuid
from typing import Any

from dispatcher.sandbox.config import FaultRule

# Meta's codes for the refusals the sandbox makes on its own.
CODE_INVALID = 100
CODE_AUTH = 190
CODE_RATE = 130429
CODE_PAIR = 131056
CODE_UNAVAILABLE = 131016


def error_body(code: int | None, message: str, details: str | None = None) -> dict[str, Any]:
    """A Cloud-API-shaped error: ``{"error": {"message", "type", "code", ...}}``.

    With ``code`` None the body carries no code, so a client must fall back to the HTTP status.
    """
    text = message if code is None or message.startswith("(#") else f"(#{code}) {message}"
    error: dict[str, Any] = {"message": text, "type": "OAuthException"}
    if code is not None:
        error["code"] = code
    if details is not None:
        error["error_data"] = {"details": details}
    error["fbtrace_id"] = uuid.uuid4().hex[:23]
    return {"error": error}


class FaultBook:
    """The rules in force, hit in order; a rule with ``times`` retires after that many hits."""

    def __init__(self, rules: list[FaultRule], fail_rate: float, seed: int | None):
        self.rules: list[FaultRule] = list(rules)
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)

    def set_rules(self, rules: list[FaultRule]) -> None:
        self.rules = list(rules)

    def add_rules(self, rules: list[FaultRule]) -> None:
        self.rules.extend(rules)

    def clear(self) -> None:
        self.rules = []

    def match(self, to: str | None) -> FaultRule | None:
        """The first live rule for this recipient (digits, no '+'), counting the hit."""
        if not self.rules:
            return None
        for rule in self.rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.to is not None and rule.to != to:
                continue
            if rule.times is not None:
                rule.times -= 1
            return rule
        return None

    def random_failure(self) -> bool:
        """True for a ``fail_rate`` share of calls (repeatable with a seed)."""
        if self.fail_rate <= 0:
            return False
        return self.fail_rate >= 1 or self._rng.random() < self.fail_rate

    def jitter(self, jitter_ms: float) -> float:
        return self._rng.uniform(0.0, jitter_ms) if jitter_ms > 0 else 0.0
