"""The embedded engine: TinyDB's document model, made durable and O(1).

Stock TinyDB rewrites its whole JSON file on every write, in place (a ``kill -9`` at the wrong
moment loses the database), and rebuilds a table on every write (O(n)). This engine keeps
TinyDB's model (tables of JSON documents keyed by id; the snapshot *is* a TinyDB database file;
``get`` and ``scan`` are TinyDB ``Table`` calls over a read-only ``Storage``) and replaces the
write path and the lookups:

- the data lives in memory (`tables.MemTable`), with hash indexes on the fields TABLES declares;
- a change is applied to memory under the engine lock, its journal line queued, and the caller
  awaits its group's ``fdatasync`` (`writer.Writer`): nothing is acknowledged before it is on
  disk, and concurrent writes share one fsync;
- check-then-write operations (unique fields, ``update``'s ``fn``, ``delete``'s predicate) run
  under the lock, so they are atomic with the write;
- writes see the changes still in flight (so two signups on one e-mail conflict); ``get`` and
  ``find`` do not return them: they wait for the group of a change in flight on what they read
  (``count`` and ``scan``, for batch jobs, do not wait). If the disk refuses a group, its
  changes and those queued behind are undone in memory and their callers get StoreUnavailable;
- compaction (`compact`, or automatically when the journal outgrows the snapshot) copies the row
  dicts under the lock (a shallow copy: rows are immutable text), cuts the journal at that
  point, and writes the snapshot from another thread while writers carry on;
- opening takes ``store/lock`` (`lockfile.DirLock`), replays snapshot + journals
  (`recovery.load`), refuses a directory that shows earlier data now missing (`integrity`: a
  journal or snapshot gone or cut short, no record left beside candidates' files), migrates
  older documents (`migrations.upgrade`), writes ``manifest.json`` (the journal in use and its
  size: written again at close, it lets the next start notice a journal cut short), then
  ``gc.freeze()``s the loaded objects so the cyclic GC stops walking them;
- the directory is 0700 and every file in it 0600, whatever the umask (an earlier release's
  wider modes are tightened at open): records are personal data.

Any number of event loops and threads may use one engine; ``close()`` flushes, stops the threads
and releases the lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tinydb import TinyDB

from formservice.durable import private_dir, restrict
from formservice.store import contract as base
from formservice.store import migrations
from formservice.store.contract import (
    TABLES,
    Doc,
    DuplicateKey,
    Effects,
    Engine,
    Mutator,
    RecordMissing,
    StoreError,
    StoreReport,
    StoreUnavailable,
)
from formservice.store.tinydb import integrity, recovery
from formservice.store.tinydb.journal import CorruptStore, JournalFile, delete_line, journal_path, put_line
from formservice.store.tinydb.lockfile import DirLock
from formservice.store.tinydb.snapshot import write_snapshot
from formservice.store.tinydb.tables import MemTable, RowsView, StoreTable, ViewStorage, encode, index_key
from formservice.store.tinydb.writer import Writer, disk_problem

log = logging.getLogger(__name__)

DEFAULT_COMPACT_AFTER = 64 * 2**20


@dataclass
class _Staged:
    """One part of an atomic step, applied to memory, waiting to be submitted to the writer."""

    line: str
    undo: Callable[[], None]
    keys: list[Any]


def _undo(staged: list[_Staged]) -> None:
    """A part of the step was refused: take back from memory what was staged, newest first."""
    for part in reversed(staged):
        part.undo()


class _TinyDB(TinyDB):
    table_class = StoreTable


class TinyDBEngine(Engine):
    """``TinyDBEngine(directory, compact_after=64 MiB)``: the store kept in ``directory``.

    Raises StoreLocked if another process (or another engine in this one) has the directory,
    CorruptStore if the files hold damage a crash cannot explain (its subclass
    integrity.DataMissing if data the directory shows existed is gone), migrations.SchemaTooNew
    if a newer release wrote them. ``compact_after``: journal bytes beyond which (and beyond the
    snapshot's size, so compaction stays amortized O(1) per write) compaction starts by itself.
    ``uploads_dir``: the candidates' files, refused beside a store without records (default:
    ``uploads`` next to ``directory``, as Settings lays out the data directory).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        compact_after: int = DEFAULT_COMPACT_AFTER,
        uploads_dir: Path | None = None,
    ):
        self.directory = Path(directory)
        self.uploads_dir = integrity.uploads_dir_of(self.directory) if uploads_dir is None else uploads_dir
        private_dir(self.directory)
        self._dirlock = DirLock(self.directory)
        try:
            _make_private(self.directory)
            self._open(compact_after)
        except BaseException:
            writer: Writer | None = getattr(self, "_writer", None)  # started before the failure?
            if writer is not None:
                writer.close()
            self._dirlock.release()
            raise

    def _open(self, compact_after: int) -> None:
        loaded = recovery.load(self.directory, repair=True)
        empty_beside_files = integrity.uploads_without_records(self.directory, loaded.rows, self.uploads_dir)
        if empty_beside_files is not None:
            raise empty_beside_files
        for note in loaded.notes:
            log.warning("%s", note)
        self._lock = threading.Lock()
        self._tables = {
            name: MemTable(name, spec, loaded.rows.pop(name, {})) for name, spec in TABLES.items()
        }
        self._other_rows = loaded.rows  # tables this release does not know: kept, never dropped
        problems: list[str] = []
        for mem in self._tables.values():
            problems += mem.build_indexes(upgrade=migrations.upgrade)
        if problems:
            raise CorruptStore(f"{self.directory} : " + " ; ".join(problems[:10]))
        if loaded.live_gens:
            last = loaded.live_gens[-1]
            journal = JournalFile(journal_path(self.directory, last), last, size=loaded.tail_size)
        else:
            gen = max(loaded.first_gen, 1)
            journal = JournalFile(journal_path(self.directory, gen), gen, create=True)
        self._writer = Writer(self._lock, journal, self._new_journal)
        self._json_names = {name: json.dumps(name) for name in TABLES}
        views = {name: RowsView(mem, self._lock) for name, mem in self._tables.items()}
        self._tinydb = _TinyDB(views, storage=ViewStorage)
        self._views = {name: self._tinydb.table(name, cache_size=0) for name in TABLES}
        self._closed = False
        self._compact_after = compact_after
        self._snapshot_size = loaded.snapshot_size
        self._compaction_lock = threading.Lock()
        self._compactor: threading.Thread | None = None
        self._next_compaction = 0
        migrated = any(mem.migrated for mem in self._tables.values())
        if (
            migrated
            or len(loaded.live_gens) > 1
            or loaded.journal_bytes > max(compact_after, self._snapshot_size)
        ):
            # Put migrated documents on disk before serving, fold what a crash left. Not vital: if
            # the disk is full, serve anyway (the next start migrates again).
            try:
                self._compact()
            except StoreUnavailable as exc:
                log.warning("%s", exc)
        self._writer.on_group = self._maybe_compact
        self._write_manifest()
        gc.collect()
        gc.freeze()  # loaded rows and indexes live as long as the process: stop scanning them

    def _write_manifest(self) -> None:
        """Record the journal in use and its size (at open, and at close once the writer has
        stopped). Not vital: if the disk refuses, the previous manifest, older and so smaller,
        stays true."""
        journal = self._writer.journal
        with self._lock:
            records = sum(len(mem.rows) for mem in self._tables.values())
            records += sum(len(rows) for rows in self._other_rows.values())
        manifest = integrity.Manifest(journal=journal.gen, journal_bytes=journal.size, records=records)
        try:
            integrity.write_manifest(self.directory, manifest)
        except OSError as exc:
            log.warning(
                "manifeste du store %s non écrit (%s) : le précédent reste valable",
                self.directory / integrity.MANIFEST_NAME,
                disk_problem(exc),
            )

    def _new_journal(self, gen: int) -> JournalFile:
        return JournalFile(journal_path(self.directory, gen), gen, create=True)

    def _mem(self, table: str) -> MemTable:
        if self._closed:
            raise StoreError("store fermé")
        try:
            return self._tables[table]
        except KeyError:
            raise KeyError(f"unknown table {table!r}") from None

    # -- reads ------------------------------------------------------------------------------------

    # Reads wait only if a write in flight touches what they read (`Writer.settled`); the
    # ``if pending`` test in front keeps the usual case free of even a coroutine call.

    async def get(self, table: str, id: str) -> Doc | None:
        self._mem(table)
        if self._writer.pending:
            await self._writer.settled(((table, id),))
        return cast(Doc | None, self._views[table].get(doc_id=cast(Any, id)))

    async def find(self, table: str, field: str, value: Any) -> list[Doc]:
        mem = self._mem(table)
        if field not in mem.spec.lookup_fields:
            raise KeyError(f"{table}.{field} is not indexed")
        if self._writer.pending:
            await self._writer.settled(((table, field, index_key(value)),))
        with self._lock:
            bodies = [mem.rows[doc_id] for doc_id in mem.lookup(field, value)]
        return [json.loads(body) for body in bodies]

    async def find_one(self, table: str, field: str, value: Any) -> Doc | None:
        """On a unique field: one index probe, no list (the service's lookup by e-mail)."""
        mem = self._mem(table)
        if field not in mem.unique:
            return await super().find_one(table, field, value)
        if self._writer.pending:
            await self._writer.settled(((table, field, index_key(value)),))
        with self._lock:  # index and row read together, as a writer leaves them
            doc_id = mem.unique[field].get(index_key(value))
            body = mem.rows[doc_id] if doc_id is not None else None
        return json.loads(body) if body is not None else None

    async def scan(self, table: str) -> list[Doc]:
        self._mem(table)
        return cast(list[Doc], self._views[table].all())

    async def count(self, table: str) -> int:
        return len(self._mem(table).rows)

    async def _settled_table(self, table: str) -> MemTable:
        mem = self._mem(table)
        if self._writer.pending:
            await self._writer.settled(((table,),))
        return mem

    async def select(
        self,
        table: str,
        *,
        where: base.Where | None = None,
        words: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> base.Selection:
        mem = await self._settled_table(table)
        with self._lock:
            total, ids = mem.select(where, list(words), max(0, offset), max(0, limit))
            bodies = [mem.rows[doc_id] for doc_id in ids]
        return base.Selection(total, [json.loads(body) for body in bodies])

    async def tally(self, table: str, field: str, *, where: base.Where | None = None) -> dict[Any, int]:
        mem = await self._settled_table(table)
        with self._lock:
            return mem.tally(field, where)

    async def ids(self, table: str, *, where: base.Where | None = None) -> list[str]:
        mem = await self._settled_table(table)
        with self._lock:
            return mem.ids(where)

    async def get_many(self, table: str, ids: Sequence[str]) -> list[Doc]:
        mem = await self._settled_table(table)
        with self._lock:
            bodies = [body for body in map(mem.rows.get, ids) if body is not None]
        return [json.loads(body) for body in bodies]

    # -- writes -----------------------------------------------------------------------------------

    def _stage_insert(self, table: str, doc: Doc, staged: list[_Staged]) -> Doc:
        """Check and apply an insert to memory (engine lock held); its journal line and undo are
        appended to ``staged``, submitted by the caller once every part of the step is staged."""
        mem = self._mem(table)
        if not isinstance(doc.get("id"), str):
            raise ValueError(f"{table}: a document needs a string 'id'")
        body = encode({**doc, "_schema": base.SCHEMA_VERSION})  # TypeError/ValueError: not JSON
        new: Doc = json.loads(body)  # a private copy, exactly what a restart would load
        doc_id: str = new["id"]
        if doc_id in mem.rows:
            raise DuplicateKey(table, "id", doc_id)
        clash = mem.conflict(new, doc_id)
        if clash is not None:
            raise clash
        indexed = mem.indexed_part(new)
        mem.put(doc_id, body, indexed, None)
        staged.append(
            _Staged(
                put_line(self._json_names[table], doc_id, body),
                lambda: mem.remove(doc_id, indexed),
                [(table, doc_id), *mem.keys_of(indexed)],
            )
        )
        return new

    def _stage_effects(self, new: Doc, effects: Effects | None, staged: list[_Staged]) -> None:
        for table, doc in effects(json.loads(json.dumps(new))) if effects else ():
            self._stage_insert(table, doc, staged)

    def _submit(self, loop: asyncio.AbstractEventLoop, staged: list[_Staged]) -> list[Any]:
        """Every part under the same lock hold: the writer commits them in one group (one commit
        line), so a crash keeps all of them or none."""
        return [self._writer.submit(loop, part.line, part.undo, part.keys) for part in staged]

    async def insert(self, table: str, doc: Doc, *, effects: Effects | None = None) -> Doc:
        loop = asyncio.get_running_loop()
        staged: list[_Staged] = []
        with self._lock:
            self._writer.check_writable()
            try:
                new = self._stage_insert(table, doc, staged)
                self._stage_effects(new, effects, staged)
            except BaseException:
                _undo(staged)
                raise
            done = self._submit(loop, staged)
        await asyncio.gather(*done)
        return new

    async def update(self, table: str, id: str, fn: Mutator, *, effects: Effects | None = None) -> Doc:
        mem = self._mem(table)
        loop = asyncio.get_running_loop()
        staged: list[_Staged] = []
        with self._lock:
            self._writer.check_writable()
            old_body = mem.rows.get(id)
            if old_body is None:
                raise RecordMissing(f"{table}/{id}")
            current: Doc = json.loads(old_body)
            old = mem.indexed_part(current)  # taken before fn may modify `current`
            result = fn(current)
            if not isinstance(result, dict):
                raise TypeError(f"{table}: update function must return a dict, not {type(result).__name__}")
            body = encode({**result, "id": id, "_schema": base.SCHEMA_VERSION})
            new: Doc = json.loads(body)
            clash = mem.conflict(new, id)
            if clash is not None:
                raise clash
            indexed = mem.indexed_part(new)
            mem.put(id, body, indexed, old)
            staged.append(
                _Staged(
                    put_line(self._json_names[table], id, body),
                    lambda: mem.put(id, old_body, old, indexed),
                    [(table, id), *mem.keys_of(old), *mem.keys_of(indexed)],
                )
            )
            try:
                self._stage_effects(new, effects, staged)
            except BaseException:
                _undo(staged)
                raise
            done = self._submit(loop, staged)
        await asyncio.gather(*done)
        return new

    async def delete(self, table: str, id: str, predicate: Callable[[Doc], bool] | None = None) -> bool:
        mem = self._mem(table)
        loop = asyncio.get_running_loop()
        with self._lock:
            self._writer.check_writable()
            old_body = mem.rows.get(id)
            if old_body is None:
                return False
            current: Doc = json.loads(old_body)
            old = mem.indexed_part(current)
            if predicate is not None and not predicate(current):
                return False
            mem.remove(id, old)
            done = self._writer.submit(
                loop,
                delete_line(self._json_names[table], id),
                lambda: mem.put(id, old_body, old, None),
                [(table, id), *mem.keys_of(old)],
            )
        await done
        return True

    # -- compaction -------------------------------------------------------------------------------

    async def compact(self) -> int:
        """Write a fresh snapshot and drop the journals it covers; returns the snapshot's size."""
        self._mem(next(iter(TABLES)))  # refuses when closed
        return await asyncio.to_thread(self._compact)

    def _compact(self) -> int:
        try:
            return self._compact_once()
        except OSError as exc:
            raise StoreUnavailable(
                f"Compactage impossible : {disk_problem(exc)}. "
                "L'ancien instantané et le journal sont intacts."
            ) from exc

    def _compact_once(self) -> int:
        with self._compaction_lock:
            with self._lock:
                rows = {name: dict(mem.rows) for name, mem in self._tables.items()}
                rows.update((name, dict(other)) for name, other in self._other_rows.items())
                cut = self._writer.rotate()
                gen = self._writer.journal.gen + 1  # no other cut in flight: we hold _compaction_lock

            def journal_cut_durable() -> None:
                if cut.result() != gen:
                    raise StoreError("compaction: unexpected journal generation")

            meta = {"journal": gen, "schema": base.SCHEMA_VERSION}
            try:
                size = write_snapshot(self.directory, rows, meta, ready=journal_cut_durable)
            finally:
                concurrent.futures.wait([cut])  # never leave a cut in flight for the next compaction
            recovery.drop_journals_before(self.directory, gen)
            self._snapshot_size = size
            return size

    def _maybe_compact(self, journal_size: int) -> None:
        """Writer thread, after each group: start a background compaction when it pays off."""
        threshold = max(self._compact_after, self._snapshot_size, self._next_compaction)
        if journal_size < threshold or self._closed:
            return
        with self._lock:
            if self._compactor is not None or self._closed:
                return
            self._compactor = threading.Thread(
                target=self._compact_in_background, name="formservice-store-compactor", daemon=True
            )
            self._compactor.start()

    def _compact_in_background(self) -> None:
        try:
            self._compact()
            self._next_compaction = 0
        except Exception:  # disk full, I/O error: retry once the journal has grown again
            log.exception("compaction du store impossible : nouvel essai plus tard")
            self._next_compaction = self._writer.journal.size + max(self._compact_after, self._snapshot_size)
        finally:
            with self._lock:
                self._compactor = None

    # -- life cycle -------------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        with self._lock:
            compactor = self._compactor
        if compactor is not None:
            compactor.join()
        self._writer.close()
        self._writer.on_group = None  # engine <-> writer cycle: gc.freeze() would keep it forever
        if not self._writer.broken:  # else the journal's size is uncertain: keep the open's manifest
            self._write_manifest()
        self._tinydb.close()
        self._dirlock.release()

    async def check(self) -> StoreReport:
        """Counts, plus live indexes compared with indexes rebuilt from the rows."""
        report = StoreReport(counts={name: len(mem.rows) for name, mem in self._tables.items()})
        for mem in self._tables.values():
            with self._lock:
                copy = MemTable(mem.name, mem.spec, dict(mem.rows))
                copy.unique = {f: dict(i) for f, i in mem.unique.items()}
                copy.indexed = {f: {k: dict(b) for k, b in i.items()} for f, i in mem.indexed.items()}
                copy.query = mem.query.copy()
            report.problems += await asyncio.to_thread(copy.index_problems)
        if self._writer.broken:
            report.problems.append(self._writer.broken)
        return report


def _make_private(directory: Path) -> None:
    """The store's directory and files lose the group's and others' permissions (a directory
    or files created by an earlier release, or by hand, under a wider umask)."""
    restrict(directory)
    with os.scandir(directory) as entries:
        for entry in entries:
            restrict(Path(entry.path))
