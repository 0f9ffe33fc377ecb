"""The database's schema, created and migrated by the service itself at start.

``formservice_schema`` records each migration applied (version, name, when); ``prepare`` runs
the ones this release has and the database lacks, in one transaction under an advisory lock, so
that several workers starting together migrate once. A database at a *newer* version than
``LAYOUT_VERSION`` is refused (``SchemaTooNew``): an older release must not write into a layout
it does not know; going back is a restore.

Besides the numbered steps, the layout follows ``TABLES`` (``layout.py``): a table or a lookup
field added to the contract gets its table, column (filled from the documents) and index at the
next start, without a step of its own. Nothing is ever dropped: a table or column the contract
no longer names stays, unread.

The documents' own shape has its version too (``_schema`` in each, ``migrations.py``):
``formservice_meta.documents_schema`` says which version every stored document is at; an older
one gets every document through ``migrations.upgrade`` here, a newer one is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from formservice.store import contract as base
from formservice.store import migrations
from formservice.store.contract import TABLES
from formservice.store.migrations import SchemaTooNew
from formservice.store.postgres.coordination import DDL as COORDINATION_DDL
from formservice.store.postgres.layout import Layout, dumps, layout

LAYOUT_VERSION = 1
MIGRATION_LOCK = 0x466F726D  # pg_advisory_xact_lock key: "Form"
BATCH = 500


def _v1_tables(conn: psycopg.Connection) -> None:
    """The first layout: every table of TABLES (``ensure_layout`` creates them), and the
    workers' coordination (states, mail claims)."""
    ensure_layout(conn)
    for statement in COORDINATION_DDL:
        conn.execute(statement)


# version N -> (name, the step taking the layout from N - 1 to N)
STEPS: dict[int, tuple[str, Callable[[psycopg.Connection], None]]] = {
    1: ("tables, lookup columns, order and words of TABLES", _v1_tables),
}


def prepare(conn: psycopg.Connection) -> list[str]:
    """Bring the database to this release; returns what was done, for the log. ``conn`` is in
    autocommit mode; everything happens in one transaction."""
    notes: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS formservice_schema (version int PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS formservice_meta (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        current = layout_version(conn)
        if current > LAYOUT_VERSION:
            raise SchemaTooNew(
                f"la base est au schéma {current}, plus récent que celui de ce programme "
                f"({LAYOUT_VERSION}) : installez la version du service qui l'a migrée, ou restaurez "
                "une sauvegarde."
            )
        for version in range(current + 1, LAYOUT_VERSION + 1):
            name, step = STEPS[version]
            step(conn)
            conn.execute("INSERT INTO formservice_schema (version, name) VALUES (%s, %s)", [version, name])
            notes.append(f"base PostgreSQL : migration {version} appliquée ({name})")
        ensure_layout(conn)
        notes += _upgrade_documents(conn)
    return notes


def layout_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM formservice_schema").fetchone()
    return int(row[0]) if row else 0


def ensure_layout(conn: psycopg.Connection) -> None:
    """Create what TABLES names and the database lacks (tables, columns, indexes, words)."""
    for name in TABLES:
        lay = layout(name)
        if _exists(conn, name) is None:
            _run(conn, lay.ddl())
            continue
        columns = _columns(conn, name)
        for field in lay.fields:
            if f"f_{field}" not in columns:
                _run(conn, lay.add_field(field))
        if lay.spec.order and f"o_{lay.spec.order}" not in columns:
            _run(conn, lay.add_order())
        if lay.spec.words and _exists(conn, f"{name}__words") is None:
            _run(conn, lay.add_words())


def _exists(conn: psycopg.Connection, table: str) -> object:
    row = conn.execute("SELECT to_regclass(%s)", [sql.Identifier(table).as_string(conn)]).fetchone()
    return row[0] if row else None


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s",
        [table],
    ).fetchall()
    return {str(r[0]) for r in rows}


def _run(conn: psycopg.Connection, statements: list[sql.Composed]) -> None:
    for statement in statements:
        conn.execute(statement)


def _upgrade_documents(conn: psycopg.Connection) -> list[str]:
    """Documents older than SCHEMA_VERSION are migrated (every table, in batches); a database
    whose documents are newer is refused."""
    row = conn.execute("SELECT value FROM formservice_meta WHERE key = 'documents_schema'").fetchone()
    stored = int(row[0]) if row else base.SCHEMA_VERSION
    if stored > base.SCHEMA_VERSION:
        raise SchemaTooNew(
            f"les documents de la base sont au schéma {stored}, plus récent que celui de ce programme "
            f"({base.SCHEMA_VERSION}) : installez la version du service qui les a écrits, ou restaurez "
            "une sauvegarde."
        )
    notes = []
    if stored < base.SCHEMA_VERSION:
        moved = sum(_upgrade_table(conn, layout(name)) for name in TABLES)
        notes.append(f"base PostgreSQL : {moved} document(s) migré(s) vers le schéma {base.SCHEMA_VERSION}")
    conn.execute(
        "INSERT INTO formservice_meta (key, value) VALUES ('documents_schema', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [Jsonb(base.SCHEMA_VERSION)],
    )
    return notes


def _upgrade_table(conn: psycopg.Connection, lay: Layout) -> int:
    moved, after = 0, ""
    while True:
        rows = conn.execute(
            sql.SQL("SELECT id, doc FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(lay.table),
            [after, BATCH],
        ).fetchall()
        if not rows:
            return moved
        for doc_id, doc in rows:
            new = migrations.upgrade(lay.name, doc)
            if new is not None:
                write_row(conn, lay, doc_id, new)
                moved += 1
        after = rows[-1][0]


def write_row(conn: psycopg.Connection, lay: Layout, doc_id: str, doc: base.Doc) -> None:
    """Rewrite one row from its document (columns and words recomputed): migrations only."""
    conn.execute(lay.update, [dumps(doc), *lay.values(doc), doc_id])
    if lay.spec.words:
        conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(lay.words_table), [doc_id])
        for word in lay.words(doc):
            conn.execute(
                sql.SQL("INSERT INTO {} (id, word) VALUES (%s, %s)").format(lay.words_table), [doc_id, word]
            )
