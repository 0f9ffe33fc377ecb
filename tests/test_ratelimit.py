"""Throttles: growing delays capped (never a permanent lockout), windows per period, attempts in
flight counted; their states in memory here (tests/store/test_coordination.py: in PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from formservice.clock import FrozenClock
from formservice.ratelimit import FLIGHT_TIMEOUT, Backoff, Quota, Throttles
from formservice.states import MemoryStates

pytestmark = pytest.mark.anyio


def frozen() -> FrozenClock:
    return FrozenClock(datetime(2025, 10, 22, tzinfo=UTC))


async def test_backoff_grows_then_caps_and_success_forgets():
    """After the free failures the delay doubles up to max_delay; a success resets the key."""
    backoff = Backoff(frozen(), free=3, base_delay=1, max_delay=8)
    delays = []
    for _ in range(8):
        await backoff.failure("k")
        delays.append(await backoff.retry_after("k"))
    assert delays == [0, 0, 1, 2, 4, 8, 8, 8]
    await backoff.success("k")
    assert await backoff.retry_after("k") == 0


async def test_backoff_never_locks_out_for_good():
    """However many failures, waiting max_delay always allows a new attempt."""
    clock = frozen()
    backoff = Backoff(clock, free=1, base_delay=1, max_delay=60)
    for _ in range(1000):
        await backoff.failure("k")
    assert 0 < await backoff.retry_after("k") <= 60
    clock.advance(seconds=60)
    assert await backoff.retry_after("k") == 0


async def test_backoff_memory_is_bounded():
    """Past max_keys, the oldest keys are dropped: only the 10 latest still have to wait."""
    backoff = Backoff(frozen(), free=0, base_delay=1, max_delay=1, max_keys=10)
    for i in range(100):
        await backoff.failure(str(i))
    remembered = [i for i in range(100) if await backoff.retry_after(str(i)) > 0]
    assert remembered == list(range(90, 100))


async def test_attempts_in_flight_count_and_a_dead_one_frees_its_place_after_a_while():
    """With the free attempts all in flight, one more waits; an attempt never released (its
    process was killed) stops counting after FLIGHT_TIMEOUT."""
    clock = frozen()
    backoff = Backoff(clock, free=2, base_delay=1, max_delay=8)
    first, second, third = (Throttles((backoff, "k")) for _ in range(3))
    assert await first.reserve() == 0 and await second.reserve() == 0
    assert await third.reserve() > 0
    await first.release("failure")
    assert await third.reserve() > 0  # one failure and one in flight: the free ones are used
    clock.advance(seconds=FLIGHT_TIMEOUT)
    assert await third.reserve() == 0  # `second` never came back
    await third.release("success")
    assert await backoff.retry_after("k") == 0


async def test_window_limits_per_period():
    """A window allows `limit` hits per period, then refuses with the time to wait."""
    clock = frozen()
    window = Quota(clock, limit=2, period=timedelta(hours=1))
    assert await window.hit("ip") and await window.hit("ip")
    assert not await window.hit("ip")
    assert 3599 <= await window.retry_after("ip") <= 3600
    clock.advance(hours=1)
    assert await window.hit("ip")


async def test_window_forgets_hits_as_they_age():
    """Hits leave the window one by one as they get older than the period; a key without
    recent hits is forgotten."""
    clock = frozen()
    states = MemoryStates()
    window = Quota(clock, limit=2, period=timedelta(hours=1), states=states, kind="w")
    assert await window.hit("ip")
    clock.advance(minutes=30)
    assert await window.hit("ip") and not await window.hit("ip")
    clock.advance(minutes=30)  # the first hit is an hour old: one place is free again
    assert await window.retry_after("ip") == 0 and await window.hit("ip") and not await window.hit("ip")
    clock.advance(hours=1)
    assert await window.retry_after("ip") == 0 and states.count("w") == 0  # nothing kept for it
