"""Small keyed states that every process serving one store must agree on (throttles, uploads in
flight), behind one operation: ``exchange``.

``owner()`` names this process; ``live_owners()`` says which owners are alive, so that a state
recording what a process holds (a place among an account's uploads in flight) can be freed as
soon as that process dies (``kill -9``), not only when it expires.

``exchange(keys, fn, now=..., ttl=...)`` reads the states of ``keys`` (None where there is none,
or where it expired), calls ``fn(states) -> (new_states, result)`` and writes the new states
(None removes one), atomically with respect to every other exchange on the same keys, then
returns ``result``. A state written lives ``ttl`` past ``now``: nothing is kept forever, even if
the process that wrote it dies.

``MemoryStates`` is the one process's implementation (the embedded TinyDB store, one process by
design): a dict, bounded per kind (``max_keys``, oldest first). The PostgreSQL store provides
the shared one (``store/postgres/coordination.py``: a table, row locks); the throttles and the
upload service see only the protocol. ``DeferredStates`` hands out the store's, which exists only
once the store is open.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
State = dict[str, Any]  # JSON-compatible
Key = tuple[str, str]  # (kind, key): the kind names the throttle or the resource
Exchange = Callable[[list[State | None]], tuple[list[State | None], T]]


class States(Protocol):
    async def exchange(self, keys: Sequence[Key], fn: Exchange[T], *, now: datetime, ttl: timedelta) -> T: ...

    async def owner(self) -> str:
        """This process, as a state may record it (a place taken by an upload in flight)."""
        ...

    async def live_owners(self) -> set[str] | None:
        """The owners whose process is alive now; None when every owner is (one process)."""
        ...


class MemoryStates:
    """States in this process's memory. ``exchange`` runs between two awaits of the event loop
    (it awaits nothing), so it is atomic for the loop's tasks."""

    def __init__(self, *, max_keys: int = 100_000):
        self.max_keys = max_keys
        self._kinds: dict[str, OrderedDict[str, tuple[State, datetime]]] = {}

    async def owner(self) -> str:
        return "local"

    async def live_owners(self) -> set[str] | None:
        return None

    def count(self, kind: str) -> int:
        """States held for ``kind`` (expired ones included until they are next touched)."""
        return len(self._kinds.get(kind, ()))

    def _read(self, key: Key, now: datetime) -> State | None:
        held = self._kinds.get(key[0], OrderedDict()).get(key[1])
        if held is None:
            return None
        if held[1] <= now:
            del self._kinds[key[0]][key[1]]
            return None
        return held[0]

    async def exchange(self, keys: Sequence[Key], fn: Exchange[T], *, now: datetime, ttl: timedelta) -> T:
        new, result = fn([_copy(self._read(key, now)) for key in keys])
        for (kind, key), state in zip(keys, new, strict=True):
            rows = self._kinds.setdefault(kind, OrderedDict())
            if state is None:
                rows.pop(key, None)
                continue
            rows[key] = (state, now + ttl)
            rows.move_to_end(key)
            while len(rows) > self.max_keys:
                rows.popitem(last=False)
        return result


def _copy(state: State | None) -> State | None:
    """fn may modify what it is given: it gets its own lists (states are small, flat dicts of
    scalars and lists of scalars or pairs)."""
    if state is None:
        return None
    return {k: ([list(v) if isinstance(v, list) else v for v in val] if isinstance(val, list) else val)
            for k, val in state.items()}  # fmt: skip


class DeferredStates:
    """The states of whatever ``get()`` returns at the time of each exchange (the store's, once
    it is open)."""

    def __init__(self, get: Callable[[], States]):
        self._get = get

    async def exchange(self, keys: Sequence[Key], fn: Exchange[T], *, now: datetime, ttl: timedelta) -> T:
        return await self._get().exchange(keys, fn, now=now, ttl=ttl)

    async def owner(self) -> str:
        return await self._get().owner()

    async def live_owners(self) -> set[str] | None:
        return await self._get().live_owners()
