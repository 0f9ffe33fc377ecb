"""Throttles, on the injected clock, their counts kept in ``states.States``: this process's
memory with the embedded store, a table every worker shares with PostgreSQL.

Two shapes:

- ``Backoff``: after ``free`` failures, each further attempt must wait a delay that doubles up to
  ``max_delay``; a success forgets the key. Never a permanent lockout: an attacker hammering a
  candidate's account can only make them wait ``max_delay`` at worst, never keep them out until
  the deadline passes. Attempts **in flight** count: ``Throttles.reserve`` before the (slow)
  password check, ``release`` after it, so 60 guesses sent at once, to any worker, get no more
  checks than 60 in a row. An attempt reserved more than ``FLIGHT_TIMEOUT`` ago (its process
  died) counts no more.
- ``Quota``: at most ``limit`` events per ``period`` per key (signups, resends, mails per address).

A key's state is small (a count, an instant, the attempts in flight; or the recent hits) and
lives only as long as it matters (``forget_after``, ``period``). Keys are whatever the caller
chooses; pass pseudonymous ones (the audit log's HMAC) so no clear e-mail is kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from formservice.clock import Clock
from formservice.settings import RateLimits
from formservice.states import Key, MemoryStates, State, States

FLIGHT_TIMEOUT = 120.0  # seconds: a password check takes well under one


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
        states: States | None = None,
        kind: str = "backoff",
    ):
        self.clock = clock
        self.free = free
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.states: States = states if states is not None else MemoryStates(max_keys=max_keys)
        self.kind = kind

    @property
    def ttl(self) -> timedelta:
        return self.forget_after + timedelta(seconds=FLIGHT_TIMEOUT)

    # -- pure steps over one key's state: {"count", "last", "flight": [[token, at], ...]} -----------

    def fresh(self, state: State | None, now: float) -> State:
        """The state as of ``now``: failures forgotten ``forget_after`` after the last one,
        attempts in flight for longer than FLIGHT_TIMEOUT dropped."""
        state = dict(state or {})
        if state.get("count") and now - state["last"] >= self.forget_after.total_seconds():
            state.pop("count", None)
            state.pop("last", None)
        state["flight"] = [f for f in state.get("flight", []) if now - f[1] < FLIGHT_TIMEOUT]
        return state

    def delay_after(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** (count - self.free))

    def wait_of(self, state: State, now: float) -> float:
        """Seconds before the next attempt is considered (0: now), from a fresh state."""
        if not state.get("count"):
            return 0.0
        return max(0.0, state["last"] + self.delay_after(state["count"]) - now)

    def reserve_step(self, state: State | None, now: float, token: str) -> tuple[State | None, float]:
        """Count an attempt about to be checked: (new state, 0) if it may go on, else (the
        state unchanged, seconds to wait). Once the free attempts are used, counting those in
        flight, one attempt at a time is let through, after its delay."""
        fresh = self.fresh(state, now)
        in_flight = len(fresh["flight"])
        if fresh.get("count", 0) + in_flight >= self.free:
            if in_flight:
                return state, max(1.0, self.base_delay)  # the outcome of the one in flight decides
            wait = self.wait_of(fresh, now)
            if wait > 0:
                return state, wait
        fresh["flight"].append([token, now])
        return fresh, 0.0

    def release_step(self, state: State | None, now: float, token: str, outcome: str) -> State | None:
        """End a reserved attempt: ``"failure"`` counts it, ``"success"`` forgets the failures,
        ``"none"`` just frees its place (the attempt was not evaluated)."""
        fresh = self.fresh(state, now)
        fresh["flight"] = [f for f in fresh["flight"] if f[0] != token]
        if outcome == "failure":
            fresh["count"], fresh["last"] = fresh.get("count", 0) + 1, now
        elif outcome == "success":
            fresh.pop("count", None)
            fresh.pop("last", None)
        return fresh if fresh.get("count") or fresh["flight"] else None

    # -- one key at a time (tests, and callers without attempts in flight) --------------------------

    async def _one(self, key: str, step: str) -> float:
        now = self.clock.now()
        stamp = now.timestamp()

        def fn(states: list[State | None]) -> tuple[list[State | None], float]:
            state = states[0]
            if step == "read":
                return [state], self.wait_of(self.fresh(state, stamp), stamp)
            return [self.release_step(state, stamp, "", step)], 0.0

        return await self.states.exchange([(self.kind, key)], fn, now=now, ttl=self.ttl)

    async def retry_after(self, key: str) -> float:
        """Seconds to wait before the next attempt is considered; 0 when allowed now."""
        return await self._one(key, "read")

    async def failure(self, key: str) -> None:
        await self._one(key, "failure")

    async def success(self, key: str) -> None:
        await self._one(key, "success")


class Throttles:
    """Reserve an attempt on several Backoffs at once, in one exchange of their states (all or
    none); ``async with`` releases them with ``outcome`` (``"none"`` if the block ends early or
    raises). The third one (per IP) forgets nothing on a success: one right password must not
    clear the failures counted against an address."""

    def __init__(self, *limiters: tuple[Backoff, str]):
        self.limiters = limiters
        self.outcome = "none"
        self._token: str | None = None

    @property
    def _keys(self) -> list[Key]:
        return [(limiter.kind, key) for limiter, key in self.limiters]

    def _exchange_args(self) -> tuple[States, datetime, timedelta]:
        now = self.clock_now()
        return self.limiters[0][0].states, now, max(limiter.ttl for limiter, _ in self.limiters)

    def clock_now(self) -> datetime:
        return self.limiters[0][0].clock.now()

    async def reserve(self) -> float:
        """0 if the attempt may go on (then release it), else the seconds to wait."""
        states, now, ttl = self._exchange_args()
        stamp, token = now.timestamp(), secrets.token_hex(8)

        def fn(current: list[State | None]) -> tuple[list[State | None], float]:
            new: list[State | None] = []
            for (limiter, _), state in zip(self.limiters, current, strict=True):
                changed, wait = limiter.reserve_step(state, stamp, token)
                if wait > 0:
                    return list(current), wait  # nothing reserved anywhere
                new.append(changed)
            return new, 0.0

        wait = await states.exchange(self._keys, fn, now=now, ttl=ttl)
        if wait == 0:
            self._token = token
        return wait

    async def release(self, outcome: str) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        states, now, ttl = self._exchange_args()
        stamp = now.timestamp()

        def fn(current: list[State | None]) -> tuple[list[State | None], None]:
            return [
                limiter.release_step(
                    state, stamp, token, "none" if i == 2 and outcome == "success" else outcome
                )
                for i, ((limiter, _), state) in enumerate(zip(self.limiters, current, strict=True))
            ], None

        await states.exchange(self._keys, fn, now=now, ttl=ttl)

    async def __aenter__(self) -> Throttles:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release(self.outcome)


class Quota:
    """The hits of the last ``period`` per key, oldest first (at most ``limit`` of them)."""

    def __init__(
        self,
        clock: Clock,
        *,
        limit: int,
        period: timedelta,
        max_keys: int = 100_000,
        states: States | None = None,
        kind: str = "quota",
    ):
        self.clock = clock
        self.limit = limit
        self.period = period
        self.states: States = states if states is not None else MemoryStates(max_keys=max_keys)
        self.kind = kind

    def _recent(self, state: State | None, now: float) -> list[float]:
        return [t for t in (state or {}).get("hits", []) if now - t < self.period.total_seconds()]

    def _wait(self, hits: Sequence[float], now: float) -> float:
        if len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[0] + self.period.total_seconds() - now)

    async def _exchange(self, key: str, count: bool) -> float:
        now = self.clock.now()
        stamp = now.timestamp()

        def fn(states: list[State | None]) -> tuple[list[State | None], float]:
            hits = self._recent(states[0], stamp)
            wait = self._wait(hits, stamp)
            if count and wait == 0:
                hits.append(stamp)
            return [{"hits": hits} if hits else None], wait

        return await self.states.exchange([(self.kind, key)], fn, now=now, ttl=self.period)

    async def take(self, key: str) -> float:
        """Count one event: 0 if counted, else the seconds until one more would be (nothing counted)."""
        return await self._exchange(key, count=True)

    async def hit(self, key: str) -> bool:
        """Count one event; False (and nothing counted) when the limit is reached."""
        return await self.take(key) == 0

    async def retry_after(self, key: str) -> float:
        return await self._exchange(key, count=False)

    async def allows(self, key: str) -> bool:
        """Whether one more event would be counted now (nothing is counted)."""
        return await self.retry_after(key) == 0


class Limits:
    """The throttles of the accounts service, built from ``settings.limits``, their states in
    ``states`` (this process's memory by default)."""

    def __init__(self, clock: Clock, cfg: RateLimits, states: States | None = None):
        hour = timedelta(hours=1)
        self.states: States = states if states is not None else MemoryStates()

        def login(free: int, kind: str) -> Backoff:
            return Backoff(
                clock,
                free=free,
                base_delay=cfg.login_base_delay,
                max_delay=cfg.login_max_delay,
                states=self.states,
                kind=kind,
            )

        def quota(limit: int, kind: str) -> Quota:
            return Quota(clock, limit=limit, period=hour, states=self.states, kind=kind)

        self.login_pair = login(cfg.login_free_per_pair, "login_pair")
        self.login_account = login(cfg.login_free_per_account, "login_account")
        self.login_ip = login(cfg.login_free_per_ip, "login_ip")
        self.signup_ip = quota(cfg.signup_per_ip_hour, "signup_ip")
        self.resend_ip = quota(cfg.resend_per_ip_hour, "resend_ip")
        self.reset_ip = quota(cfg.reset_per_ip_hour, "reset_ip")
        self.mails_per_address = quota(cfg.mails_per_address_hour, "mails_per_address")
