"""Settings of the sandbox provider, and the fault rules it can be told to apply."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

FaultMode = Literal["answer", "hang", "drop"]
FAULT_MODES: tuple[str, ...] = ("answer", "hang", "drop")

# Fields that ``POST /_sandbox/config`` may change while the server runs.
RUNTIME_FIELDS: frozenset[str] = frozenset(
    {
        "rate",
        "burst",
        "fail_rate",
        "latency_ms",
        "jitter_ms",
        "pair_interval_s",
        "honor_idempotency",
        "delivered_rate",
        "read_rate",
        "failed_rate",
        "reply_rate",
        "callback_delay_ms",
        "callback_duplicate_rate",
    }
)


class ConfigValueError(ValueError):
    """A setting out of range or of the wrong type (the message names the field)."""


@dataclass(slots=True)
class FaultRule:
    """One scripted answer: requests to ``to`` (any recipient when None) get this fault.

    ``answer`` replies with ``status`` and a Meta-style error body; ``hang`` reads the request and
    never answers before ``SandboxConfig.hang_s`` (a client read timeout); ``drop`` reads the
    request and closes the connection without a response. With ``accept`` the message is recorded
    as accepted first (the provider got it, only the answer was lost): the ambiguous outcome.
    ``times`` caps how many requests the rule hits (None: every matching request).
    """

    to: str | None = None
    status: int = 400
    code: int | None = None
    message: str = "Sandbox fault"
    times: int | None = None
    retry_after: float | None = None
    mode: FaultMode = "answer"
    accept: bool = False

    @classmethod
    def from_dict(cls, raw: Any) -> FaultRule:
        if not isinstance(raw, dict):
            raise ConfigValueError("a fault rule must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigValueError(f"unknown fault rule field(s): {', '.join(unknown)}")
        rule = cls(**raw)
        rule.check()
        return rule

    def check(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ConfigValueError(f"fault mode must be one of {', '.join(FAULT_MODES)}")
        if self.to is not None:
            if not isinstance(self.to, str):
                raise ConfigValueError("fault 'to' must be a string of digits or null")
            self.to = self.to.lstrip("+")
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ConfigValueError("fault 'status' must be an HTTP status code")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 0):
            raise ConfigValueError("fault 'times' must be null or a non-negative integer")
        if self.retry_after is not None and not _is_number(self.retry_after, minimum=0):
            raise ConfigValueError("fault 'retry_after' must be null or seconds >= 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SandboxConfig:
    """Everything the sandbox does, set at start and (``RUNTIME_FIELDS``) while it runs."""

    host: str = "127.0.0.1"
    port: int = 8700
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    rate: float | None = None
    burst: int = 5
    pair_interval_s: float | None = None
    api_key: str | None = field(default=None, repr=False)
    seed: int | None = None
    faults: list[FaultRule] = field(default_factory=list)
    hang_s: float = 120.0
    honor_idempotency: bool = False
    strict_to: bool = True
    keep_messages: int = 1_000_000  # accepted messages listed by /_sandbox/messages (0: none)
    # Status webhooks (callbacks.py).
    callback_url: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    delivered_rate: float = 1.0
    read_rate: float = 0.5
    failed_rate: float = 0.0
    reply_rate: float = 0.0
    callback_delay_ms: float = 20.0
    callback_duplicate_rate: float = 0.0
    callback_batch: int = 100
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550783881"
    waba_id: str = "102290129340398"

    def __post_init__(self) -> None:
        self.faults = [
            r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in self.faults
        ]
        self.check()

    def check(self) -> None:
        """Refuse values the server can't honour, naming the field."""
        for name in ("fail_rate", "delivered_rate", "read_rate", "failed_rate", "reply_rate",
                     "callback_duplicate_rate"):
            value = getattr(self, name)
            if not _is_number(value, minimum=0) or value > 1:
                raise ConfigValueError(f"{name} must be between 0 and 1")
        for name in ("latency_ms", "jitter_ms", "hang_s", "callback_delay_ms"):
            if not _is_number(getattr(self, name), minimum=0):
                raise ConfigValueError(f"{name} must be a number >= 0")
        if self.rate is not None and (not _is_number(self.rate) or self.rate <= 0):
            raise ConfigValueError("rate must be a number > 0, or null for unlimited")
        if self.pair_interval_s is not None and (
            not _is_number(self.pair_interval_s) or self.pair_interval_s <= 0
        ):
            raise ConfigValueError("pair_interval_s must be a number > 0, or null")
        for name, least in (("burst", 1), ("callback_batch", 1), ("keep_messages", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigValueError(f"{name} must be an integer >= {least}")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigValueError("port must be an integer between 0 and 65535")

    def update(self, changes: Any) -> list[str]:
        """Apply a partial update (a JSON object); all or nothing. Returns the changed names."""
        if not isinstance(changes, dict):
            raise ConfigValueError("the config update must be a JSON object")
        unknown = sorted(set(changes) - RUNTIME_FIELDS)
        if unknown:
            raise ConfigValueError(f"not changeable at runtime: {', '.join(unknown)}")
        backup = {name: getattr(self, name) for name in changes}
        for name, value in changes.items():
            setattr(self, name, value)
        try:
            self.check()
        except ConfigValueError:
            for name, value in backup.items():
                setattr(self, name, value)
            raise
        return sorted(changes)

    def public_dict(self) -> dict[str, Any]:
        """The settings without secrets (api_key and app_secret show only whether they're set)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["faults"] = [rule.as_dict() for rule in self.faults]
        out["api_key"] = "<set>" if self.api_key else None
        out["app_secret"] = "<set>" if self.app_secret else None
        return out


def _is_number(value: Any, minimum: float | None = None) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value):
        return False
    return minimum is None or value >= minimum


def config_from_dict(values: Any) -> SandboxConfig:
    """A SandboxConfig from a JSON object, refusing unknown fields by name."""
    if not isinstance(values, dict):
        raise ConfigValueError("the sandbox config must be a JSON object")
    unknown = sorted(set(values) - {f.name for f in fields(SandboxConfig)})
    if unknown:
        raise ConfigValueError(f"unknown sandbox setting(s): {', '.join(unknown)}")
    try:
        return SandboxConfig(**values)
    except TypeError as exc:
        raise ConfigValueError(str(exc)) from None


def config_to_dict(config: SandboxConfig) -> dict[str, Any]:
    """The inverse of config_from_dict (secrets included: don't log it)."""
    out = {f.name: getattr(config, f.name) for f in fields(config)}
    out["faults"] = [rule.as_dict() for rule in config.faults]
    return out
