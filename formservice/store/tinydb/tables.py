"""In-memory tables of the TinyDB engine: rows kept as JSON text, plus hash indexes.

Why rows are JSON text rather than dicts: the engine must hand out copies anyway (the contract
says reads return copies), and ``json.loads`` of a 500-byte document is several times faster than
``copy.deepcopy`` of the dict. Text also takes a fraction of the memory of the equivalent dicts
(about 900 bytes per 550-byte account, indexes included), is invisible to the cyclic garbage
collector, and is exactly what goes into the journal and the snapshot, so what is in memory is
byte for byte what a restart would load. A row is never
mutated, only replaced, which lets compaction take a consistent picture with a shallow
``dict(rows)``.

Indexes cover the fields TABLES declares (unique or indexed), so every lookup and every write is
a few dict operations whatever the table size. A missing field is indexed as ``None``; ``None``
is exempt from uniqueness (as NULL is in SQL).

The TinyDB glue at the bottom presents these rows to TinyDB's own ``Table`` through a read-only
``Storage``: the engine's ``get`` and ``scan`` are ``Table.get(doc_id=...)`` and ``Table.all()``,
and ``Table.search(Query()...)`` works for ad-hoc inspection. Writes never go through ``Table``:
its ``_update_table`` rebuilds the whole table on every write (O(n)).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

from tinydb.storages import Storage
from tinydb.table import Table

from formservice.store.contract import Doc, DuplicateKey, StoreError, TableSpec, Where
from formservice.store.tinydb.query import QueryIndex

_SCALARS = (str, int, float, bool, type(None))

# One encoder, built once: json.dumps with keyword arguments builds a new encoder on every call.
# NaN and infinities are refused: they are not JSON, and another reader would choke on them.
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def index_key(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value; lists and objects compare by their canonical text."""
    if isinstance(value, _SCALARS):
        return value
    return ("json", json.dumps(value, sort_keys=True, ensure_ascii=False))


