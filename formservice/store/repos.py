"""Repositories in the domain's words, over any Engine.

The use-case services call these; none of them knows which engine is underneath. They return
the typed records of ``records.py`` (the engine deals in plain dicts; the casts live here, once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from formservice.clock import from_iso
from formservice.states import MemoryStates
from formservice.store.contract import (
    Doc,
    DuplicateKey,
    Effects,
    Engine,
    RecordMissing,
    Selection,
    StoreUnavailable,
    Where,
)
from formservice.store.coordination import Coordination, coordination_of, due_mails
from formservice.store.records import Account, Enrolment, OutboxMail, Session

AccountMutator = Callable[[Account], Account]
# The mails a change causes, given the record as it will be written (see ``Engine`` effects).
Mails = Sequence[OutboxMail]
EnrolmentMutator = Callable[[Enrolment], Enrolment]
SessionMutator = Callable[[Session], Session]


def _mails(mails: Callable[[Any], Mails] | Mails | None) -> Effects | None:
    """Engine effects inserting ``mails`` (a list, or a function of the record written)."""
    if mails is None:
        return None
    if callable(mails):
        build = mails
        return lambda doc: [("outbox", dict(m)) for m in build(doc)]
    fixed = [("outbox", dict(m)) for m in mails]
    return lambda doc: fixed


class _Repository:
    table = ""

    def __init__(self, store: Store):
        self._store = store

    @property
    def engine(self) -> Engine:
        return self._store.engine

    async def _insert_unless_taken(self, doc: Doc, mails: Mails) -> bool:
        """Insert ``doc`` (and its mails) unless its id or a unique field is taken: False then."""
        try:
            await self.engine.insert(self.table, doc, effects=_mails(mails))
        except DuplicateKey as exc:
            if exc.table != self.table:  # a mail's id clashing is a bug, not a taken address
                raise
            return False
        return True


class Accounts(_Repository):
    table = "accounts"

    async def get(self, account_id: str) -> Account | None:
        return cast(Account | None, await self.engine.get(self.table, account_id))

    async def by_email(self, email: str) -> Account | None:
        return cast(Account | None, await self.engine.find_one(self.table, "email", email))

    async def create_if_email_free(self, account: Account, mails: Mails = ()) -> bool:
        """Insert the account (and its ``mails``, in the same step) unless its e-mail is taken;
        atomic, so two signups racing on one address give one account and one mail."""
        return await self._insert_unless_taken(dict(account), mails)

    async def update(
        self, account_id: str, fn: AccountMutator, mails: Callable[[Account], Mails] | None = None
    ) -> Account:
        return cast(
            Account, await self.engine.update(self.table, account_id, cast(Any, fn), effects=_mails(mails))
        )

    async def delete_if(self, account_id: str, predicate: Callable[[Account], bool]) -> bool:
        return await self.engine.delete(self.table, account_id, cast(Any, predicate))

    async def with_status(self, status: str) -> list[Account]:
        return cast(list[Account], await self.engine.find(self.table, "status", status))

    async def count(self) -> int:
        return await self.engine.count(self.table)

    async def count_by_status(self) -> dict[str, int]:
        return {str(k): n for k, n in (await self.engine.tally(self.table, "status")).items()}

    async def all_paged(self, *, page_size: int = 500) -> AsyncIterator[list[Account]]:
        """Every account, ``page_size`` at a time, in id order (batch jobs: reminders, retention).
        The memory held is the ids' and one page's."""
        ids = await self.engine.ids(self.table)
        for start in range(0, len(ids), page_size):
            yield cast(list[Account], await self.engine.get_many(self.table, ids[start : start + page_size]))


class Sessions(_Repository):
    table = "sessions"

    async def create(self, session: Session) -> Session:
        return cast(Session, await self.engine.insert(self.table, dict(session)))

    async def get(self, session_id: str) -> Session | None:
        return cast(Session | None, await self.engine.get(self.table, session_id))

    async def update(self, session_id: str, fn: SessionMutator) -> Session:
        return cast(Session, await self.engine.update(self.table, session_id, cast(Any, fn)))

    async def delete(self, session_id: str) -> bool:
        return await self.engine.delete(self.table, session_id)

    async def delete_for_account(self, account_id: str, keep: str | None = None) -> int:
        removed = 0
        for doc in await self.engine.find(self.table, "account_id", account_id):
            if doc["id"] != keep and await self.engine.delete(self.table, doc["id"]):
                removed += 1
        return removed

    async def expired(self, now: datetime, idle: timedelta, absolute: timedelta) -> list[Session]:
        """Sessions past their idle or absolute timeout at ``now`` (for the periodic purge: a
        batch job, the one place that reads the whole table)."""
        return [
            cast(Session, doc)
            for doc in await self.engine.scan(self.table)
            if session_expired(cast(Session, doc), now, idle, absolute)
        ]


def session_expired(session: Session, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
    """The one rule of session expiry, used by the requests and by the purge."""
    return now - from_iso(session["created_at"]) >= absolute or now - from_iso(session["last_seen"]) >= idle


class Enrolments(_Repository):
    """One enrolment per account and session; uploads and requests live inside it, so that a
    save, an upload or « J'ai fourni toutes mes pièces » is one atomic, version-checked write.

    ``derive`` (set by the composition root: ``review.listing.with_listing`` under the notice
    in force) completes every document written with the fields the office's list filters, sorts
    and searches on, inside the same atomic write: no write path can forget them."""

    table = "enrolments"

    def __init__(self, store: Store):
        super().__init__(store)
        self.derive: EnrolmentMutator = lambda doc: doc

    async def get(self, enrolment_id: str) -> Enrolment | None:
        return cast(Enrolment | None, await self.engine.get(self.table, enrolment_id))

    async def for_account(self, account_id: str) -> list[Enrolment]:
        return cast(list[Enrolment], await self.engine.find(self.table, "account_id", account_id))

    async def get_by_key(self, key: str) -> Enrolment | None:
        """The enrolment of one account for one session (see `enrolment_key`)."""
        return cast(Enrolment | None, await self.engine.find_one(self.table, "key", key))

    async def create_if_absent(self, enrolment: Enrolment, mails: Mails = ()) -> bool:
        """Insert (with its ``mails``) unless the account already has one for this session."""
        return await self._insert_unless_taken(dict(self.derive(cast(Enrolment, dict(enrolment)))), mails)

    async def update(
        self, enrolment_id: str, fn: EnrolmentMutator, mails: Callable[[Enrolment], Mails] | None = None
    ) -> Enrolment:
        """Atomically apply ``fn``; ``mails(new)`` are recorded in the same step."""
        derive = self.derive
        return cast(
            Enrolment,
            await self.engine.update(
                self.table,
                enrolment_id,
                lambda doc: cast(Doc, derive(fn(cast(Enrolment, doc)))),
                effects=_mails(mails),
            ),
        )

    async def with_status(self, status: str) -> list[Enrolment]:
        return cast(list[Enrolment], await self.engine.find(self.table, "status", status))

    async def listing(
        self, where: Where, *, words: Sequence[str] = (), offset: int = 0, limit: int = 50
    ) -> tuple[int, list[Enrolment]]:
        """One page of the office's list (``Engine.select`` on the derived fields): the total
        matching, and the page's dossiers in the list's order."""
        found: Selection = await self.engine.select(
            self.table, where=where, words=words, offset=offset, limit=limit
        )
        return found.total, cast(list[Enrolment], found.docs)

    async def tally(self, field: str, where: Where) -> dict[Any, int]:
        """How many dossiers matching ``where`` have each value of the derived ``field``."""
        return await self.engine.tally(self.table, field, where=where)

    async def _pages(self, ids: list[str], page_size: int) -> AsyncIterator[list[Enrolment]]:
        for start in range(0, len(ids), page_size):
            yield cast(
                list[Enrolment], await self.engine.get_many(self.table, ids[start : start + page_size])
            )

    async def all_paged(self, *, page_size: int = 500) -> AsyncIterator[list[Enrolment]]:
        """Every enrolment of every session, ``page_size`` at a time, in id order (the file
        reconciliation at start). The memory held is the ids' and one page's."""
        async for page in self._pages(await self.engine.ids(self.table), page_size):
            yield page

    async def of_session(
        self, session_name: str, *, page_size: int = 500, where: Where | None = None
    ) -> AsyncIterator[list[Enrolment]]:
        """Every enrolment of one session (matching ``where`` too, if given), ``page_size`` at a
        time, in id order (batch jobs: exports, reminders). The memory held is one page's and
        the ids', not the table's; a dossier deleted meanwhile is skipped."""
        ids = await self.engine.ids(self.table, where={**(where or {}), "session": [session_name]})
        async for page in self._pages(ids, page_size):
            yield page

    async def delete_if(self, enrolment_id: str, predicate: Callable[[Enrolment], bool]) -> bool:
        """Remove the enrolment if ``predicate`` holds under the store's lock (retention)."""
        return await self.engine.delete(self.table, enrolment_id, cast(Any, predicate))


