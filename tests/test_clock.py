"""The injectable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from formservice.clock import FrozenClock, SystemClock, from_iso, to_iso


def test_frozen_clock_moves_only_when_told():
    """FrozenClock returns the same instant until advanced or set, always in UTC."""
    clock = FrozenClock(datetime(2025, 10, 22, 10, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2025, 10, 22, 8, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    clock.advance(hours=1)
    assert clock.now().hour == 9
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 1, 1))


def test_system_clock_is_aware_utc_and_iso_round_trips():
    """SystemClock is aware UTC; to_iso/from_iso round-trip an instant."""
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert from_iso(to_iso(now)) == now.replace(microsecond=0)  # stored to the second