class MemTable:
    """One table: ``rows`` maps id -> JSON text; indexes map field value -> id(s)."""

    def __init__(self, name: str, spec: TableSpec, rows: dict[str, str] | None = None):
        self.name = name
        self.spec = spec
        self.rows: dict[str, str] = rows if rows is not None else {}
        self.unique: dict[str, dict[Hashable, str]] = {f: {} for f in spec.unique}
        # dict[id, None] rather than set: keeps insertion order, so results are deterministic.
        self.indexed: dict[str, dict[Hashable, dict[str, None]]] = {f: {} for f in spec.indexed}
        self.query = QueryIndex(spec, index_key)  # order, words, facet counts (``select``)
        self.migrated = 0

    # -- building and checking -------------------------------------------------------------------

    def build_indexes(self, upgrade: Callable[[str, Doc], Doc | None] | None = None) -> list[str]:
        """Fill the indexes from the rows; returns problems (duplicates, bad rows) in French.

        ``upgrade`` (migrations.upgrade) rewrites older documents on the way, counted in
        ``self.migrated``; this is the one pass that decodes every document at load time.
        """
        problems: list[str] = []
        self.migrated = 0
        for unique in self.unique.values():
            unique.clear()
        for indexed in self.indexed.values():
            indexed.clear()
        self.query.begin_bulk()
        for doc_id, body in self.rows.items():
            try:
                doc = json.loads(body)
            except ValueError as exc:
                problems.append(f"{self.name}/{doc_id} : document illisible ({exc})")
                continue
            if not isinstance(doc, dict) or doc.get("id") != doc_id:
                problems.append(f"{self.name}/{doc_id} : l'identifiant du document ne correspond pas")
                continue
            if upgrade is not None:
                newer = upgrade(self.name, doc)
                if newer is not None:
                    doc = newer
                    self.rows[doc_id] = encode(doc)  # replaces a value: safe while iterating
                    self.migrated += 1
            clash = self.conflict(doc, doc_id)
            if clash is not None:
                problems.append(
                    f"{self.name}/{doc_id} : {clash.field}={clash.value!r} déjà pris par un autre document"
                )
                continue
            self._index(doc_id, doc)
            self.query.add(doc_id, doc)
        self.query.end_bulk()
        return problems

    def index_problems(self) -> list[str]:
        """Compare the live indexes with indexes rebuilt from the rows (`store check`)."""
        fresh = MemTable(self.name, self.spec, dict(self.rows))
        problems = fresh.build_indexes()
        for field, index in self.unique.items():
            if index != fresh.unique[field]:
                problems.append(f"{self.name} : index unique {field} incohérent")
        for field, buckets in self.indexed.items():
            mine = {k: set(v) for k, v in buckets.items() if v}
            theirs = {k: set(v) for k, v in fresh.indexed[field].items() if v}
            if mine != theirs:
                problems.append(f"{self.name} : index {field} incohérent")
        return problems + self.query.problems(fresh.query, self.name)

    # -- reads -------------------------------------------------------------------------------------

    def lookup(self, field: str, value: Any) -> list[str]:
        """Ids whose ``field`` equals ``value``; KeyError if the field is not indexed."""
        key = index_key(value)
        if field in self.unique:
            found = self.unique[field].get(key)
            return [found] if found is not None else []
        if field in self.indexed:
            return list(self.indexed[field].get(key, ()))
        raise KeyError(f"{self.name}.{field} is not indexed")

    def conflict(self, doc: Doc, doc_id: str) -> DuplicateKey | None:
        """The unique-field clash ``doc`` would cause, if any."""
        for field, index in self.unique.items():
            value = doc.get(field)
            if value is None:
                continue
            owner = index.get(index_key(value))
            if owner is not None and owner != doc_id:
                return DuplicateKey(self.name, field, value)
        return None

    def indexed_part(self, doc: Doc) -> Doc:
        """The fields the indexes use, detached from ``doc``: all an undo needs to re-index."""
        part = {field: doc.get(field) for field in self.spec.tracked_fields}
        for field, value in part.items():
            if not isinstance(value, _SCALARS):
                part[field] = json.loads(json.dumps(value))
        return part

    def keys_of(self, doc: Doc) -> list[tuple[Hashable, ...]]:
        """The (table, field, value) keys a document occupies, and (table,) that every write of
        the table holds; used to make readers wait (``select`` waits on the table's key)."""
        return [(self.name,), *((self.name, f, index_key(doc.get(f))) for f in self.spec.lookup_fields)]

    # -- writes (caller holds the engine lock) ----------------------------------------------------

    def put(self, doc_id: str, body: str, doc: Doc, old: Doc | None) -> None:
        if old is not None:
            self._unindex(doc_id, old)
            self.query.replace(doc_id, old, doc)
        else:
            self.query.add(doc_id, doc)
        self.rows[doc_id] = body
        self._index(doc_id, doc)

    def remove(self, doc_id: str, old: Doc) -> None:
        self._unindex(doc_id, old)
        self.query.remove(doc_id, old)
        del self.rows[doc_id]

    # -- select and tally (caller holds the engine lock) --------------------------------------------

    def _split(self, where: Where | None) -> tuple[dict[str, set[Hashable]], dict[str, set[Hashable]]]:
        """``where`` as index keys: (facet part, other indexed fields' part)."""
        facets: dict[str, set[Hashable]] = {}
        others: dict[str, set[Hashable]] = {}
        for field, values in (where or {}).items():
            if field not in self.spec.lookup_fields:
                raise KeyError(f"{self.name}.{field} is not indexed")
            keys = {index_key(v) for v in values}
            (facets if field in self.spec.facets else others)[field] = keys
        return facets, others

    def _with(self, field: str, keys: set[Hashable]) -> set[str]:
        if field in self.unique:
            return {self.unique[field][k] for k in keys if k in self.unique[field]}
        buckets = self.indexed[field]
        return set().union(*(buckets.get(k, {}) for k in keys))

    def _union_size(self, field: str, keys: set[Hashable]) -> int:
        if field in self.unique:
            return len(keys)
        return sum(len(self.indexed[field].get(k, ())) for k in keys)

    def _candidates(
        self, facets: dict[str, set[Hashable]], others: dict[str, set[Hashable]], words: list[str]
    ) -> set[str]:
        """The ids matching everything, built from the smallest index part first."""
        found = self.query.with_words(words)
        parts = sorted((*others.items(), *facets.items()), key=lambda part: self._union_size(*part))
        for field, keys in parts:
            if found is not None and len(found) <= self._union_size(field, keys):
                break  # cheaper now to test the remaining conditions on each candidate
            ids = self._with(field, keys)
            found = ids if found is None else found & ids
        found = found if found is not None else set(self.rows)
        accept = self.query.accept(facets)
        facet_of = self.query.facet_of
        tests = [(f, keys) for f, keys in others.items()]
        return {
            doc_id
            for doc_id in found
            if (accept is None or accept(facet_of[doc_id])) and all(self._has(doc_id, f, k) for f, k in tests)
        }

    def _has(self, doc_id: str, field: str, keys: set[Hashable]) -> bool:
        if field in self.unique:
            return any(self.unique[field].get(k) == doc_id for k in keys)
        return any(doc_id in self.indexed[field].get(k, ()) for k in keys)

    def select(self, where: Where | None, words: list[str], offset: int, limit: int) -> tuple[int, list[str]]:
        """(total, the page's ids): counts and a walk when the filter is on facets alone and
        matches many rows; candidates sorted otherwise (a search, a rare combination)."""
        facets, others = self._split(where)
        if not others and not words:
            accept = self.query.accept(facets)
            total = self.query.facet_total(accept)
            if not total or offset >= total:
                return total, []
            walk_cost = (offset + limit) * len(self.rows) / total
            build_cost = min((self._union_size(f, k) for f, k in facets.items()), default=len(self.rows))
            if accept is None or walk_cost <= 4 * build_cost:
                return total, self.query.walk(accept, offset, limit)
        found = self._candidates(facets, others, words)
        return len(found), self.query.sort_page(found, offset, limit)

    def tally(self, field: str, where: Where | None) -> dict[Hashable, int]:
        keys = {f: {index_key(v) for v in values} for f, values in (where or {}).items()}
        group = self.query.group_for(field, keys)
        if group is not None:
            return self.query.group_tally(group, field, keys)
        if not keys and field in self.indexed:  # the whole table: the buckets' sizes
            return {key: len(bucket) for key, bucket in self.indexed[field].items() if bucket}
        facets, others = self._split(where)
        if field not in self.indexed:
            raise KeyError(f"{self.name}.{field} is not indexed")
        found = self._candidates(facets, others, [])
        counts = {key: len(found & bucket.keys()) for key, bucket in self.indexed[field].items()}
        return {key: n for key, n in counts.items() if n}

    def ids(self, where: Where | None) -> list[str]:
        facets, others = self._split(where)
        if not facets and not others:
            return sorted(self.rows)
        return sorted(self._candidates(facets, others, []))

    def _index(self, doc_id: str, doc: Doc) -> None:
        for field, index in self.unique.items():
            value = doc.get(field)
            if value is not None:
                index[index_key(value)] = doc_id
        for field, buckets in self.indexed.items():
            buckets.setdefault(index_key(doc.get(field)), {})[doc_id] = None

    def _unindex(self, doc_id: str, doc: Doc) -> None:
        for field, index in self.unique.items():
            value = doc.get(field)
            if value is not None and index.get(index_key(value)) == doc_id:
                del index[index_key(value)]
        for field, buckets in self.indexed.items():
            key = index_key(doc.get(field))
            bucket = buckets.get(key)
            if bucket is not None:
                bucket.pop(doc_id, None)
                if not bucket:
                    del buckets[key]


