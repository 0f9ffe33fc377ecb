"""What the PostgreSQL engine adds to the contract: its schema (created, migrated, a newer one
refused), its columns following TABLES, and a database it cannot reach answering
StoreUnavailable (the honest 503), never a 500. Against a real server (tests/postgres_helpers.py)."""

from __future__ import annotations

import psycopg
import pytest
from postgres_helpers import PostgresServer, back_within

from formservice.store import contract as base
from formservice.store import migrations
from formservice.store.contract import TABLES, StoreUnavailable, TableSpec
from formservice.store.factory import open_engine
from formservice.store.migrations import SchemaTooNew
from formservice.store.postgres import layout as layout_module
from formservice.store.postgres.engine import PostgresEngine
from formservice.store.postgres.errors import redacted
from formservice.store.postgres.schema import LAYOUT_VERSION

from .helpers import account
from .test_migrations import split_names

pytestmark = pytest.mark.anyio


def execute(url: str, query: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params or [])
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def empty_url(postgres_server: PostgresServer) -> str:
    """A database without any table: what an operator creates before the first start."""
    name = postgres_server.new_database(template=None)
    yield postgres_server.url(name)
    postgres_server.drop(name)


async def test_the_first_start_creates_the_schema_and_records_its_migration(empty_url: str) -> None:
    """On an empty database: the tables, their migration recorded once; a second start changes nothing."""
    engine = open_engine(empty_url)
    assert isinstance(engine, PostgresEngine)
    await engine.insert("accounts", account(1))
    await engine.close()
    again = PostgresEngine(empty_url)
    assert (await again.get("accounts", "acc-1") or {})["email"] == account(1)["email"]
    await again.close()
    assert execute(empty_url, "SELECT version FROM formservice_schema") == [(LAYOUT_VERSION,)]
    tables = {r[0] for r in execute(empty_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert set(TABLES) | {"enrolments__words", "formservice_schema", "formservice_meta"} <= tables


async def test_a_database_migrated_by_a_newer_release_is_refused(pg_url: str) -> None:
    """A layout version this release does not know: refused at open, in French, nothing written."""
    execute(
        pg_url, "INSERT INTO formservice_schema (version, name) VALUES (%s, 'future')", [LAYOUT_VERSION + 1]
    )
    with pytest.raises(SchemaTooNew, match="plus récent que celui de ce programme"):
        PostgresEngine(pg_url)


async def test_documents_of_a_newer_release_are_refused(pg_url: str) -> None:
    execute(pg_url, "UPDATE formservice_meta SET value = %s WHERE key = 'documents_schema'", ["99"])
    with pytest.raises(SchemaTooNew, match="documents de la base"):
        PostgresEngine(pg_url)


async def test_older_documents_are_migrated_at_start_with_their_columns(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release bringing document schema 2: every stored document goes through the migration
    at the next start, and stays findable by its indexed fields."""
    engine = PostgresEngine(pg_url)
    await engine.insert("accounts", account(1, name="Léa Martin"))
    await engine.close()
    monkeypatch.setattr(base, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(migrations.MIGRATIONS, 1, split_names)
    upgraded = PostgresEngine(pg_url)
    try:
        doc = await upgraded.find_one("accounts", "email", account(1)["email"])
        assert doc is not None
        assert (doc["_schema"], doc["first_names"], doc["last_name"]) == (2, "Léa", "Martin")
        assert (await upgraded.check()).ok
    finally:
        await upgraded.close()


async def test_a_field_indexed_by_a_new_release_gets_its_column_from_the_documents(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TABLES gains an indexed field: its column is added and filled at start, no step needed."""
    engine = PostgresEngine(pg_url)
    await engine.insert("sessions", {"id": "s1", "account_id": "a1", "kind": "mobile"})
    await engine.close()
    monkeypatch.setitem(TABLES, "sessions", TableSpec(indexed=("account_id", "kind")))
    layout_module.layout.cache_clear()
    try:
        wider = PostgresEngine(pg_url)
        assert [d["id"] for d in await wider.find("sessions", "kind", "mobile")] == ["s1"]
        assert (await wider.check()).ok
        await wider.close()
    finally:
        layout_module.layout.cache_clear()


async def test_an_unreachable_database_is_store_unavailable_never_a_crash(postgres_server) -> None:
    """No server behind the URL: StoreUnavailable at open, its message without the password."""
    url = f"postgresql://formservice:s3cret@/nowhere?host={postgres_server.root}/absent"
    with pytest.raises(StoreUnavailable) as info:
        PostgresEngine(url, connect_timeout=1)
    assert "s3cret" not in str(info.value) and "indisponible" in str(info.value)
    assert redacted(url).startswith("postgresql://formservice:***@")


async def test_a_database_that_stops_answering_gives_store_unavailable(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    """Connections refused and the pool's ones cut while the service runs: reads and writes get
    StoreUnavailable within the engine's timeout; once the database is back, it serves again
    (within seconds: its pool reconnects with growing delays)."""
    engine = PostgresEngine(pg_url, timeout=1.0)
    await engine.insert("accounts", account(1))
    with postgres_server.cut_off(pg_url):
        with pytest.raises(StoreUnavailable):
            await engine.get("accounts", "acc-1")
        with pytest.raises(StoreUnavailable):
            await engine.insert("accounts", account(2))
    assert (await back_within(15, lambda: engine.get("accounts", "acc-1")) or {})["id"] == "acc-1"
    assert await engine.get("accounts", "acc-2") is None
    await engine.close()
