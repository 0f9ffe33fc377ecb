"""In-memory throttles, on the injected clock (the service is one process, by design of the store).

Two shapes:

- ``Backoff``: after ``free`` failures, each further attempt must wait a delay that doubles up to
  ``max_delay``; a success forgets the key. Never a permanent lockout: an attacker hammering a
  candidate's account can only make them wait ``max_delay`` at worst, never keep them out until
  the deadline passes. Attempts **in flight** count: ``reserve`` before the (slow) password
  check, ``release`` after it, so 60 guesses sent at once get no more checks than 60 in a row.
- ``Quota``: at most ``limit`` events per ``period`` per key (signups, resends, mails per address).

Both are bounded in memory (``max_keys``, oldest dropped first). Keys are whatever the caller
chooses; pass pseudonymous ones (the audit log's HMAC) so no clear e-mail sits in memory longer
than needed.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from formservice.clock import Clock
from formservice.settings import RateLimits


@dataclass
class _Failures:
    count: int
    last: datetime


class Backoff:
    def __init__(
        self,
        clock: Clock,
        *,
        free: int,
        base_delay: float,
        max_delay: float,
        forget_after: timedelta = timedelta(hours=1),
        max_keys: int = 100_000,
    ):
        self.clock = clock
        self.free = free
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._entries: OrderedDict[str, _Failures] = OrderedDict()
        self._in_flight: dict[str, int] = {}

    def __len__(self) -> int:
        """The keys held in memory (bounded by ``max_keys``)."""
        return len(self._entries)

    def reserve(self, key: str) -> float:
        """Count an attempt that is about to be checked: 0 if it may go on (then ``release`` it,
        whatever happens), else the seconds to wait. Once the free attempts are used, counting
        those in flight, one attempt at a time is let through, after its delay. Runs on the event
        loop's thread between two awaits, so two requests cannot both take the last place."""
        entry = self._get(key)
        in_flight = self._in_flight.get(key, 0)
        if (entry.count if entry else 0) + in_flight >= self.free:
            if in_flight:
                return max(1.0, self.base_delay)  # the outcome of the one in flight decides
            wait = self.retry_after(key)
            if wait > 0:
                return wait
        self._in_flight[key] = in_flight + 1
        return 0.0

    def release(self, key: str, outcome: str) -> None:
        """End a reserved attempt: ``"failure"`` counts it, ``"success"`` forgets the key,
        ``"none"`` just frees its place (the attempt was not evaluated)."""
        left = self._in_flight.get(key, 0) - 1
        if left > 0:
            self._in_flight[key] = left
        else:
            self._in_flight.pop(key, None)
        if outcome == "failure":
            self.failure(key)
        elif outcome == "success":
            self.success(key)

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    def _get(self, key: str) -> _Failures | None:
        entry = self._entries.get(key)
        if entry is not None and self.clock.now() - entry.last >= self.forget_after:
            del self._entries[key]
            return None
        return entry

    def delay_after(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** (count - self.free))

    def retry_after(self, key: str) -> float:
        """Seconds to wait before the next attempt is considered; 0 when allowed now."""
        entry = self._get(key)
        if entry is None:
            return 0.0
        ready = entry.last + timedelta(seconds=self.delay_after(entry.count))
        return max(0.0, (ready - self.clock.now()).total_seconds())

    def failure(self, key: str) -> None:
        entry = self._get(key)
        now = self.clock.now()
        if entry is None:
            self._entries[key] = _Failures(1, now)
        else:
            entry.count += 1
            entry.last = now
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    def success(self, key: str) -> None:
        self._entries.pop(key, None)


class Quota:
    """Hits per key in arrival order (a deque): old ones leave from the left, so a check costs
    what expired since the last one, not the length of the window."""

    def __init__(self, clock: Clock, *, limit: int, period: timedelta, max_keys: int = 100_000):
        self.clock = clock
        self.limit = limit
        self.period = period
        self.max_keys = max_keys
        self._entries: OrderedDict[str, deque[datetime]] = OrderedDict()

    def __len__(self) -> int:
        """The keys held in memory (bounded by ``max_keys``; a key with no recent hit is dropped)."""
        return len(self._entries)

    def _recent(self, key: str, now: datetime) -> deque[datetime] | None:
        hits = self._entries.get(key)
        if hits is None:
            return None
        while hits and now - hits[0] >= self.period:
            hits.popleft()
        if not hits:
            del self._entries[key]
            return None
        return hits

    def _wait(self, hits: deque[datetime] | None, now: datetime) -> float:
        if hits is None or len(hits) < self.limit:
            return 0.0
        return max(0.0, (hits[0] + self.period - now).total_seconds())

    def retry_after(self, key: str) -> float:
        now = self.clock.now()
        return self._wait(self._recent(key, now), now)

    def allows(self, key: str) -> bool:
        """Whether one more event would be counted now (nothing is counted)."""
        return self.retry_after(key) == 0

    def hit(self, key: str) -> bool:
        """Count one event; False (and nothing counted) when the limit is reached."""
        now = self.clock.now()
        hits = self._recent(key, now)
        if self._wait(hits, now) > 0:
            return False
        if hits is None:
            hits = self._entries[key] = deque()
        else:
            self._entries.move_to_end(key)
        hits.append(now)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return True


class Limits:
    """The throttles of the accounts service, built from ``settings.limits``."""

    def __init__(self, clock: Clock, cfg: RateLimits):
        hour = timedelta(hours=1)

        def login(free: int) -> Backoff:
            return Backoff(clock, free=free, base_delay=cfg.login_base_delay, max_delay=cfg.login_max_delay)

        self.login_pair = login(cfg.login_free_per_pair)
        self.login_account = login(cfg.login_free_per_account)
        self.login_ip = login(cfg.login_free_per_ip)
        self.signup_ip = Quota(clock, limit=cfg.signup_per_ip_hour, period=hour)
        self.resend_ip = Quota(clock, limit=cfg.resend_per_ip_hour, period=hour)
        self.reset_ip = Quota(clock, limit=cfg.reset_per_ip_hour, period=hour)
        self.mails_per_address = Quota(clock, limit=cfg.mails_per_address_hour, period=hour)
