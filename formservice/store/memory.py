"""In-memory engine: the reference implementation of the contract, for unit tests."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from formservice.store.contract import (
    SCHEMA_VERSION,
    TABLES,
    Doc,
    DuplicateKey,
    Effects,
    Engine,
    Mutator,
    RecordMissing,
    Selection,
    Where,
)


class MemoryEngine(Engine):
    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Doc]] = {name: {} for name in TABLES}
        self._lock = threading.Lock()

    def _table(self, table: str) -> dict[str, Doc]:
        if table not in self._tables:
            raise KeyError(f"unknown table {table!r}")
        return self._tables[table]

    def _check_unique(self, table: str, doc: Doc, ignore_id: str | None) -> None:
        for field in TABLES[table].unique:
            if doc.get(field) is None:  # like SQL NULL: an absent value clashes with nothing
                continue
            for other in self._tables[table].values():
                if other["id"] != ignore_id and other.get(field) == doc[field]:
                    raise DuplicateKey(table, field, doc[field])

    async def get(self, table: str, id: str) -> Doc | None:
        doc = self._table(table).get(id)
        return copy.deepcopy(doc) if doc is not None else None

    async def find(self, table: str, field: str, value: Any) -> list[Doc]:
        if field not in TABLES[table].lookup_fields:
            raise KeyError(f"{table}.{field} is not indexed")
        return [copy.deepcopy(d) for d in self._table(table).values() if d.get(field) == value]

    async def scan(self, table: str) -> list[Doc]:
        return [copy.deepcopy(d) for d in self._table(table).values()]

    async def count(self, table: str) -> int:
        return len(self._table(table))

    # The reference semantics of select/tally/ids, by reading every document.

    def _matching(
        self, table: str, where: Where | None, words: Sequence[str] = (), *, tally: bool = False
    ) -> list[Doc]:
        spec = TABLES[table]
        for field in where or {}:
            if field not in (spec.tally_fields if tally else spec.lookup_fields):
                raise KeyError(f"{table}.{field} is not indexed")

        def held(doc: Doc) -> list[str]:
            found = doc.get(spec.words) if spec.words else None
            return [w for w in found if isinstance(w, str)] if isinstance(found, list) else []

        return [
            d
            for d in self._table(table).values()
            if all(d.get(f) in list(values) for f, values in (where or {}).items())
            and all(any(w.startswith(prefix) for w in held(d)) for prefix in words)
        ]

    async def select(
        self,
        table: str,
        *,
        where: Where | None = None,
        words: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> Selection:
        order = TABLES[table].order
        found = sorted(
            self._matching(table, where, words),
            key=lambda d: (str(d.get(order) or "") if order else "", d["id"]),
        )
        offset, limit = max(0, offset), max(0, limit)
        return Selection(len(found), [copy.deepcopy(d) for d in found[offset : offset + limit]])

    async def tally(self, table: str, field: str, *, where: Where | None = None) -> dict[Any, int]:
        if field not in TABLES[table].tally_fields:
            raise KeyError(f"{table}.{field} is not indexed")
        counts: dict[Any, int] = {}
        for doc in self._matching(table, where, tally=True):
            counts[doc.get(field)] = counts.get(doc.get(field), 0) + 1
        return counts

    async def ids(self, table: str, *, where: Where | None = None) -> list[str]:
        return sorted(d["id"] for d in self._matching(table, where))

    async def get_many(self, table: str, ids: Sequence[str]) -> list[Doc]:
        rows = self._table(table)
        return [copy.deepcopy(rows[i]) for i in ids if i in rows]

    def _checked_insert(self, table: str, doc: Doc, pending: dict[tuple[str, str], Doc]) -> None:
        rows = self._table(table)
        if doc["id"] in rows or (table, doc["id"]) in pending:
            raise DuplicateKey(table, "id", doc["id"])
        self._check_unique(table, doc, None)
        pending[(table, doc["id"])] = copy.deepcopy(doc) | {"_schema": SCHEMA_VERSION}

    def _effects(self, new: Doc, effects: Effects | None, pending: dict[tuple[str, str], Doc]) -> None:
        for other_table, other in effects(copy.deepcopy(new)) if effects else ():
            self._checked_insert(other_table, other, pending)

    async def insert(self, table: str, doc: Doc, *, effects: Effects | None = None) -> Doc:
        with self._lock:
            pending: dict[tuple[str, str], Doc] = {}
            self._checked_insert(table, doc, pending)
            self._effects(doc, effects, pending)
            for (name, doc_id), stored in pending.items():  # all checked: now all at once
                self._tables[name][doc_id] = stored
            return copy.deepcopy(pending[(table, doc["id"])])

    async def update(self, table: str, id: str, fn: Mutator, *, effects: Effects | None = None) -> Doc:
        with self._lock:
            rows = self._table(table)
            if id not in rows:
                raise RecordMissing(f"{table}/{id}")
            new = fn(copy.deepcopy(rows[id]))
            new = copy.deepcopy(new) | {"id": id, "_schema": SCHEMA_VERSION}
            self._check_unique(table, new, id)
            pending: dict[tuple[str, str], Doc] = {}
            self._effects(new, effects, pending)
            rows[id] = new
            for (name, doc_id), stored in pending.items():
                self._tables[name][doc_id] = stored
            return copy.deepcopy(new)

    async def delete(self, table: str, id: str, predicate: Callable[[Doc], bool] | None = None) -> bool:
        with self._lock:
            rows = self._table(table)
            doc = rows.get(id)
            if doc is None or (predicate is not None and not predicate(copy.deepcopy(doc))):
                return False
            del rows[id]
            return True

    async def close(self) -> None:
        return None