class Outbox(_Repository):
    """Mails waiting for the relay. Pending ones are few (delivered within seconds), so reading
    them by state is cheap; delivered ones are deleted."""

    table = "outbox"

    async def add(self, mail: OutboxMail) -> None:
        await self.engine.insert(self.table, dict(mail))

    async def get(self, mail_id: str) -> OutboxMail | None:
        return cast(OutboxMail | None, await self.engine.get(self.table, mail_id))

    async def with_state(self, state: str) -> list[OutboxMail]:
        return cast(list[OutboxMail], await self.engine.find(self.table, "state", state))

    async def due(self, now: datetime) -> list[OutboxMail]:
        """Pending mails whose next attempt is due, oldest first."""
        return cast(list[OutboxMail], due_mails(cast(list[Doc], await self.with_state("pending")), now))

    async def update(self, mail_id: str, fn: Callable[[OutboxMail], OutboxMail]) -> OutboxMail:
        return cast(OutboxMail, await self.engine.update(self.table, mail_id, cast(Any, fn)))

    async def delete(self, mail_id: str) -> bool:
        return await self.engine.delete(self.table, mail_id)

    async def delete_if(self, mail_id: str, predicate: Callable[[OutboxMail], bool]) -> bool:
        return await self.engine.delete(self.table, mail_id, cast(Any, predicate))


