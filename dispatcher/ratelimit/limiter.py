"""Shared per-sender rate limiter in Redis (GCRA), pair limit per recipient, and AIMD.

Every worker process on every host shares the same Redis keys, so the limit holds for the
sender as a whole. All timing decisions are made inside Lua scripts with Redis ``TIME``; host
clocks only measure how long to sleep.

Keys (``{sender}`` is a Redis Cluster hash tag, so all keys of one sender live on one slot)::

    <prefix>:rl:{sender}                  hash: configured, current, paused_until (+ AIMD stamps)
    <prefix>:rl:{sender}:gcra             GCRA theoretical arrival time (microseconds, PX)
    <prefix>:rl:{sender}:pair:<recipient> pair slot (PX = time until the next message may go)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NamedTuple, Protocol

from redis.asyncio import Redis

__all__ = ["AimdPolicy", "Limiter", "RateInfo", "RateLimiter", "Slot"]

# How many callers per process and sender may be turned away and come back at once. A granted
# caller leaves the gate before sleeping until its slot, so this bounds only the waiters that
# hold no slot: their come-back times are spaced at the *current* rate, so with hundreds of them
# a rate increase would reach the sender only after they all came back (seconds at 40/s).
GATE_WIDTH = 4
# How late after its slot (in the sender's intervals, and at least in seconds: event-loop timers
# are ms-grained) a request may still start (Slot.leave_by) and have its first byte written
# (Slot.write_by). A request later than that would reach the provider in a bunch with those of
# the next slots. With a burst of 1, writes then stay within about 3 intervals of a schedule at
# the rate, inside the 4 intervals a provider that allows a burst of 5 tolerates; measured at
# 1,000/s with the sandbox judging arrivals by the kernel's stamps (benchmarks/bench_ratelimit.py).
# Slots get deadlines only at rates up to 2,000/s per sender (an interval of at least 0.5 ms;
# no WhatsApp number allows more than 1,000/s): event-loop timers are ms-grained, so above that
# a deadline of a few intervals can't be kept, and workers too busy to keep theirs would only
# spend their CPU taking slot after slot (benchmarks/bench_pipeline.py at 10,000/s: 1,066
# instead of 1,670 messages/s).
DEADLINE_MIN_INTERVAL_S = 0.0005
LATE_TOLERANCE_INTERVALS = 2.0
LATE_TOLERANCE_MIN_S = 0.002
WRITE_TOLERANCE_INTERVALS = 3.0
WRITE_TOLERANCE_MIN_S = 0.003
CALIBRATION_READS = 8
# The recipient's pair slot is taken with the claim, up to a few ms before the request is
# written (the worker claims ahead of its slot): held this much over the interval, so two
# messages to one number never reach the provider closer than the interval.
PAIR_MARGIN_MS = 50
RECIPIENT_BACKOFF_BASE = 4.0
RECIPIENT_BACKOFF_CAP_S = 64.0
_US = 1_000_000


def _lua(name: str) -> str:
    return resources.files(__package__ or "dispatcher.ratelimit").joinpath(name).read_text("utf-8")


_GCRA_LUA = _lua("gcra.lua")
_PAIR_LUA = _lua("pair.lua")
_THROTTLED_LUA = _lua("throttled.lua")
_RECOVER_LUA = _lua("recover.lua")


class Slot(NamedTuple):
    """A reserved send slot, on this process's ``time.monotonic()`` clock."""

    due: float  # the moment it comes
    leave_by: float  # the latest moment the request may still be started
    write_by: float  # the latest moment its first byte may still be written


@dataclass(frozen=True, slots=True)
class RateInfo:
    """A sender's rate as every worker sees it (rates in messages per second)."""

    sender: str
    configured: float
    current: float
    paused_until: float | None  # Unix seconds by the Redis clock; None when not paused
    burst: int


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    """How the shared rate reacts to throttling (decrease) and clean answers (increase).

    Halving by default: a sender whose real limit is far below the configured one (a number
    shared with the Business app: 20/s) gets there in two or three cuts. A gentler cut (0.7,
    CUBIC's) costs less throughput after an isolated 429 but about twice the 429s on the way
    down (measured: 245 instead of ~120 at 3x the real limit, tests/test_ratelimit_e2e.py).
    """

    decrease_factor: float = 0.5
    min_rate: float = 1.0
    decrease_window_s: float = 1.0  # at most one decrease per window, across all workers
    increase_fraction: float = 0.05  # per second, as a fraction of configured ...
    increase_min: float = 1.0  # ... but at least this many messages/s per second
    report_interval_s: float = 1.0  # each process reports clean answers at most this often
    max_credit_s: float = 2.0  # most seconds of recovery one report may credit