# -- TinyDB glue ----------------------------------------------------------------------------------


class RowsView(Mapping[str, Doc]):
    """A live, read-only view of a MemTable as TinyDB expects a table: doc id -> document.

    Each access decodes a fresh dict, so what TinyDB hands out is already a private copy.
    Iteration works on a snapshot of the ids taken under the lock, so a concurrent write
    cannot break it with "dictionary changed size during iteration".
    """

    def __init__(self, table: MemTable, lock: threading.Lock):
        self._table = table
        self._lock = lock

    def __getitem__(self, doc_id: str) -> Doc:
        doc: Doc = json.loads(self._table.rows[doc_id])
        return doc

    def __len__(self) -> int:
        return len(self._table.rows)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            ids = list(self._table.rows)
        return iter(ids)

    def items(self) -> Iterator[tuple[str, Doc]]:  # type: ignore[override]
        with self._lock:
            pairs = list(self._table.rows.items())
        return ((doc_id, json.loads(body)) for doc_id, body in pairs)


class ViewStorage(Storage):
    """TinyDB ``Storage`` over the engine's memory: reads are live views, writes are refused
    (they would bypass the journal and the indexes)."""

    def __init__(self, views: dict[str, RowsView]):
        self._views = views

    def read(self) -> dict[str, dict[str, Any]]:
        return self._views  # type: ignore[return-value]

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        raise StoreError("TinyDBEngine: writes go through the engine (journal + indexes), not Table")


def _plain(value: Mapping[str, Any], doc_id: str) -> Doc:
    """TinyDB's document factory, returning the freshly decoded dict itself (no TinyDB type
    leaks out of the engine, and no second copy)."""
    return value  # type: ignore[return-value]


class StoreTable(Table):
    """TinyDB ``Table`` keyed by our string ids; open it with ``cache_size=0`` (rows change under
    TinyDB's feet, so a query cache would serve stale results)."""

    document_id_class = str  # type: ignore[assignment]
    document_class = staticmethod(_plain)  # type: ignore[assignment]
