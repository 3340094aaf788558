"""Shared rate limiter against a real redis-server (fixture ``redis_url`` from conftest).

Timing tests record grant times with the host clock; the limiter itself only uses Redis TIME.
Each test uses its own sender names, so no flush is needed.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import multiprocessing as mp
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis

from dispatcher.ratelimit import AimdPolicy, RateInfo, RateLimiter
from dispatcher.ratelimit.limiter import CALIBRATION_READS, PAIR_MARGIN_MS


def _sender() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class CountingRedis(Redis):
    """Counts commands sent, to check how many round trips an operation costs."""

    calls = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.calls += 1
        return await super().execute_command(*args, **options)


@asynccontextmanager
async def limiter(url: str, **kwargs: Any) -> AsyncIterator[RateLimiter]:
    client = Redis.from_url(url)
    try:
        yield RateLimiter(client, **kwargs)
    finally:
        await client.aclose()


async def _take_until(
    lim: RateLimiter, sender: str, deadline: float, times: list[float], clock: Callable[[], float]
) -> None:
    """One caller: take tokens until the deadline, recording when each grant came."""
    while clock() < deadline:
        await lim.acquire(sender)
        times.append(clock())


def _in(times: list[float], start: float, end: float) -> list[float]:
    return sorted(t for t in times if start <= t < end)


def _ahead_of_schedule(times: list[float], rate: float, burst: int) -> list[int]:
    """Grants (sorted, seconds from a start before the first call) earlier than GCRA allows.

    The k-th grant may come at (k - burst + 1) / rate at the earliest. Grants may be late
    (a busy event loop), and late ones may then sit close together, so gaps alone prove little.
    """
    tolerance = 0.002  # timer resolution (uvloop: 1 ms) and the Redis-clock estimate
    return [k for k, t in enumerate(sorted(times)) if t < (k - burst + 1) / rate - tolerance]


def _max_per_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


# -- (a) one process ---------------------------------------------------------------------------


def test_single_process_rate_and_spacing(redis_url: str) -> None:
    rate, burst, duration = 50.0, 5, 2.0

    async def main() -> list[float]:
        times: list[float] = []
        async with limiter(redis_url, default_rate=rate, burst=burst) as lim:
            start = time.monotonic()
            await asyncio.gather(
                *(
                    _take_until(lim, sender, start + duration, times, time.monotonic)
                    for _ in range(10)
                )
            )
        return [t - start for t in times]

    sender = _sender()
    times = _in(run(main()), 0.0, duration)
    assert burst + rate * duration * 0.9 <= len(times) <= burst + rate * duration + 2
    gaps = [b - a for a, b in itertools.pairwise(times[burst:])]
    gaps.sort()
    assert 0.018 <= gaps[len(gaps) // 2] <= 0.022  # median spacing = 1/rate
    assert not _ahead_of_schedule(times, rate, burst)
    assert _max_per_window(times) <= rate + burst + 2


# -- (b) several OS processes ------------------------------------------------------------------


def _child(
    url: str,
    sender: str,
    rate: float,
    duration: float,
    ready: Any,
    go: Any,
    start_at: Any,
    out: Any,
) -> None:
    async def main() -> list[float]:
        times: list[float] = []
        async with limiter(url, default_rate=rate) as lim:
            await lim.get_rate(sender)  # connect before the start signal
            ready.put(1)
            await asyncio.to_thread(go.wait)
            deadline = start_at.value + duration
            await asyncio.gather(
                *(_take_until(lim, sender, deadline, times, time.time) for _ in range(25))
            )
        return times

    out.put(asyncio.run(main()))


def test_several_processes_share_the_limit(redis_url: str) -> None:
    rate, burst, duration, nproc = 100.0, 5, 3.0, 4
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    sender = _sender()
    procs = [
        ctx.Process(
            target=_child, args=(redis_url, sender, rate, duration, ready, go, start_at, out)
        )
        for _ in range(nproc)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=30)
        start_at.value = time.time()
        go.set()
        results = [out.get(timeout=30) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert all(len(r) > 0 for r in results), "every process must get tokens"
    start = start_at.value
    times = _in([t for r in results for t in r], start, start + duration)
    assert rate * duration * 0.85 <= len(times) <= rate * duration + burst + 5
    assert _max_per_window(times) <= rate + burst + 3


# -- (c) runtime rate change -------------------------------------------------------------------


def test_set_rate_applies_within_a_second(redis_url: str) -> None:
    sender = _sender()

    async def main() -> tuple[list[float], float, float]:
        times: list[float] = []
        async with limiter(redis_url, default_rate=20.0) as lim, limiter(redis_url) as operator:
            start = time.monotonic()
            callers = asyncio.gather(
                *(_take_until(lim, sender, start + 5.0, times, time.monotonic) for _ in range(20))
            )
            await asyncio.sleep(1.0)
            raised = time.monotonic()
            await operator.set_rate(sender, 200.0)  # another "worker" changes it
            await asyncio.sleep(2.0)
            cut = time.monotonic()
            await operator.set_rate(sender, 20.0)
            await callers
            info = await lim.get_rate(sender)
        assert info.configured == info.current == 20.0
        return times, raised, cut

    times, raised, cut = run(main())
    after_raise = _in(times, raised + 1.0, raised + 2.0)
    assert len(after_raise) >= 150, "raise to 200/s not applied within 1 s"
    after_cut = _in(times, cut + 1.0, cut + 2.0)
    assert len(after_cut) <= 20 + 3, "cut to 20/s not applied within 1 s"
    assert len(after_cut) >= 15


def test_crowd_of_waiters_reserves_within_cap_and_queues_cheaply(redis_url: str) -> None:
    """40 callers at once, 40/s, burst 1, cap 0.5 s: ~21 reserve, the rest come back in turn."""
    sender, rate, callers = _sender(), 40.0, 40

    async def main() -> tuple[float, list[float], int]:
        client = CountingRedis.from_url(redis_url, max_connections=callers + 5)
        try:
            lim = RateLimiter(client, default_rate=rate, burst=1, max_reserve_s=0.5)
            await lim.load_scripts()
            before = client.calls
            start = time.monotonic()

            async def one() -> float:
                await lim.acquire(sender)
                return time.monotonic() - start

            tasks = [asyncio.create_task(one()) for _ in range(callers)]
            await asyncio.sleep(0.1)
            tat = await client.hget(f"dispatcher:rl:{{{sender}}}:gcra", "tat")
            sec, usec = await client.time()
            granted = await asyncio.gather(*tasks)
            elapsed = time.monotonic() - start
            # minus the HGET and TIME above, and the first call's clock reads
            calls = client.calls - before - 2 - CALIBRATION_READS
        finally:
            await client.aclose()
        assert tat is not None
        ahead = (int(tat) - (sec * 1_000_000 + usec)) / 1_000_000
        assert ahead <= 0.5 + 1 / rate + 0.01, "reserved beyond the cap"
        return elapsed, sorted(granted), calls

    elapsed, granted, calls = run(main())
    assert (callers - 1) / rate <= elapsed <= (callers - 1) / rate + 0.15
    assert calls <= callers + (callers - 21) + 6, f"{calls} EVALSHA for {callers} grants"
    assert not _ahead_of_schedule(granted, rate, burst=1), [round(t, 4) for t in granted]
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert 0.023 <= gaps[len(gaps) // 2] <= 0.026  # the queued half is spaced exactly too


# -- (d) adaptive rate -------------------------------------------------------------------------


def test_on_throttled_halves_once_per_window_and_pauses_everyone(redis_url: str) -> None:
    sender = _sender()

    async def main() -> None:
        async with limiter(redis_url) as a, limiter(redis_url) as b:
            await a.set_rate(sender, 100.0)
            # a burst of 429s from requests in flight: one decrease only
            await asyncio.gather(*(a.on_throttled(sender, None) for _ in range(10)))
            assert (await b.get_rate(sender)).current == 50.0
            await a.on_throttled(sender, 0.6)  # same window: pause, no decrease
            info = await b.get_rate(sender)
            assert info.current == 50.0
            assert info.configured == 100.0
            assert info.paused_until is not None
            waits = await asyncio.gather(a.acquire(sender), b.acquire(sender), b.acquire(sender))
            assert all(0.55 <= w <= 1.2 for w in waits), waits
            assert (await b.get_rate(sender)).paused_until is None
            await asyncio.sleep(1.0 - 0.6)  # the decrease window is over
            await b.on_throttled(sender, None)
            assert (await a.get_rate(sender)).current == 25.0

    run(main())


def test_decrease_has_a_floor(redis_url: str) -> None:
    sender = _sender()

    async def main() -> list[float]:
        policy = AimdPolicy(decrease_factor=0.5, decrease_window_s=0.0, min_rate=1.0)
        async with limiter(redis_url, default_rate=4.0, aimd=policy) as lim:
            seen = []
            for _ in range(4):
                await lim.on_throttled(sender, None)
                seen.append((await lim.get_rate(sender)).current)
            return seen

    assert run(main()) == [2.0, 1.0, 1.0, 1.0]


def test_on_success_climbs_back_cheaply(redis_url: str) -> None:
    sender = _sender()

    async def main() -> None:
        client = CountingRedis.from_url(redis_url)
        try:
            lim = RateLimiter(client)
            await lim.load_scripts()
            await lim.set_rate(sender, 100.0)
            await lim.on_throttled(sender, None)
            assert (await lim.get_rate(sender)).current == 50.0
            await asyncio.sleep(1.0)
            before = client.calls
            for _ in range(1000):
                await lim.on_success(sender)
            assert client.calls - before == 1, "at most one round trip per second"
            current = (await lim.get_rate(sender)).current
            assert 54.0 <= current <= 57.0  # +5% of configured per clean second
        finally:
            await client.aclose()

        # a faster policy climbs all the way back, then stops calling Redis
        fast = AimdPolicy(increase_fraction=1.0, report_interval_s=0.05)
        client = CountingRedis.from_url(redis_url)
        try:
            lim = RateLimiter(client, aimd=fast)
            for _ in range(40):
                await lim.on_success(sender)
                await asyncio.sleep(0.05)
            info = await lim.get_rate(sender)
            assert info.current == info.configured == 100.0
            await lim.acquire(sender)  # tells this process the rate is full
            before = client.calls
            for _ in range(100):
                await lim.on_success(sender)
                await asyncio.sleep(0.001)
            assert client.calls == before
        finally:
            await client.aclose()

    run(main())


# -- (e) pair limit ----------------------------------------------------------------------------


def test_pair_limit(redis_url: str) -> None:
    sender, other_sender = _sender(), _sender()

    async def main() -> None:
        async with limiter(redis_url, pair_interval_s=0.3) as lim:
            assert await lim.try_pair(sender, "+4915100000001") == 0.0
            wait = await lim.try_pair(sender, "+4915100000001")
            held = 0.3 + PAIR_MARGIN_MS / 1000  # a little over the interval: see PAIR_MARGIN_MS
            assert 0.2 < wait <= held
            again = await lim.try_pair(sender, "+4915100000001")  # nothing was taken
            assert 0.0 < again <= wait
            assert await lim.try_pair(sender, "+4915100000002") == 0.0
            assert await lim.try_pair(other_sender, "+4915100000001") == 0.0
            await asyncio.sleep(wait + 0.01)
            assert await lim.try_pair(sender, "+4915100000001") == 0.0
            await asyncio.sleep(0.2)
            await lim.hold_pair(sender, "+4915100000001")  # taken again, from now
            assert held - 0.05 < await lim.try_pair(sender, "+4915100000001") <= held
            keys = [k async for k in lim._redis.scan_iter(match=f"*{sender}*")]
            assert keys and all(f"{{{sender}}}".encode() in k for k in keys)
            assert all([await lim._redis.pttl(k) > 0 for k in keys]), "pair keys must expire"

    run(main())


# -- (f) recipient backoff ---------------------------------------------------------------------


def test_recipient_backoff_sequence(redis_url: str) -> None:
    sender, recipient = _sender(), "+4915100000009"

    async def main() -> None:
        async with limiter(redis_url) as lim:
            delays = [await lim.on_recipient_throttled(sender, recipient, n) for n in range(1, 7)]
            assert delays == [1.0, 4.0, 16.0, 64.0, 64.0, 64.0]
            await lim.on_recipient_throttled(sender, recipient, 2)
            assert 3.9 < await lim.try_pair(sender, recipient) <= 4.0
            assert await lim.on_recipient_throttled(sender, recipient, 10_000) == 64.0
            with pytest.raises(ValueError):
                await lim.on_recipient_throttled(sender, recipient, 0)
            await lim.on_recipient_throttled(sender, recipient, 1)
            await asyncio.sleep(1.01)
            assert await lim.try_pair(sender, recipient) == 0.0

    run(main())


# -- details -----------------------------------------------------------------------------------


def test_defaults_script_reload_and_validation(redis_url: str) -> None:
    sender = _sender()

    async def main() -> None:
        client = Redis.from_url(redis_url, decode_responses=True)
        try:
            lim = RateLimiter(client, default_rate=80.0)
            assert await lim.get_rate(sender) == RateInfo(sender, 80.0, 80.0, None, 5)
            await client.script_flush()  # EVALSHA falls back to loading the script
            assert await lim.acquire(sender) < 0.05
            with pytest.raises(ValueError):
                await lim.set_rate(sender, 0.0)
            with pytest.raises(ValueError):
                await lim.on_throttled(sender, -1.0)
            with pytest.raises(ValueError):
                await lim.acquire("")
        finally:
            await client.aclose()

    run(main())


def test_slots_have_deadlines_up_to_2000_per_second_only(redis_url: str) -> None:
    """A slot's deadline is a few intervals after it; above 2,000/s timers can't keep that."""
    async def main() -> tuple[Any, Any]:
        async with limiter(redis_url, default_rate=1000.0, burst=1) as paced, \
                limiter(redis_url, default_rate=5000.0, burst=1) as fast:
            return await paced.reserve(_sender()), await fast.reserve(_sender())

    paced, fast = run(main())
    assert paced.leave_by - paced.due == pytest.approx(0.002)
    assert paced.write_by - paced.due == pytest.approx(0.003)
    assert fast.leave_by == fast.write_by == math.inf