class Limiter(Protocol):
    """The interface the worker depends on; :class:`RateLimiter` is the Redis implementation."""

    async def reserve(self, sender: str, early_s: float = 0.0) -> Slot: ...

    def pair_key(self, sender: str, recipient: str) -> str: ...

    async def hold_pair(self, sender: str, recipient: str) -> None: ...

    async def release_pair(self, sender: str, recipient: str) -> None: ...

    @property
    def pair_interval_ms(self) -> int: ...

    async def on_throttled(self, sender: str, retry_after: float | None) -> None: ...

    async def on_success(self, sender: str) -> None: ...

    async def on_recipient_throttled(self, sender: str, recipient: str, attempt: int) -> float: ...


class _RedisClock:
    """Maps Redis ``TIME`` to this process's monotonic clock, erring late, never early.

    A reply computed at Redis time ``r`` and read locally at ``t_recv`` proves
    ``offset >= r - t_recv`` (the script ran before the reply was read). The largest such
    bound of the last one to two seconds is the tightest fresh estimate. Sleeping until
    ``slot - offset_estimate`` is then never before the slot, and is not stretched by a reply
    that sat unread while the event loop was busy (which would bunch grants together).
    """

    __slots__ = ("_best", "_previous", "_window_start")

    WINDOW_S = 1.0

    def __init__(self) -> None:
        self._best = -math.inf
        self._previous = -math.inf
        self._window_start = -math.inf

    def observe(self, redis_now: float, t_recv: float) -> None:
        if t_recv - self._window_start >= self.WINDOW_S:
            self._previous, self._best, self._window_start = self._best, -math.inf, t_recv
        self._best = max(self._best, redis_now - t_recv)

    def to_local(self, redis_t: float) -> float:
        return redis_t - max(self._best, self._previous)


@dataclass(slots=True)
class _LocalState:
    """Per-process knowledge of one sender (its Redis node's clock, AIMD reporting)."""

    clock: _RedisClock = field(default_factory=_RedisClock)
    degraded: bool | None = None  # None: not known yet in this process
    # Callers of this process that may ask Redis at once; the others wait here, for free.
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(GATE_WIDTH))
    last_report: float = -math.inf
    calibrated: bool = False


def _check_rate(rate: float, what: str) -> float:
    rate = float(rate)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {rate!r}")
    return rate


