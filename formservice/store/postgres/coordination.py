"""The coordination of the workers of one PostgreSQL store (``store/coordination.py``).

- States (throttles, uploads in flight): rows of ``formservice_states``, one per (kind, key),
  changed under a transaction-level advisory lock per key (taken in one order: no deadlock), so
  that a check and its count are one step for every worker. Committed without waiting for the
  disk (``synchronous_commit = off``): losing the last second of throttle counts in a crash of
  the database is harmless; the table is UNLOGGED for the same reason.
- Mail claims: ``formservice_claims`` (mail, recipient, until). ``claim_mails`` runs under one
  advisory lock (claims are short), reads the pending mails ``FOR UPDATE SKIP LOCKED`` (a mail
  whose state another worker is writing is skipped, not waited for), and claims the oldest due
  mail of each recipient who has none claimed: two workers never send the same mail, nor two
  mails of one person at once. A claim whose worker died (its liveness lock is gone) or whose
  lease lapsed is deleted by the next claim: the mail goes out again, with its Message-ID.
- Leadership: a session-level advisory lock per job, held on a connection of its own; when the
  leader dies, its connection closes, the lock is free and another worker takes it at its next
  ``lead``.
- Liveness: on the same connection, each worker holds a lock of its own (``worker_key``); a
  state naming a worker (a place among an account's uploads in flight) is void once that lock
  is gone from ``pg_locks``: a ``kill -9`` frees it at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import zlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from formservice.states import Exchange, Key, State, T
from formservice.store.contract import Doc
from formservice.store.coordination import Coordination, due_mails, oldest_per_recipient
from formservice.store.postgres.errors import unavailable
from formservice.store.postgres.layout import layout


class Connections(Protocol):
    """What the coordination needs of the engine: its URL and its pooled connections."""

    url: str

    def connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection]: ...

    def transaction(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection]: ...


R = TypeVar("R")

LOCK_CLASS = 0x46530001  # first key of the two-integer advisory locks (claims, leaders)
LIVE_CLASS = 0x46530002  # each worker holds (LIVE_CLASS, its key) while it lives
CLAIM_LOCK = 1
# The workers alive: those holding their (LIVE_CLASS, key) lock on this database.
LIVE_LOCKS = (
    "locktype = 'advisory' AND classid = %s::oid AND objsubid = 2 AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)

DDL = [
    "CREATE UNLOGGED TABLE IF NOT EXISTS formservice_states (kind text NOT NULL, key text NOT NULL, "
    "state jsonb NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (kind, key))",
    "CREATE INDEX IF NOT EXISTS formservice_states__expires ON formservice_states (expires_at)",
    "CREATE UNLOGGED TABLE IF NOT EXISTS formservice_claims (mail_id text PRIMARY KEY, "
    "recipient text NOT NULL, until timestamptz NOT NULL, owner bigint NOT NULL)",
]


def key_lock(key: Key) -> int:
    """A signed 64-bit advisory lock key for one state (a collision only serialises more)."""
    digest = hashlib.blake2b(f"{key[0]}\0{key[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def job_lock(job: str) -> int:
    return zlib.crc32(job.encode()) & 0x7FFFFFFF


class PostgresCoordination(Coordination):
    shared = True

    def __init__(self, engine: Connections):
        self.engine = engine
        self._leader: psycopg.AsyncConnection | None = None
        self._led: set[str] = set()
        self._leader_lock: asyncio.Lock | None = None
        self.worker_key = secrets.randbelow(2**31 - 2) + 1

    async def exchange(self, keys: Sequence[Key], fn: Exchange[T], *, now: datetime, ttl: timedelta) -> T:
        kinds, names = [k[0] for k in keys], [k[1] for k in keys]
        async with self.engine.transaction() as conn:
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) k ORDER BY k",
                [sorted({key_lock(k) for k in keys})],
            )
            cursor = await conn.execute(
                "SELECT kind, key, state FROM formservice_states WHERE (kind, key) IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[])) AND expires_at > %s",
                [kinds, names, now],
            )
            found: dict[Key, State] = {(kind, key): state for kind, key, state in await cursor.fetchall()}
            new, result = fn([found.get(k) for k in keys])
            kept = [(k, s) for k, s in zip(keys, new, strict=True) if s is not None]
            gone = [k for k, s in zip(keys, new, strict=True) if s is None and k in found]
            if kept:
                await conn.execute(
                    "INSERT INTO formservice_states (kind, key, state, expires_at) "
                    "SELECT * FROM unnest(%s::text[], %s::text[], %s::jsonb[], %s::timestamptz[]) "
                    "ON CONFLICT (kind, key) DO UPDATE "
                    "SET state = excluded.state, expires_at = excluded.expires_at",
                    [[k[0] for k, _ in kept], [k[1] for k, _ in kept], [Jsonb(s) for _, s in kept],
                     [now + ttl] * len(kept)],
                )  # fmt: skip
            if gone:
                await conn.execute(
                    "DELETE FROM formservice_states WHERE (kind, key) IN "
                    "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                    [[k[0] for k in gone], [k[1] for k in gone]],
                )
        return result

    async def sweep(self, now: datetime) -> int:
        async with self.engine.connection() as conn:
            cursor = await conn.execute("DELETE FROM formservice_states WHERE expires_at <= %s", [now])
            return cursor.rowcount

    async def claim_mails(self, now: datetime, *, exclude: Collection[str], lease: timedelta) -> list[Doc]:
        outbox = layout("outbox")
        me = int(await self.owner())
        async with self.engine.transaction() as conn:  # pipelined: two round trips
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, CLAIM_LOCK])
            await conn.execute(  # lapsed, or taken by a worker that died
                "DELETE FROM formservice_claims WHERE until < clock_timestamp() OR owner NOT IN "
                f"(SELECT objid::bigint FROM pg_locks WHERE {LIVE_LOCKS})",
                [LIVE_CLASS],
            )
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT o.doc, EXISTS (SELECT 1 FROM formservice_claims c WHERE c.mail_id = o.id), "
                    "EXISTS (SELECT 1 FROM formservice_claims c WHERE c.recipient = o.doc ->> 'to') "
                    "FROM {} o WHERE o.{} = %s::jsonb FOR UPDATE OF o SKIP LOCKED"
                ).format(outbox.table, outbox.column("state")),
                ['"pending"'],
            )
            rows = await cursor.fetchall()
            busy = {doc["to"] for doc, claimed, taken in rows if claimed or taken}
            free = [doc for doc, claimed, _ in rows if not claimed and doc["id"] not in exclude]
            batch = oldest_per_recipient(due_mails(free, now), busy)
            if batch:
                await conn.execute(
                    "INSERT INTO formservice_claims (mail_id, recipient, until, owner) "
                    "SELECT m, r, clock_timestamp() + %s, %s FROM unnest(%s::text[], %s::text[]) AS u(m, r)",
                    [lease, me, [m["id"] for m in batch], [m["to"] for m in batch]],
                )
        return batch

    async def release_mail(self, mail_id: str) -> None:
        async with self.engine.connection() as conn:
            await conn.execute("DELETE FROM formservice_claims WHERE mail_id = %s", [mail_id])

    async def lead(self, job: str) -> bool:
        return await self._on_own_connection(self._lead, job)

    async def owner(self) -> str:
        """This worker's key (its liveness lock taken on the way, if the connection is new)."""
        await self._on_own_connection(_nothing)
        return str(self.worker_key)

    async def live_owners(self) -> set[str]:
        async with self.engine.connection() as conn:
            alive = await self._live(conn)
        if str(self.worker_key) not in alive:  # our own connection was lost: take it again
            await self.owner()
            alive.add(str(self.worker_key))
        return alive

    async def _live(self, conn: psycopg.AsyncConnection) -> set[str]:
        """The workers holding their liveness lock on this database (``pg_locks``)."""
        cursor = await conn.execute(f"SELECT objid FROM pg_locks WHERE {LIVE_LOCKS}", [LIVE_CLASS])
        return {str(row[0]) for row in await cursor.fetchall()}

    async def _on_own_connection(self, step: Callable[..., Awaitable[R]], *args: str) -> R:
        """``step(conn, *args)`` on this worker's own connection (it holds the session locks:
        liveness, leaderships), opened or reopened as needed."""
        if self._leader_lock is None:
            self._leader_lock = asyncio.Lock()
        async with self._leader_lock:
            try:
                return await step(await self._alive(), *args)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                await self._drop_leader()  # its locks went with it
                raise unavailable(self.engine.url, exc) from exc

    async def _alive(self) -> psycopg.AsyncConnection:
        conn = self._leader
        if conn is not None and (conn.closed or conn.broken):
            await self._drop_leader()
            conn = None
        if conn is None:
            conn = await psycopg.AsyncConnection.connect(self.engine.url, autocommit=True, connect_timeout=5)
            self._leader = conn
            await conn.execute("SELECT pg_advisory_lock(%s, %s)", [LIVE_CLASS, self.worker_key])
        return conn

    async def _lead(self, conn: psycopg.AsyncConnection, job: str) -> bool:
        if job in self._led:
            await conn.execute("SELECT 1")  # the connection, hence the lock, is still there
            return True
        row = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, job_lock(job)])
        ).fetchone()
        if row and row[0]:
            self._led.add(job)
            return True
        return False

    async def _drop_leader(self) -> None:
        conn, self._leader = self._leader, None
        self._led.clear()
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        await self._drop_leader()


async def _nothing(conn: psycopg.AsyncConnection) -> None:
    return None