class Counters(_Repository):
    """Running totals of events that leave no document behind (an account purged), for the
    statistics: ``add`` is an atomic increment (an update, or the first insert)."""

    table = "counters"

    async def add(self, name: str, n: int = 1) -> int:
        """Add ``n``; the new total (each caller gets its own: the increment is atomic)."""
        for _ in range(3):
            try:
                doc = await self.engine.update(
                    self.table, name, lambda doc: {**doc, "n": int(doc.get("n", 0)) + n}
                )
                return int(doc["n"])
            except RecordMissing:
                pass
            try:
                await self.engine.insert(self.table, {"id": name, "n": n})
                return n
            except DuplicateKey:
                continue  # another writer inserted it first: increment theirs
        raise StoreUnavailable(f"counters/{name}: no increment after 3 tries")

    async def value(self, name: str) -> int:
        doc = await self.engine.get(self.table, name)
        return int(doc["n"]) if doc else 0

    async def text(self, name: str) -> str | None:
        """A small marker kept beside the counters (what a batch job last did), or None."""
        doc = await self.engine.get(self.table, name)
        return str(doc["text"]) if doc and "text" in doc else None

    async def set_text(self, name: str, text: str) -> None:
        try:
            await self.engine.update(self.table, name, lambda doc: {**doc, "text": text})
        except RecordMissing:
            try:
                await self.engine.insert(self.table, {"id": name, "text": text})
            except DuplicateKey:
                await self.engine.update(self.table, name, lambda doc: {**doc, "text": text})


