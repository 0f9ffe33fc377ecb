"""What the processes serving one store must agree on, beyond the records themselves.

- ``exchange``: the small keyed states of ``formservice.states`` (throttles, uploads in flight);
- ``claim_mails`` / ``release_mail``: which process sends which outbox mail. A claim takes the
  oldest due mail of each recipient who has no mail being sent (so one person's mails go out in
  the order they were written), for one process only; a claim not released within its ``lease``
  (the process died mid-send) lapses, and the mail is sent again, with the same Message-ID;
- ``lead(job)``: whether this process is the one that runs a periodic job (the purge, the
  listing's refresh, the files' reconciliation): one leader at a time, another taking over
  when it dies.

``LocalCoordination`` is the one process's answer (the embedded TinyDB store and the memory
engine: one process by design, so it leads everything); an engine whose records other
processes share provides its own by being a ``SharedEngine`` (PostgreSQL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from formservice.clock import from_iso
from formservice.states import Exchange, Key, MemoryStates, T
from formservice.store.contract import Doc, Engine


def due_mails(pending: Sequence[Doc], now: datetime) -> list[Doc]:
    """Pending mails whose next attempt is due at ``now``, oldest first."""
    due = [m for m in pending if from_iso(m["next_attempt_at"]) <= now]
    return sorted(due, key=lambda m: (m["next_attempt_at"], m["created_at"]))


def oldest_per_recipient(due: Sequence[Doc], busy: Collection[str]) -> list[Doc]:
    """The oldest of ``due`` (sorted oldest first) for each recipient not in ``busy``."""
    taken = set(busy)
    batch = []
    for mail in due:
        if mail["to"] not in taken:
            taken.add(mail["to"])
            batch.append(mail)
    return batch


class Coordination(ABC):
    #: whether other processes take part (then jobs go to one leader)
    shared: bool = False

    @abstractmethod
    async def exchange(self, keys: Sequence[Key], fn: Exchange[T], *, now: datetime, ttl: timedelta) -> T:
        """See ``formservice.states``."""

    @abstractmethod
    async def claim_mails(self, now: datetime, *, exclude: Collection[str], lease: timedelta) -> list[Doc]:
        """Claim the mails this process sends now (none already claimed, none of ``exclude``)."""

    @abstractmethod
    async def release_mail(self, mail_id: str) -> None:
        """The mail was sent and settled (or its try failed): its claim ends."""

    @abstractmethod
    async def lead(self, job: str) -> bool:
        """Whether this process runs ``job`` now (asked again at each run)."""

    async def owner(self) -> str:
        return "local"

    async def live_owners(self) -> set[str] | None:
        """None: every owner is alive (one process)."""
        return None

    async def sweep(self, now: datetime) -> int:
        """Forget the states expired at ``now`` (the periodic purge); how many."""
        return 0

    async def close(self) -> None:
        return None


class LocalCoordination(Coordination):
    """One process: states in memory, mails claimed in a set, every job led here."""

    def __init__(self, engine: Engine, states: MemoryStates | None = None):
        self.engine = engine
        self.states = states if states is not None else MemoryStates()
        self._claimed: dict[str, str] = {}  # mail id -> recipient

    async def exchange(self, keys: Sequence[Key], fn: Exchange[T], *, now: datetime, ttl: timedelta) -> T:
        return await self.states.exchange(keys, fn, now=now, ttl=ttl)

    async def claim_mails(self, now: datetime, *, exclude: Collection[str], lease: timedelta) -> list[Doc]:
        pending = await self.engine.find("outbox", "state", "pending")
        due = [m for m in due_mails(pending, now) if m["id"] not in exclude and m["id"] not in self._claimed]
        batch = oldest_per_recipient(due, set(self._claimed.values()))
        self._claimed.update((m["id"], m["to"]) for m in batch)
        return batch

    async def release_mail(self, mail_id: str) -> None:
        self._claimed.pop(mail_id, None)

    async def lead(self, job: str) -> bool:
        return True


class SharedEngine(Engine):
    """An engine whose records several processes serve: it coordinates them."""

    @property
    @abstractmethod
    def coordination(self) -> Coordination: ...


def coordination_of(engine: Engine, local: MemoryStates) -> Coordination:
    """The engine's own coordination if it is shared, else this process's (over ``local``)."""
    if isinstance(engine, SharedEngine):
        return engine.coordination
    return LocalCoordination(engine, local)
