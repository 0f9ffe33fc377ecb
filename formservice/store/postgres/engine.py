"""The PostgreSQL engine: the contract of ``store/contract.py`` over psycopg 3 and its pool.

- Opening (``PostgresEngine(url)``, synchronous, so that ``serve`` refuses a bad database before
  it listens) connects once, creates or migrates the schema (``schema.prepare``) and refuses a
  newer one; the pool of async connections is opened on first use, in the event loop that uses
  it (uvicorn's, a command's ``anyio.run``), and closed by ``close()``.
- Every write is one transaction, committed with ``synchronous_commit = on`` (on the disk of the
  database, and of its synchronous standbys if it has any, before the coroutine returns).
  ``update`` reads the row ``FOR UPDATE``, calls ``fn`` while holding that lock, writes the
  result and inserts the effects before the commit: a version check or a deadline checked by
  ``fn`` is atomic with the write, across every worker and machine.
- Unique fields are UNIQUE constraints: their violation is ``DuplicateKey``; an absent value is
  SQL NULL, which clashes with nothing (as in the memory engine).
- The database unreachable, restarting, full or read-only is ``StoreUnavailable`` (the honest
  503 page), never a 500.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
import psycopg.errors
import psycopg_pool
from psycopg import sql

from formservice.store import contract as base
from formservice.store.contract import (
    Doc,
    DuplicateKey,
    Effects,
    Mutator,
    RecordMissing,
    StoreReport,
    StoreUnavailable,
    Where,
)
from formservice.store.coordination import SharedEngine
from formservice.store.postgres import schema
from formservice.store.postgres.coordination import PostgresCoordination
from formservice.store.postgres.errors import UNAVAILABLE, redacted, unavailable
from formservice.store.postgres.layout import Layout, dumps, layout
from formservice.store.postgres.queries import consistency_checks, where_clause

log = logging.getLogger("formservice.store.postgres")
T = TypeVar("T")


class PostgresEngine(SharedEngine):
    """``PostgresEngine("postgresql://user@host/db")`` (libpq's URL, ``?host=/run/postgresql``
    for a Unix socket). ``pool_size``: connections of this process at most; ``timeout``: seconds
    a request waits for one before it gets StoreUnavailable."""

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0, connect_timeout: int = 5):
        self.url = url
        self.pool_size = pool_size
        self.timeout = timeout
        self._connect_timeout = connect_timeout
        self._pool: psycopg_pool.AsyncConnectionPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._coordination = PostgresCoordination(self)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
                for note in schema.prepare(conn):
                    log.info("%s", note)
        except UNAVAILABLE as exc:
            raise unavailable(url, exc) from exc

    def __repr__(self) -> str:
        return f"PostgresEngine({redacted(self.url)!r})"

    @property
    def coordination(self) -> PostgresCoordination:
        """Throttles, mail claims and leadership, shared by every process on this database."""
        return self._coordination

    # -- connections ---------------------------------------------------------------------------------

    async def _configure(self, conn: psycopg.AsyncConnection) -> None:
        await conn.execute("SET synchronous_commit = on")

    async def _open_pool(self) -> psycopg_pool.AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise StoreUnavailable("store fermé")
        if self._pool is not None and self._pool_loop is loop:
            return self._pool
        if self._pool is not None:
            raise RuntimeError("a PostgresEngine serves one event loop; open another engine for this one")
        pool = psycopg_pool.AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            timeout=self.timeout,
            kwargs={
                "autocommit": True,
                "connect_timeout": self._connect_timeout,
                "application_name": f"formservice-{os.getpid()}",  # which process, in pg_stat_activity
            },
            configure=self._configure,
            check=_check_if_idle,
            name="formservice",
        )
        self._pool, self._pool_loop = pool, loop
        await pool.open(wait=False)
        return pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection (autocommit: a read is one round trip); the database's troubles
        come out as StoreUnavailable."""
        try:
            pool = await self._open_pool()
            async with pool.connection() as conn:
                yield conn
                _USED[conn] = time.monotonic()
        except UNAVAILABLE as exc:
            raise unavailable(self.url, exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """One transaction, rolled back if the block raises (the exception goes on unchanged).
        Its statements are pipelined: sent without waiting for each answer, until a result is
        read, so a write costs two round trips (its read, then the rest with the commit), not
        one per statement. A unique violation, wherever the pipeline reports it, is DuplicateKey."""
        try:
            async with self.connection() as conn, conn.pipeline(), conn.transaction():
                yield conn
        except psycopg.errors.UniqueViolation as exc:
            raise duplicate(exc) from None

    async def _read(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """``work(conn)``, once more on another connection if the first was found cut (the
        database restarted, or ended it, since it last served): a read can always be redone."""
        try:
            async with self.connection() as conn:
                return await work(conn)
        except StoreUnavailable as exc:
            if not isinstance(exc.__cause__, psycopg.OperationalError) or isinstance(
                exc.__cause__, psycopg_pool.PoolTimeout
            ):
                raise
        async with self.connection() as conn:
            return await work(conn)

    async def _rows(self, query: sql.Composed | sql.SQL, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async def rows(conn: psycopg.AsyncConnection) -> list[tuple[Any, ...]]:
            return await (await conn.execute(query, params)).fetchall()

        return await self._read(rows)

    # -- reads -----------------------------------------------------------------------------------------

    async def get(self, table: str, id: str) -> Doc | None:
        lay = layout(table)
        rows = await self._rows(sql.SQL("SELECT doc FROM {} WHERE id = %s").format(lay.table), [id])
        return rows[0][0] if rows else None

    async def find(self, table: str, field: str, value: Any) -> list[Doc]:
        lay = layout(table)
        column = lay.column(field)
        if value is None:
            query = sql.SQL("SELECT doc FROM {} WHERE {} IS NULL").format(lay.table, column)
            return [r[0] for r in await self._rows(query)]
        query = sql.SQL("SELECT doc FROM {} WHERE {} = %s::jsonb").format(lay.table, column)
        return [r[0] for r in await self._rows(query, [dumps(value)])]

    async def scan(self, table: str) -> list[Doc]:
        lay = layout(table)
        return [r[0] for r in await self._rows(sql.SQL("SELECT doc FROM {}").format(lay.table))]

    async def count(self, table: str) -> int:
        lay = layout(table)
        return int((await self._rows(sql.SQL("SELECT count(*) FROM {}").format(lay.table)))[0][0])

    async def select(
        self,
        table: str,
        *,
        where: Where | None = None,
        words: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> base.Selection:
        lay = layout(table)
        clause, params = where_clause(lay, where, words)
        order: list[sql.Composable] = [c for c in (lay.order_column,) if c is not None]
        order.append(sql.Identifier("id"))
        page = sql.SQL("SELECT doc FROM {} t WHERE {} ORDER BY {} LIMIT %s OFFSET %s").format(
            lay.table, clause, sql.SQL(", ").join(order)
        )
        total = sql.SQL("SELECT count(*) FROM {} t WHERE {}").format(lay.table, clause)

        async def both(conn: psycopg.AsyncConnection) -> tuple[Any, list[tuple[Any, ...]]]:
            counted = await (await conn.execute(total, params)).fetchone()
            rows = await (await conn.execute(page, [*params, max(0, limit), max(0, offset)])).fetchall()
            return counted, rows

        counted, rows = await self._read(both)
        return base.Selection(int(counted[0]) if counted else 0, [r[0] for r in rows])

    async def tally(self, table: str, field: str, *, where: Where | None = None) -> dict[Any, int]:
        lay = layout(table)
        column = lay.column(field, tally=True)
        clause, params = where_clause(lay, where, tally=True)
        query = sql.SQL("SELECT {}, count(*) FROM {} t WHERE {} GROUP BY 1").format(column, lay.table, clause)
        return {value: int(n) for value, n in await self._rows(query, params)}

    async def ids(self, table: str, *, where: Where | None = None) -> list[str]:
        lay = layout(table)
        clause, params = where_clause(lay, where)
        query = sql.SQL("SELECT id FROM {} t WHERE {} ORDER BY id").format(lay.table, clause)
        return [r[0] for r in await self._rows(query, params)]

    async def get_many(self, table: str, ids: Sequence[str]) -> list[Doc]:
        lay = layout(table)
        if not ids:
            return []
        query = sql.SQL("SELECT id, doc FROM {} WHERE id = ANY(%s)").format(lay.table)
        found = {doc_id: doc for doc_id, doc in await self._rows(query, [list(dict.fromkeys(ids))])}
        given: set[str] = set()
        docs = []
        for doc_id in ids:
            if doc_id in found:  # an id asked twice gets two copies, as reads return copies
                docs.append(copy.deepcopy(found[doc_id]) if doc_id in given else found[doc_id])
                given.add(doc_id)
        return docs

    # -- writes ----------------------------------------------------------------------------------------

    async def _insert_row(self, conn: psycopg.AsyncConnection, table: str, doc: Doc) -> Doc:
        lay = layout(table)
        new, body = _stamped(table, doc)
        await conn.execute(lay.insert, [new["id"], body, *lay.values(new)])
        await _write_words(conn, lay, new["id"], lay.words(new))
        return new

    async def _insert_effects(self, conn: psycopg.AsyncConnection, new: Doc, effects: Effects | None) -> None:
        for table, doc in effects(json.loads(dumps(new))) if effects else ():
            await self._insert_row(conn, table, doc)

    async def insert(self, table: str, doc: Doc, *, effects: Effects | None = None) -> Doc:
        layout(table)
        async with self.transaction() as conn:
            new = await self._insert_row(conn, table, doc)
            await self._insert_effects(conn, new, effects)
        return new

    async def update(self, table: str, id: str, fn: Mutator, *, effects: Effects | None = None) -> Doc:
        lay = layout(table)
        async with self.transaction() as conn:
            cursor = await conn.execute(
                sql.SQL("SELECT doc FROM {} WHERE id = %s FOR UPDATE").format(lay.table), [id]
            )
            row = await cursor.fetchone()
            if row is None:
                raise RecordMissing(f"{table}/{id}")
            current: Doc = row[0]
            old_words = lay.words(current)  # before fn may modify `current`
            result = fn(current)
            if not isinstance(result, dict):
                raise TypeError(f"{table}: update function must return a dict, not {type(result).__name__}")
            new, body = _stamped(table, {**result, "id": id})
            await conn.execute(lay.update, [body, *lay.values(new), id])
            words = lay.words(new)
            if words != old_words:
                await conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(lay.words_table), [id])
                await _write_words(conn, lay, id, words)
            await self._insert_effects(conn, new, effects)
        return new

    async def delete(self, table: str, id: str, predicate: Callable[[Doc], bool] | None = None) -> bool:
        lay = layout(table)
        async with self.transaction() as conn:
            if predicate is not None:
                cursor = await conn.execute(
                    sql.SQL("SELECT doc FROM {} WHERE id = %s FOR UPDATE").format(lay.table), [id]
                )
                row = await cursor.fetchone()
                if row is None or not predicate(row[0]):
                    return False
            cursor = await conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s RETURNING id").format(lay.table), [id]
            )
            return await cursor.fetchone() is not None

    # -- life cycle -------------------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        await self._coordination.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def check(self) -> StoreReport:
        """Counts, and every derived column and word compared with the document it comes from."""
        report = StoreReport()
        async with self.connection() as conn:
            for name in base.TABLES:
                lay = layout(name)
                row = await (
                    await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(lay.table))
                ).fetchone()
                report.counts[name] = int(row[0]) if row else 0
                for query, what in consistency_checks(lay):
                    found = await (await conn.execute(query)).fetchone()
                    if found and found[0]:
                        report.problems.append(f"{name} : {found[0]} document(s) dont {what}")
        return report


# When each pooled connection last served without error: one that has just answered is alive, so
# it is lent again without the round trip of a check; one idle for a while may have been cut (the
# database restarted) and is checked before it is lent. (Not the pool's ``reset`` callback: with
# one, the pool returns every connection through a background task.)
_USED: weakref.WeakKeyDictionary[psycopg.AsyncConnection, float] = weakref.WeakKeyDictionary()
FRESH_S = 2.0


async def _check_if_idle(conn: psycopg.AsyncConnection) -> None:
    if time.monotonic() - _USED.get(conn, 0.0) > FRESH_S:
        await psycopg_pool.AsyncConnectionPool.check_connection(conn)


def duplicate(exc: psycopg.errors.UniqueViolation) -> DuplicateKey:
    """The store's error for a unique constraint violated (the primary key: ``id``)."""
    table = exc.diag.table_name or ""
    field = layout(table).field_of_constraint(exc.diag.constraint_name) if table in base.TABLES else "id"
    found = re.search(r"\)=\((.*)\) already exists", exc.diag.message_detail or "")
    return DuplicateKey(table, field, found.group(1) if found else None)


def _stamped(table: str, doc: Doc) -> tuple[Doc, str]:
    """The document as written (a private copy, stamped with the schema) and its JSON text;
    TypeError or ValueError if it is not JSON, as the TinyDB engine refuses it."""
    if not isinstance(doc.get("id"), str):
        raise ValueError(f"{table}: a document needs a string 'id'")
    body = dumps({**doc, "_schema": base.SCHEMA_VERSION})
    return json.loads(body), body


async def _write_words(conn: psycopg.AsyncConnection, lay: Layout, doc_id: str, words: list[str]) -> None:
    if not words:
        return
    await conn.execute(
        sql.SQL("INSERT INTO {} (id, word) SELECT %s, unnest(%s::text[])").format(lay.words_table),
        [doc_id, words],
    )


__all__ = ["PostgresEngine"]
