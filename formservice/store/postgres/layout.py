"""How the tables of ``TABLES`` are laid out in PostgreSQL: names, columns, the SQL that reads them.

One SQL table per store table: ``id`` (text, C collation: ids sort as Python sorts them),
``doc`` (the document, jsonb), one jsonb column per unique or indexed field (``f_<field>``,
SQL NULL where the document has no value, as the memory engine treats an absent field), the
order field as text (``o_<field>``, C collation) and, for the words, a side table
``<table>__words`` (one row per distinct word, primary key (word, id)): a prefix search is a
range scan of its btree, not a read of every document. (Measured at 100,000 dossiers of four
words: a selective prefix in 0.4 ms this way, 63 ms with ``EXISTS (SELECT 1 FROM
unnest(words) w WHERE w LIKE 'nom00012%')`` on a ``text[]`` column, which no index serves; a
GIN index on the array answers equality only.)

The column values are computed here, in Python, from the document as it will be written: the
reference semantics (``memory.py``) decide, not a SQL expression that could differ on an edge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from psycopg import sql

from formservice.store.contract import TABLES, Doc, TableSpec


def dumps(value: Any) -> str:
    """JSON text as the engine writes it; NaN and infinities are refused (JSON has none)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_or_null(value: Any) -> str | None:
    return None if value is None else dumps(value)


@dataclass(frozen=True)
class Layout:
    """The SQL side of one store table."""

    name: str
    spec: TableSpec

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(self.name)

    @property
    def words_table(self) -> sql.Identifier:
        return sql.Identifier(f"{self.name}__words")

    @property
    def fields(self) -> tuple[str, ...]:
        """The lookup fields, then the statistics' counted fields, each once (a field both unique
        and indexed has one column)."""
        return tuple(dict.fromkeys(self.spec.tally_fields))

    def column(self, field: str, *, tally: bool = False) -> sql.Identifier:
        """A field's column; only a lookup field filters (``tally``: a counted field too)."""
        if field not in (self.spec.tally_fields if tally else self.spec.lookup_fields):
            raise KeyError(f"{self.name}.{field} is not indexed")
        return sql.Identifier(f"f_{field}")

    @property
    def order_column(self) -> sql.Identifier | None:
        return sql.Identifier(f"o_{self.spec.order}") if self.spec.order else None

    def unique_constraint(self, field: str) -> str:
        return f"{self.name}__{field}__unique"

    def field_of_constraint(self, constraint: str | None) -> str:
        """The field a unique violation is about: ``id`` for the primary key."""
        for field in self.spec.unique:
            if constraint == self.unique_constraint(field):
                return field
        return "id"

    # -- values of a document's columns ------------------------------------------------------------

    def values(self, doc: Doc) -> list[str | None]:
        """The lookup columns' values (JSON text, or None), then the order column's."""
        found: list[str | None] = [json_or_null(doc.get(field)) for field in self.fields]
        if self.spec.order:
            found.append(str(doc.get(self.spec.order) or ""))
        return found

    def words(self, doc: Doc) -> list[str]:
        """The document's distinct words (strings only, as ``memory.py`` reads them)."""
        if not self.spec.words:
            return []
        found = doc.get(self.spec.words)
        return list(dict.fromkeys(w for w in found if isinstance(w, str))) if isinstance(found, list) else []

    # -- statements ----------------------------------------------------------------------------------

    def _value_columns(self) -> list[sql.Composable]:
        columns: list[sql.Composable] = [self.column(f, tally=True) for f in self.fields]
        if self.order_column is not None:
            columns.append(self.order_column)
        return columns

    def _placeholders(self) -> list[sql.Composable]:
        marks: list[sql.Composable] = [sql.SQL("%s::jsonb") for _ in self.fields]
        if self.order_column is not None:
            marks.append(sql.SQL("%s"))
        return marks

    @property
    def insert(self) -> sql.Composed:
        columns = [sql.Identifier("id"), sql.Identifier("doc"), *self._value_columns()]
        marks = [sql.SQL("%s"), sql.SQL("%s::jsonb"), *self._placeholders()]
        return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self.table, sql.SQL(", ").join(columns), sql.SQL(", ").join(marks)
        )

    @property
    def update(self) -> sql.Composed:
        sets = [sql.SQL("doc = %s::jsonb")] + [
            sql.SQL("{} = {}").format(column, mark)
            for column, mark in zip(self._value_columns(), self._placeholders(), strict=True)
        ]
        return sql.SQL("UPDATE {} SET {} WHERE id = %s").format(self.table, sql.SQL(", ").join(sets))

    def ddl(self) -> list[sql.Composed]:
        """CREATE statements for a table that does not exist yet (``IF NOT EXISTS`` throughout)."""
        statements = [
            sql.SQL(
                'CREATE TABLE IF NOT EXISTS {} (id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL)'
            ).format(self.table)
        ]
        for field in self.fields:
            statements += self.add_field(field)
        if self.order_column is not None:
            statements += self.add_order()
        if self.spec.words:
            statements += self.add_words()
        return statements

    def add_field(self, field: str) -> list[sql.Composed]:
        """A lookup column, filled from the documents already there, with its index or constraint."""
        column = self.column(field, tally=True)
        statements = [
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} jsonb").format(self.table, column),
            sql.SQL("UPDATE {} SET {} = NULLIF(doc -> {}, 'null'::jsonb)").format(
                self.table, column, sql.Literal(field)
            ),
        ]
        if field in self.spec.unique:
            statements.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
                    self.table, sql.Identifier(self.unique_constraint(field)), column
                )
            )
        else:
            statements.append(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(f"{self.name}__{field}"), self.table, column
                )
            )
        return statements

    def add_order(self) -> list[sql.Composed]:
        assert self.order_column is not None and self.spec.order is not None
        return [
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text COLLATE \"C\" NOT NULL DEFAULT ''"
            ).format(self.table, self.order_column),
            sql.SQL("UPDATE {} SET {} = coalesce(doc ->> {}, '')").format(
                self.table, self.order_column, sql.Literal(self.spec.order)
            ),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, id)").format(
                sql.Identifier(f"{self.name}__order"), self.table, self.order_column
            ),
        ]

    def add_words(self) -> list[sql.Composed]:
        assert self.spec.words is not None
        return [
            sql.SQL(
                'CREATE TABLE IF NOT EXISTS {} (id text COLLATE "C" NOT NULL REFERENCES {} (id) '
                'ON DELETE CASCADE, word text COLLATE "C" NOT NULL, PRIMARY KEY (word, id))'
            ).format(self.words_table, self.table),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (id)").format(
                sql.Identifier(f"{self.name}__words__id"), self.words_table
            ),
            sql.SQL(
                "INSERT INTO {} (id, word) SELECT DISTINCT t.id, w #>> '{{}}' FROM {} t, "
                "jsonb_array_elements(CASE jsonb_typeof(t.doc -> {}) WHEN 'array' THEN t.doc -> {} "
                "ELSE '[]'::jsonb END) w WHERE jsonb_typeof(w) = 'string' ON CONFLICT DO NOTHING"
            ).format(
                self.words_table, self.table, sql.Literal(self.spec.words), sql.Literal(self.spec.words)
            ),
        ]


@cache
def layout(table: str) -> Layout:
    """KeyError for a table outside TABLES, as every engine refuses one."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    return Layout(table, TABLES[table])


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching the words that start with ``prefix`` (its % and _ taken literally)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
