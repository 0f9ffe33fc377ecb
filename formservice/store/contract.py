"""The storage contract: a tiny document engine, and nothing of TinyDB outside it.

Every implementation (memory for unit tests, TinyDB for the embedded default, later perhaps
PostgreSQL) provides `Engine`. The domain-named repositories in `repos.py` sit on top of it.

Contract, checked by tests/store/test_contract.py over every implementation:
- documents are JSON-compatible dicts with a string ``id``; the engine adds ``_schema``
  (SCHEMA_VERSION) on every write, so a migration knows what it reads;
- reads return copies: mutating a returned dict changes nothing stored;
- ``insert`` refuses a duplicate id or a duplicate value of a unique field (DuplicateKey);
- ``update(table, id, fn)`` calls ``fn(copy)`` while holding the write lock and stores what it
  returns; if ``fn`` raises, nothing is written and the exception propagates. This is how
  check-then-write rules (a version check, a deadline) are made atomic with the write;
- ``insert`` and ``update`` take ``effects``: documents (the mails the change causes) inserted
  in the same atomic step, so that a mail exists exactly when its change does;
- ``delete(table, id, predicate)`` evaluates the predicate under the same lock;
- a write is durable (on disk, fsynced, for persistent engines) before the coroutine returns;
- ``select`` answers the office's list from indexes, never by reading the table: documents
  whose indexed fields take one of the given values and whose ``words`` start with the given
  prefixes, ordered by the table's ``order`` field then id, one page, with the total count;
  ``tally`` counts them by the values of one indexed field; ``ids`` and ``get_many`` let batch
  jobs read a selection a page at a time, in id order, in memory proportional to a page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from formservice.errors import NotSaved

Doc = dict[str, Any]
Mutator = Callable[[Doc], Doc]
# Given the document as it will be written, the documents to insert in the same atomic step:
# the mails a change causes (table "outbox"). All are durable together, or none is.
Effects = Callable[[Doc], Sequence[tuple[str, Doc]]]

SCHEMA_VERSION = 1


# ``select``'s filter: field -> the values accepted (a document matches when its value is one of
# them; an empty collection matches nothing). Fields must be unique or indexed.
Where = Mapping[str, Collection[Any]]


@dataclass(frozen=True)
class TableSpec:
    unique: tuple[str, ...] = ()
    indexed: tuple[str, ...] = ()
    # The field ``select`` sorts by (then by id); absent from a document sorts as "".
    order: str | None = None
    # A list-of-strings field (normalised words: no case, no accents) that ``select(words=...)``
    # matches by prefix: every word asked must start one of the document's words.
    words: str | None = None
    # Indexed fields of few values each that lists filter and count on together: an engine may
    # keep a count per combination, so that a list's total and a statistic cost the same at
    # 100,000 documents as at 1,000.
    facets: tuple[str, ...] = ()
    # Other groups of fields counted together, for statistics only (``tally``): a count per
    # combination of their values, so that a statistic costs the same whatever the table's size.
    # Their fields need no index of their own; ``tally`` accepts them with a ``where`` on the
    # other fields of the same group.
    counted: tuple[tuple[str, ...], ...] = ()

    @property
    def lookup_fields(self) -> tuple[str, ...]:
        return self.unique + self.indexed

    @property
    def tally_fields(self) -> tuple[str, ...]:
        """The fields ``tally`` counts by: the lookup fields and those of the counted groups."""
        counted = tuple(f for group in self.counted for f in group if f not in self.lookup_fields)
        return self.lookup_fields + tuple(dict.fromkeys(counted))

    @property
    def tracked_fields(self) -> tuple[str, ...]:
        """Every field an index reads: the tally fields, the order and the words."""
        extra = tuple(f for f in (self.order, self.words) if f is not None)
        return self.tally_fields + extra


# The tables of the service and the fields looked up in each. Lookups on other fields are refused
# (no accidental full scans on a hot path); `scan` exists for batch jobs.
TABLES: dict[str, TableSpec] = {
    "accounts": TableSpec(unique=("email",), indexed=("status",)),
    "sessions": TableSpec(indexed=("account_id",)),
    # The office's list filters on the dossier's state, its pieces' state and its speciality
    # (a pôle or an exam is a set of specialities): fields the enrolment repository derives
    # on every write (see ``Enrolments.derive``).
    "enrolments": TableSpec(
        unique=("key",),
        indexed=("account_id", "status", "session", "speciality", "state", "pieces_state", "waiting"),
        order="sort_key",
        words="words",
        facets=("session", "speciality", "state", "pieces_state", "waiting"),
        # The statistics: dossiers saved and déposés per day, days from dépôt to decision,
        # refusal reasons (review.listing derives them).
        counted=(
            ("session", "speciality", "saved_on"),
            ("session", "speciality", "deposited_on"),
            ("session", "speciality", "decided_in"),
            ("session", "speciality", "refusals"),
        ),
    ),
    "outbox": TableSpec(indexed=("state",)),
    "staff": TableSpec(unique=("email",), indexed=("status",)),
    "staff_sessions": TableSpec(indexed=("staff_id",)),
    # Running totals of what leaves no document behind (accounts purged): {"id": name, "n": int}.
    "counters": TableSpec(),
}


class StoreError(Exception):
    """Base of storage errors."""


class DuplicateKey(StoreError):
    def __init__(self, table: str, field: str, value: Any):
        super().__init__(f"{table}: duplicate {field}={value!r}")
        self.table, self.field, self.value = table, field, value


class RecordMissing(StoreError):
    """``update`` of a document that does not exist (any more)."""


class StoreUnavailable(StoreError, NotSaved):
    """The write could not be made durable (disk full, I/O error): nothing was acknowledged.

    A user who meets it gets the honest 503 page of ``NotSaved``; ``str(exc)`` keeps the
    technical detail for the log, never shown."""

    def __init__(self, *args: object):
        Exception.__init__(self, *args)
        self.headers: dict[str, str] = {}


class StoreLocked(StoreError):
    """Another process holds the data directory."""


@dataclass(frozen=True)
class Selection:
    """One page of a ``select``: the documents, and how many matched in all."""

    total: int
    docs: list[Doc]


@dataclass
class StoreReport:
    """What `formservice store check` prints."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Engine(ABC):
    """A document engine holding the tables of TABLES."""

    @abstractmethod
    async def get(self, table: str, id: str) -> Doc | None: ...

    @abstractmethod
    async def find(self, table: str, field: str, value: Any) -> list[Doc]:
        """Documents whose `field` equals `value`; `field` must be unique or indexed."""

    async def find_one(self, table: str, field: str, value: Any) -> Doc | None:
        found = await self.find(table, field, value)
        return found[0] if found else None

    @abstractmethod
    async def scan(self, table: str) -> list[Doc]:
        """Every document of the table (batch jobs only)."""

    @abstractmethod
    async def count(self, table: str) -> int: ...

    @abstractmethod
    async def select(
        self,
        table: str,
        *,
        where: Where | None = None,
        words: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> Selection:
        """The documents matching ``where`` and ``words`` (see the module's docstring), sorted
        by the table's ``order`` field then id, ``limit`` from ``offset``, and their total."""

    @abstractmethod
    async def tally(self, table: str, field: str, *, where: Where | None = None) -> dict[Any, int]:
        """How many documents matching ``where`` have each value of ``field`` (values with no
        document are absent). ``field`` is indexed, or in a counted group with every field of
        ``where``; its values are scalars."""

    @abstractmethod
    async def ids(self, table: str, *, where: Where | None = None) -> list[str]:
        """The ids of the documents matching ``where``, sorted (batch jobs page through them)."""

    @abstractmethod
    async def get_many(self, table: str, ids: Sequence[str]) -> list[Doc]:
        """The documents of ``ids`` that exist, in that order."""

    @abstractmethod
    async def insert(self, table: str, doc: Doc, *, effects: Effects | None = None) -> Doc:
        """Insert ``doc`` and the documents ``effects(doc)`` gives, in one atomic, durable step."""

    @abstractmethod
    async def update(self, table: str, id: str, fn: Mutator, *, effects: Effects | None = None) -> Doc:
        """Atomically replace the document by fn(copy) and insert what ``effects(new)`` gives, in
        the same durable step; RecordMissing if absent. If fn or effects raise, nothing is written."""

    @abstractmethod
    async def delete(self, table: str, id: str, predicate: Callable[[Doc], bool] | None = None) -> bool:
        """Remove the document if present and predicate(doc) holds; True if removed."""

    @abstractmethod
    async def close(self) -> None: ...

    async def check(self) -> StoreReport:
        return StoreReport(counts={t: await self.count(t) for t in TABLES})