class Store:
    """The repositories over one engine.

    The composition root builds it before the engine is opened (the lifespan opens the durable
    one); until ``attach`` and after ``close``, every call raises StoreUnavailable, whose page
    says honestly that nothing was recorded."""

    def __init__(self, engine: Engine | None = None):
        self._engine = engine
        self.accounts = Accounts(self)
        self.sessions = Sessions(self)
        self.enrolments = Enrolments(self)
        self.outbox = Outbox(self)
        self.staff = StaffMembers(self)
        self.staff_sessions = StaffSessions(self)
        self.counters = Counters(self)
        self.local_states = MemoryStates()  # throttles and uploads in flight, when nothing is shared
        self._coordination: tuple[Engine, Coordination] | None = None

    @property
    def coordination(self) -> Coordination:
        """What the processes serving this store agree on (``store/coordination.py``): the
        engine's own when others share its records, else this process's."""
        engine = self.engine
        if self._coordination is None or self._coordination[0] is not engine:
            self._coordination = (engine, coordination_of(engine, self.local_states))
        return self._coordination[1]

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreUnavailable("the store is not open")
        return self._engine

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def attach(self, engine: Engine) -> None:
        if self._engine is not None and self._engine is not engine:
            raise RuntimeError("the store already has an engine")
        self._engine = engine

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.close()

    def __repr__(self) -> str:
        return f"Store({type(self._engine).__name__})"


def enrolment_key(account_id: str, session_name: Any) -> str:
    return f"{account_id}:{session_name}"


__all__ = [
    "Accounts",
    "Doc",
    "Enrolments",
    "Mails",
    "Outbox",
    "Sessions",
    "Store",
    "enrolment_key",
    "session_expired",
]


# -- staff: the exam office's back office --------------------------------------------------------
# (imported here, with the repositories that use them, so that this part of the module stands alone)
from formservice.store.records import Staff, StaffSession  # noqa: E402

StaffMutator = Callable[[Staff], Staff]
StaffSessionMutator = Callable[[StaffSession], StaffSession]


class StaffMembers(_Repository):
    """The exam office's accounts: few (tens), looked up by id, e-mail or status."""

    table = "staff"

    async def get(self, staff_id: str) -> Staff | None:
        return cast(Staff | None, await self.engine.get(self.table, staff_id))

    async def by_email(self, email: str) -> Staff | None:
        return cast(Staff | None, await self.engine.find_one(self.table, "email", email))

    async def create_if_email_free(self, staff: Staff, mails: Mails = ()) -> bool:
        """Insert the member (and its invitation mail, in the same step) unless the e-mail is
        taken; atomic, so two invitations racing on one address give one member and one mail."""
        return await self._insert_unless_taken(dict(staff), mails)

    async def update(
        self, staff_id: str, fn: StaffMutator, mails: Callable[[Staff], Mails] | None = None
    ) -> Staff:
        """Atomically apply ``fn`` (it may raise to refuse: nothing is written); ``mails(new)``
        are recorded in the same step."""
        return cast(
            Staff, await self.engine.update(self.table, staff_id, cast(Any, fn), effects=_mails(mails))
        )

    async def all(self) -> list[Staff]:
        """Every member, by e-mail (the table is small: the office's staff)."""
        return sorted(cast(list[Staff], await self.engine.scan(self.table)), key=lambda s: s["email"])

    async def with_status(self, status: str) -> list[Staff]:
        return cast(list[Staff], await self.engine.find(self.table, "status", status))


class StaffSessions(_Repository):
    """Staff sessions, apart from the candidates' (own table, own cookie, own timeouts)."""

    table = "staff_sessions"

    async def create(self, session: StaffSession) -> StaffSession:
        return cast(StaffSession, await self.engine.insert(self.table, dict(session)))

    async def get(self, session_id: str) -> StaffSession | None:
        return cast(StaffSession | None, await self.engine.get(self.table, session_id))

    async def update(self, session_id: str, fn: StaffSessionMutator) -> StaffSession:
        return cast(StaffSession, await self.engine.update(self.table, session_id, cast(Any, fn)))

    async def delete(self, session_id: str) -> bool:
        return await self.engine.delete(self.table, session_id)

    async def delete_for_staff(self, staff_id: str, keep: str | None = None) -> int:
        removed = 0
        for doc in await self.engine.find(self.table, "staff_id", staff_id):
            if doc["id"] != keep and await self.engine.delete(self.table, doc["id"]):
                removed += 1
        return removed

    async def expired(self, now: datetime, idle: timedelta, absolute: timedelta) -> list[StaffSession]:
        """Sessions past their idle or absolute timeout at ``now`` (the periodic purge)."""
        return [
            cast(StaffSession, doc)
            for doc in await self.engine.scan(self.table)
            if session_expired(cast(Session, doc), now, idle, absolute)
        ]