class RateLimiter:
    """Redis-backed limiter shared by all worker processes of all hosts.

    ``acquire`` reserves the caller's GCRA slot in one EVALSHA and sleeps until it comes, so
    concurrent callers are spaced exactly ``1/rate`` apart without retrying. A slot is never
    reserved more than ``max_reserve_s`` ahead, so a rate cut or a pause reaches every caller
    within that time; past the cap the script answers "come back after X".
    """

    def __init__(
        self,
        redis: Redis,
        *,
        default_rate: float = 80.0,
        burst: int = 5,
        pair_interval_s: float = 6.0,
        key_prefix: str = "dispatcher",
        max_reserve_s: float = 1.0,
        aimd: AimdPolicy | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        if not pair_interval_s > 0:
            raise ValueError(f"pair_interval_s must be > 0, got {pair_interval_s!r}")
        if not max_reserve_s > 0:
            raise ValueError(f"max_reserve_s must be > 0, got {max_reserve_s!r}")
        self._redis = redis
        self._default_rate = _check_rate(default_rate, "default_rate")
        # Per-sender defaults (from the settings): used until someone sets a rate in Redis.
        self._rates = {name: _check_rate(r, f"rate of {name}") for name, r in (rates or {}).items()}
        self._burst = int(burst)
        self._pair_interval_ms = max(1, round(pair_interval_s * 1000)) + PAIR_MARGIN_MS
        self._prefix = key_prefix
        self._cap_us = max(1, round(max_reserve_s * _US))
        self._aimd = aimd or AimdPolicy()
        self._local: dict[str, _LocalState] = {}
        self._gcra = redis.register_script(_GCRA_LUA)
        self._pair = redis.register_script(_PAIR_LUA)
        self._throttled = redis.register_script(_THROTTLED_LUA)
        self._recover = redis.register_script(_RECOVER_LUA)
        # KEYS[1] only routes the call to the sender's node (Redis Cluster).
        self._clock_read = redis.register_script("return redis.call('TIME')")

    async def load_scripts(self) -> None:
        """Load the Lua scripts now (optional, e.g. at worker start).

        Without it the first call of each script pays one NOSCRIPT reply and a SCRIPT LOAD.
        """
        for script in (self._gcra, self._pair, self._throttled, self._recover, self._clock_read):
            script.sha = await self._redis.script_load(script.script)

    # -- keys ---------------------------------------------------------------------------------

    def _config_key(self, sender: str) -> str:
        if not sender:
            raise ValueError("sender must be a non-empty string")
        return f"{self._prefix}:rl:{{{sender}}}"

    def _gcra_key(self, sender: str) -> str:
        return f"{self._config_key(sender)}:gcra"

    def pair_key(self, sender: str, recipient: str) -> str:
        """The recipient's pair slot key (its TTL: how long until the next message may go)."""
        if not recipient:
            raise ValueError("recipient must be a non-empty string")
        return f"{self._config_key(sender)}:pair:{recipient}"

    @property
    def pair_interval_ms(self) -> int:
        return self._pair_interval_ms

    def _default_for(self, sender: str) -> float:
        return self._rates.get(sender, self._default_rate)

    def _state(self, sender: str) -> _LocalState:
        state = self._local.get(sender)
        if state is None:
            state = self._local[sender] = _LocalState()
        return state

    # -- sender limit -------------------------------------------------------------------------

    async def acquire(self, sender: str) -> float:
        """Wait until the sender may send one message; return the seconds waited."""
        start = time.monotonic()
        await self.reserve(sender)
        return time.monotonic() - start

    async def reserve(self, sender: str, early_s: float = 0.0) -> Slot:
        """Wait for the sender's next slot (until ``early_s`` before it) and return it.

        One round trip per grant in the common case. When no slot can be reserved within the
        cap (or the sender is paused), the script says when to come back; callers turned away
        together are told different times, one interval apart, so a crowd of waiters costs
        about one extra round trip per grant. A caller cancelled while sleeping on a reserved
        slot wastes that slot (throughput, never the limit).

        A request written after ``Slot.leave_by`` would arrive in a bunch with the requests of
        the next slots and overrun the provider's own bucket: a caller that finds itself past
        it (here on waking, or the worker right before writing) takes a new slot instead.
        Above 2,000/s (``DEADLINE_MIN_INTERVAL_S``) slots come with no deadline (``math.inf``).
        """
        keys = (self._config_key(sender), self._gcra_key(sender))
        args = (repr(self._default_for(sender)), self._burst, self._cap_us)
        state = self._state(sender)
        if not state.calibrated:
            await self._calibrate(keys[0], state)
        while True:
            due, interval_s = await self._reserve(sender, keys, args, state)
            # time.monotonic, not loop.time(): uvloop's loop time is cached per iteration, in ms.
            await asyncio.sleep(max(0.0, due - early_s - time.monotonic()))
            if interval_s < DEADLINE_MIN_INTERVAL_S:  # too fast to keep deadlines (see the top)
                return Slot(due, math.inf, math.inf)
            leave_by = due + max(LATE_TOLERANCE_INTERVALS * interval_s, LATE_TOLERANCE_MIN_S)
            if time.monotonic() <= leave_by:  # else woken too late (a busy loop, a stall)
                write_by = due + max(WRITE_TOLERANCE_INTERVALS * interval_s,
                                     WRITE_TOLERANCE_MIN_S)
                return Slot(due, leave_by, write_by)

    async def _calibrate(self, config_key: str, state: _LocalState) -> None:
        """Read the sender's Redis clock a few times before the first slot.

        The first grants of a cold process come back slowly, and a clock estimate made from
        them alone errs late by as much; when it then tightens, this process's next slots
        move earlier by the difference, into the slots of the others (a bunch).
        """
        state.calibrated = True
        for _ in range(CALIBRATION_READS):
            seconds, microseconds = await self._clock_read(keys=(config_key,))
            state.clock.observe(int(seconds) + int(microseconds) / _US, time.monotonic())

    async def _reserve(self, sender: str, keys: tuple[str, str], args: tuple[str, int, int],
                       state: _LocalState) -> tuple[float, float]:
        """Reserve a slot: (local monotonic time it comes, the sender's interval in s)."""
        async with state.gate:
            while True:
                granted, wait_us, degraded, now_us, interval_us = _ints(
                    await self._gcra(keys=keys, args=args))
                t_recv = time.monotonic()
                state.degraded = bool(degraded)
                state.clock.observe(now_us / _US, t_recv)
                # Sleep until the moment named (Redis clock), at most wait_us from now.
                due = state.clock.to_local((now_us + wait_us) / _US)
                if granted:
                    return due, interval_us / _US
                await asyncio.sleep(max(0.0, due - time.monotonic()))

    # -- pair limit ---------------------------------------------------------------------------

    async def try_pair(self, sender: str, recipient: str) -> float:
        """Take the recipient's pair slot now (0.0) or say how many seconds until it is free.

        Nothing is taken when the answer is > 0. The worker does not call this: its claim
        script checks and takes the same key (``pair_key``, held ``pair_interval_ms``) in the
        claim's own round trip.
        """
        key = self.pair_key(sender, recipient)
        wait_ms = int(await self._pair(keys=(key,), args=(self._pair_interval_ms,)))
        return wait_ms / 1000.0

    async def hold_pair(self, sender: str, recipient: str) -> None:
        """Take the recipient's pair slot again from now (the send was delayed after the claim
        took it: a missed rate-limit slot)."""
        await self._set_pair(sender, recipient, self._pair_interval_ms)

    async def _set_pair(self, sender: str, recipient: str, hold_ms: int) -> None:
        await self._redis.set(self.pair_key(sender, recipient), b"1", px=hold_ms)

    async def release_pair(self, sender: str, recipient: str) -> None:
        """Give the recipient's pair slot back: the provider refused the message outright (5xx,
        429, a 4xx), so nothing reached the recipient and a retry need not wait 6 s for it."""
        await self._redis.delete(self.pair_key(sender, recipient))

    async def on_recipient_throttled(self, sender: str, recipient: str, attempt: int) -> float:
        """Back off one recipient after a pair-limit answer (131056): 1, 4, 16, 64 s ...

        ``attempt`` counts from 1. The pair key is set to expire after exactly the delay
        (replacing the slot the failed send took), so ``try_pair`` answers the same delay.
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt!r}")
        exponent = min(attempt - 1, 32)  # 4**32 s is far past any cap; avoids float overflow
        delay = min(RECIPIENT_BACKOFF_BASE**exponent, RECIPIENT_BACKOFF_CAP_S)
        await self._set_pair(sender, recipient, round(delay * 1000))
        return delay

    # -- adaptive rate ------------------------------------------------------------------------

    async def on_throttled(self, sender: str, retry_after: float | None) -> None:
        """The provider throttled the sender: cut its shared rate and obey ``Retry-After``.

        The script allows one decrease per ``decrease_window_s`` across all workers, so the
        429s of requests already in flight don't cut the rate again and again. A pause
        (``paused_until``) makes every worker's next ``acquire`` wait.
        """
        if retry_after is not None and not (math.isfinite(retry_after) and retry_after >= 0):
            raise ValueError(f"retry_after must be a finite number >= 0, got {retry_after!r}")
        policy = self._aimd
        await self._throttled(
            keys=(self._config_key(sender),),
            args=(
                repr(self._default_for(sender)),
                repr(policy.decrease_factor),
                repr(policy.min_rate),
                repr(policy.decrease_window_s),
                repr(-1.0 if retry_after is None else float(retry_after)),
            ),
        )
        self._state(sender).degraded = True

    async def on_success(self, sender: str) -> None:
        """A clean answer: climb back towards the configured rate (additive increase).

        Aggregated locally: Redis is called at most once per ``report_interval_s`` per process
        and sender, and not at all while the last answer from Redis said the rate is full.
        """
        state = self._state(sender)
        if state.degraded is False:
            return
        now = time.monotonic()
        if now - state.last_report < self._aimd.report_interval_s:
            return
        state.last_report = now  # before the await: concurrent callers don't report twice
        policy = self._aimd
        still_low = await self._recover(
            keys=(self._config_key(sender),),
            args=(
                repr(self._default_for(sender)),
                repr(policy.increase_fraction),
                repr(policy.increase_min),
                repr(policy.max_credit_s),
            ),
        )
        state.degraded = bool(int(still_low))

    # -- runtime control ----------------------------------------------------------------------

    async def set_rate(self, sender: str, rate: float) -> None:
        """Set the sender's configured and current rate; every worker uses it on its next call."""
        rate = _check_rate(rate, "rate")
        value = repr(rate)
        await self._redis.hset(
            self._config_key(sender), mapping={"configured": value, "current": value}
        )
        self._state(sender).degraded = False

    async def get_rate(self, sender: str) -> RateInfo:
        """Read the sender's rate as the scripts see it (defaults filled in)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._config_key(sender), ["configured", "current", "paused_until"])
            pipe.time()
            (configured_raw, current_raw, paused_raw), (sec, usec) = await pipe.execute()
        configured = _float_or(configured_raw, self._default_for(sender))
        current = min(_float_or(current_raw, configured), configured)
        paused = _float_or(paused_raw, 0.0)
        now = int(sec) + int(usec) / _US
        return RateInfo(
            sender=sender,
            configured=configured,
            current=current,
            paused_until=paused if paused > now else None,
            burst=self._burst,
        )


def _ints(reply: Any) -> tuple[int, int, int, int, int]:
    a, b, c, d = reply[:4]
    return int(a), int(b), int(c), int(d), int(reply[4]) if len(reply) > 4 else 0


def _float_or(raw: Any, default: float) -> float:
    return default if raw is None else float(raw)
