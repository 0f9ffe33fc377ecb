"""Throttles: growing delays capped (never a permanent lockout), windows per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from formservice.clock import FrozenClock
from formservice.ratelimit import Backoff, Quota


def test_backoff_grows_then_caps_and_success_forgets():
    """After the free failures the delay doubles up to max_delay; a success resets the key."""
    clock = FrozenClock(datetime(2025, 10, 22, tzinfo=UTC))
    backoff = Backoff(clock, free=3, base_delay=1, max_delay=8)
    delays = []
    for _ in range(8):
        backoff.failure("k")
        delays.append(backoff.retry_after("k"))
    assert delays == [0, 0, 1, 2, 4, 8, 8, 8]
    backoff.success("k")
    assert backoff.retry_after("k") == 0


def test_backoff_never_locks_out_for_good():
    """However many failures, waiting max_delay always allows a new attempt."""
    clock = FrozenClock(datetime(2025, 10, 22, tzinfo=UTC))
    backoff = Backoff(clock, free=1, base_delay=1, max_delay=60)
    for _ in range(1000):
        backoff.failure("k")
    assert 0 < backoff.retry_after("k") <= 60
    clock.advance(seconds=60)
    assert backoff.retry_after("k") == 0


def test_backoff_memory_is_bounded():
    """Past max_keys, the oldest keys are dropped: only the 10 latest still have to wait."""
    clock = FrozenClock(datetime(2025, 10, 22, tzinfo=UTC))
    backoff = Backoff(clock, free=0, base_delay=1, max_delay=1, max_keys=10)
    for i in range(100):
        backoff.failure(str(i))
    remembered = [i for i in range(100) if backoff.retry_after(str(i)) > 0]
    assert remembered == list(range(90, 100))


def test_window_limits_per_period():
    """A window allows `limit` hits per period, then refuses with the time to wait."""
    clock = FrozenClock(datetime(2025, 10, 22, tzinfo=UTC))
    window = Quota(clock, limit=2, period=timedelta(hours=1))
    assert window.hit("ip") and window.hit("ip")
    assert not window.hit("ip")
    assert 3599 <= window.retry_after("ip") <= 3600
    clock.advance(hours=1)
    assert window.hit("ip")


def test_window_forgets_hits_as_they_age():
    """Hits leave the window one by one as they get older than the period; a key without
    recent hits is forgotten."""
    clock = FrozenClock(datetime(2025, 10, 22, tzinfo=UTC))
    window = Quota(clock, limit=2, period=timedelta(hours=1))
    assert window.hit("ip")
    clock.advance(minutes=30)
    assert window.hit("ip") and not window.hit("ip")
    clock.advance(minutes=30)  # the first hit is an hour old: one place is free again
    assert window.retry_after("ip") == 0 and window.hit("ip") and not window.hit("ip")
    clock.advance(hours=1)
    assert window.retry_after("ip") == 0 and len(window) == 0  # nothing kept in memory for it
