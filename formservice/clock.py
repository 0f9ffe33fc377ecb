"""The one source of "now" in the service, so that tests can stand at 47 h 59 or 48 h 01.

Every rule that depends on time receives a `Clock` (``request.app.state.services.clock``);
nothing calls ``datetime.now()`` directly. Times are aware and in UTC; convert with
``notice.tz`` for display.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A settable clock for tests: it only moves when told to."""

    def __init__(self, start: datetime):
        self._now = _aware(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = _aware(when)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("FrozenClock needs an aware datetime")
    return when.astimezone(UTC)


def to_iso(when: datetime) -> str:
    """How instants are stored in documents, everywhere: ISO 8601 in UTC, to the second
    (``2025-10-22T08:00:00+00:00``): one format, so that stored instants compare as text too."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
