"""Group commit: one thread makes changes durable; every caller waits on an asyncio future.

Callers apply their change to memory and queue its journal line while holding the engine lock
(so the order in the journal is the order of the changes), then ``await`` the future `submit`
returns. The writer thread takes *everything* queued, appends it with one ``write`` followed by
a commit line, calls ``fdatasync`` once, and only then resolves the futures: N concurrent writes
cost one fsync, and the event loop never blocks on the disk.

Futures are resolved with ``loop.call_soon_threadsafe``, once per loop per group, so any number
of event loops (a new one per test, one per thread) can share one engine.

Failure (disk full, I/O error): the group is cut off the journal (``ftruncate`` back to the
last commit), every change not yet durable, this group's and the ones queued behind it, is
undone in memory in reverse order, and their callers get StoreUnavailable. Memory is then
exactly what is on disk. If the journal cannot be cut back, or ``fdatasync`` itself failed (after
which Linux may have dropped the dirty pages), the writer refuses all further writes until the
service restarts and replays the journal: PostgreSQL draws the same line.

Readers do not see a change before it is durable: ``pending`` maps each key (table + id, table +
field + value) touched by a change in flight to the change's sequence number, and `settled`
makes a reader of such a key wait for that change's group (for a few groups at most, so that a
key rewritten without pause cannot starve its readers). With no write in flight it costs one
dict truth test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import threading
import zlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from formservice.store.contract import StoreError, StoreUnavailable
from formservice.store.tinydb.journal import JournalFile, commit_line

Future = asyncio.Future[None]

_RECOVERABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class _Entry:
    seq: int
    line: str | None  # None: a rotation marker
    undo: Callable[[], None] | None
    keys: Iterable[Hashable]
    loop: asyncio.AbstractEventLoop | None
    future: Future | None
    rotated: concurrent.futures.Future[int] | None = None


def disk_problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in _RECOVERABLE:
        return "le disque est plein"
    return f"erreur d'écriture sur le disque ({exc})"


def unavailable(exc: BaseException, *, certain: bool = True) -> StoreUnavailable:
    outcome = (
        "Rien n'a été enregistré pour cette opération"
        if certain
        else "Cette opération n'a peut-être pas été enregistrée (vérifiez après redémarrage)"
    )
    return StoreUnavailable(
        f"Enregistrement impossible : {disk_problem(exc)}. {outcome} ; "
        "les données déjà confirmées sont intactes."
    )


class Writer:
    """The journal's only writer; ``lock`` is the engine lock, shared so that queue order is
    change order."""

    def __init__(self, lock: threading.Lock, journal: JournalFile, new_journal: Callable[[int], JournalFile]):
        self._lock = lock
        # The thread's sleep: a plain lock it blocks on, released by the first submit after it
        # said it was going to sleep (``_sleeping``, set and cleared under the engine lock, so a
        # wake-up is neither lost nor doubled). Lighter than a Condition on the write path: no
        # waiter lock allocated per sleep, no engine lock to take back on waking.
        self._wakeup = threading.Lock()
        self._wakeup.acquire()
        self._sleeping = False
        self._rotations = 0  # rotation markers in the queue: none, the usual case, takes a fast path
        self.journal = journal
        self._new_journal = new_journal
        self._queue: list[_Entry] = []
        self._seq = 0
        self.pending: dict[Hashable, int] = {}
        self._watchers: list[tuple[int, asyncio.AbstractEventLoop, Future]] = []
        self.broken: str | None = None
        self._tail_dirty = False
        self._closing = False
        self.on_group: Callable[[int], None] | None = None  # called with the journal size
        self._thread = threading.Thread(target=self._run, name="formservice-store-writer", daemon=True)
        self._thread.start()

    # -- caller side (engine lock held) -----------------------------------------------------------

    def check_writable(self) -> None:
        if self._closing:
            raise StoreError("store fermé")
        if self.broken:
            raise StoreUnavailable(self.broken)

    def submit(
        self, loop: asyncio.AbstractEventLoop, line: str, undo: Callable[[], None], keys: Iterable[Hashable]
    ) -> Future:
        """Queue a change already applied to memory; the future resolves once it is durable."""
        self._seq += 1
        future = loop.create_future()
        for key in keys:
            self.pending[key] = self._seq
        self._queue.append(_Entry(self._seq, line, undo, keys, loop, future))
        if self._sleeping:
            self._wake_thread()
        return future

    def _wake_thread(self) -> None:
        """Engine lock held."""
        self._sleeping = False
        self._wakeup.release()

    def rotate(self) -> concurrent.futures.Future[int]:
        """Queue a switch to the next journal generation, returned once every change queued
        before it is durable in the current one (compaction's cut point)."""
        self.check_writable()
        done: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._queue.append(_Entry(self._seq, None, None, (), None, None, done))
        self._rotations += 1
        if self._sleeping:
            self._wake_thread()
        return done

    async def settled(self, keys: Iterable[Hashable]) -> None:
        """Wait until no change in flight touches ``keys`` (a few rounds at most: a key written
        without pause is then read as it is)."""
        for _ in range(8):
            if not self.pending:
                return
            with self._lock:
                seq = max((self.pending.get(k, 0) for k in keys), default=0)
                if not seq:
                    return
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                self._watchers.append((seq, loop, future))
            await future

    def close(self) -> None:
        """Drain the queue, stop the thread, close the journal (blocking)."""
        with self._lock:
            self._closing = True
            if self._sleeping:
                self._wake_thread()
        self._thread.join()

    # -- writer thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        lock = self._lock
        try:
            while True:
                with lock:
                    batch, self._queue = self._queue, []
                    plain = not self._rotations
                    self._rotations = 0
                    if not batch:
                        if self._closing:
                            return
                        self._sleeping = True
                if not batch:
                    self._wakeup.acquire()  # until a submit (or close) releases it
                elif plain:  # the usual case: changes only
                    self._commit_group(batch, batch)
                else:
                    self._commit(batch)
        finally:
            self.journal.close()

    def _commit(self, batch: list[_Entry]) -> None:
        start = 0
        while start < len(batch):
            if batch[start].line is None:
                self._rotate(batch[start])
                start += 1
                continue
            end = start
            while end < len(batch) and batch[end].line is not None:
                end += 1
            if not self._commit_group(batch[start:end], batch[start:]):
                return
            start = end

    def _commit_group(self, group: list[_Entry], rest: list[_Entry]) -> bool:
        """Make ``group`` durable and wake its callers; on failure, fail ``rest`` (the group and
        what follows it in the batch) and return False."""
        try:
            self._write(group)
        except Exception as exc:  # OSError, or a bug: either way nothing here is durable
            if not isinstance(exc, OSError):
                log.exception("journal writer")
                self._break(exc)
            self._fail(rest, exc)
            return False
        self._done(group)
        return True

    def _write(self, group: list[_Entry]) -> None:
        if len(group) == 1:
            payload = (group[0].line + "\n").encode()  # type: ignore[operator]
        else:
            payload = ("\n".join([e.line for e in group]) + "\n").encode()  # type: ignore[misc]
        data = payload + (commit_line(len(group), zlib.crc32(payload)) + "\n").encode()
        before = self.journal.size
        in_fsync = False
        try:
            self.journal.append(data)
            in_fsync = True
            self.journal.sync()
        except OSError as exc:
            try:
                self.journal.truncate(before)
            except OSError:
                self._tail_dirty = True  # the group may still be whole on disk: outcome unknown
                self._break(exc)
            else:
                # After a failed fsync, Linux may have dropped the dirty pages: stop, as PostgreSQL does.
                if exc.errno not in _RECOVERABLE or in_fsync:
                    self._break(exc)
            raise

    def _break(self, exc: Exception) -> None:
        self.broken = (
            f"Le journal des données n'est plus fiable après une erreur disque ({exc}). "
            "Les données confirmées sont sur le disque ; redémarrez le service après avoir réglé le problème."
        )

    def _rotate(self, marker: _Entry) -> None:
        assert marker.rotated is not None
        try:
            fresh = self._new_journal(self.journal.gen + 1)
        except OSError as exc:
            marker.rotated.set_exception(unavailable(exc))
            return
        old, self.journal = self.journal, fresh
        old.close()
        marker.rotated.set_result(fresh.gen)

    def _done(self, group: list[_Entry]) -> None:
        # Wake the callers first: the group is durable, and each Python step here holds the GIL
        # their event loop needs. The bookkeeping below then overlaps the loop's wake-up; a reader
        # arriving before it still finds its key pending and waits for the watchers' wake-up.
        first = group[0].loop
        if len(group) == 1 or all(e.loop is first for e in group):  # one event loop, the usual case
            _wake_loop(first, [e.future for e in group], None)  # type: ignore[misc]
        else:
            _wake([(e.loop, e.future) for e in group], None)
        durable = group[-1].seq
        with self._lock:
            pending = self.pending
            for entry in group:
                for key in entry.keys:
                    if pending.get(key) == entry.seq:
                        del pending[key]
            ready = []
            if self._watchers:
                ready = [w for w in self._watchers if w[0] <= durable]
                if ready:
                    self._watchers = [w for w in self._watchers if w[0] > durable]
        if ready:
            _wake([(loop, f) for _, loop, f in ready], None)
        if self.on_group is not None:
            try:
                self.on_group(self.journal.size)
            except Exception:  # compaction trouble must not stop the writer
                log.exception("journal writer: after-group hook")

    def _fail(self, entries: list[_Entry], exc: Exception) -> None:
        with self._lock:
            entries = entries + self._queue
            self._queue = []
            self._rotations = 0  # the markers queued behind are in `entries`, failed below
            for entry in reversed(entries):
                if entry.undo is not None:
                    entry.undo()
            self.pending.clear()  # every change not durable is in `entries`, now undone
            watchers, self._watchers = self._watchers, []
        for entry in entries:
            if entry.rotated is not None:
                entry.rotated.set_exception(unavailable(exc))
        _wake([(e.loop, e.future) for e in entries], unavailable(exc, certain=not self._tail_dirty))
        _wake([(loop, f) for _, loop, f in watchers], None)


def _wake(
    waiters: list[tuple[asyncio.AbstractEventLoop | None, Future | None]], exc: StoreUnavailable | None
) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[Future]] = {}
    for loop, future in waiters:
        if loop is not None and future is not None:
            by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        _wake_loop(loop, futures, exc)


def _wake_loop(
    loop: asyncio.AbstractEventLoop | None, futures: list[Future], exc: StoreUnavailable | None
) -> None:
    if loop is None:
        return
    try:  # not contextlib.suppress: this runs once per group, on the acknowledgement's path
        loop.call_soon_threadsafe(_resolve, futures, exc)
    except RuntimeError:  # that loop is closed: nobody waits there any more
        return


def _resolve(futures: list[Future], exc: StoreUnavailable | None) -> None:
    for future in futures:
        if future.done():  # the caller was cancelled
            continue
        if exc is None:
            future.set_result(None)
        else:  # one instance per caller: each raise adds its own traceback
            future.set_exception(StoreUnavailable(*exc.args))
