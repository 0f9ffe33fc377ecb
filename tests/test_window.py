"""The registration window, to the second, in Paris time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from formservice.window import phase

PARIS = ZoneInfo("Europe/Paris")


def test_phase_before_open_closed_at_the_second(notice):
    """Before opens: before; at opens: open; at 18:59:59 the last day: open; at 19:00:00: closed."""
    opens = datetime(2025, 10, 21, 9, 0, tzinfo=PARIS)
    closes = datetime(2025, 11, 13, 19, 0, tzinfo=PARIS)
    assert phase(notice, opens - timedelta(seconds=1)) == "before"
    assert phase(notice, opens) == "open"
    assert phase(notice, closes - timedelta(seconds=1)) == "open"
    assert phase(notice, closes) == "closed"
