"""The TinyDB engine: durability across reopen, the lock, the journal's recovery rules, compaction."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
from tinydb import Query, TinyDB

from formservice.store.contract import StoreError, StoreLocked
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.integrity import MANIFEST_NAME, JournalMissing
from formservice.store.tinydb.journal import (
    CorruptStore,
    JournalFile,
    journal_generations,
    journal_path,
    replay,
)
from formservice.store.tinydb.snapshot import SNAPSHOT_NAME
from formservice.store.tinydb.tables import StoreTable

from .helpers import account, enrolment

pytestmark = pytest.mark.anyio


async def reopen(engine: TinyDBEngine, **kwargs: int) -> TinyDBEngine:
    await engine.close()
    return TinyDBEngine(engine.directory, **kwargs)


def last_journal(store_dir: Path) -> Path:
    return journal_path(store_dir, journal_generations(store_dir)[-1])


def hold_syncs(monkeypatch: pytest.MonkeyPatch, release: threading.Event) -> None:
    """Make each journal sync (the fsync that makes a group durable) wait for ``release``."""
    real = JournalFile.sync

    def slow(journal: JournalFile) -> None:
        release.wait(5)
        real(journal)

    monkeypatch.setattr(JournalFile, "sync", slow)


async def reads_do_not_wait(*reads: Callable[[], Awaitable[object]]) -> None:
    """Each read returns at once: no key it reads is left marked as written-but-not-durable (a
    stranded key would make its readers wait for a group that never comes)."""
    for read in reads:
        await asyncio.wait_for(read(), timeout=2)


async def test_every_kind_of_write_survives_a_reopen(tiny: TinyDBEngine) -> None:
    """Inserts, shrinking updates and deletes are all there after close and reopen."""
    await tiny.insert("accounts", account(1, notes="x" * 2000))
    await tiny.insert("accounts", account(2))
    await tiny.insert("enrolments", enrolment(1))
    await tiny.update("accounts", "acc-1", lambda d: d | {"notes": "", "status": "active"})
    await tiny.delete("accounts", "acc-2")
    tiny = await reopen(tiny)
    try:
        assert (await tiny.get("accounts", "acc-1") or {})["notes"] == ""
        assert await tiny.get("accounts", "acc-2") is None
        assert [d["id"] for d in await tiny.find("accounts", "status", "active")] == ["acc-1"]
        assert (await tiny.find_one("enrolments", "key", "acc-1:session-1") or {})["id"] == "enr-1"
    finally:
        await tiny.close()


async def test_a_second_engine_on_the_directory_is_refused_in_french(tiny: TinyDBEngine) -> None:
    """Opening a directory already open raises StoreLocked naming the holder."""
    with pytest.raises(StoreLocked) as info:
        TinyDBEngine(tiny.directory)
    assert "déjà utilisé" in str(info.value)
    assert "processus" in str(info.value)


async def test_close_releases_the_lock(store_dir: Path) -> None:
    """After close(), the directory can be opened again."""
    first = TinyDBEngine(store_dir)
    await first.close()
    second = TinyDBEngine(store_dir)
    await second.close()


async def test_a_closed_engine_refuses_work(store_dir: Path) -> None:
    """Using an engine after close() raises StoreError instead of writing behind the lock's back."""
    engine = TinyDBEngine(store_dir)
    await engine.close()
    await engine.close()  # idempotent
    with pytest.raises(StoreError):
        await engine.insert("accounts", account(1))


async def test_torn_last_line_is_dropped_on_open(tiny: TinyDBEngine) -> None:
    """A half-written last line (a crash in mid-write) is dropped and cut off; the rest loads."""
    await tiny.insert("accounts", account(1))
    await tiny.close()
    path = last_journal(tiny.directory)
    good = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b'["p","accounts",{"id":"acc-2","email":"half')
    tiny = TinyDBEngine(tiny.directory)
    try:
        assert await tiny.count("accounts") == 1
        assert path.stat().st_size == good
        await tiny.insert("accounts", account(3))  # appends after the cut, not after the garbage
    finally:
        tiny = await reopen(tiny)
        assert await tiny.count("accounts") == 2
        await tiny.close()


async def test_a_group_without_its_commit_line_is_dropped(tiny: TinyDBEngine) -> None:
    """Complete lines not followed by their commit line were never acknowledged: not applied."""
    await tiny.insert("accounts", account(1))
    await tiny.close()
    with open(last_journal(tiny.directory), "ab") as f:
        f.write(b'["d","accounts","acc-1"]\n')
    tiny = TinyDBEngine(tiny.directory)
    assert await tiny.get("accounts", "acc-1") is not None
    await tiny.close()


async def test_a_damaged_last_group_is_dropped(tiny: TinyDBEngine) -> None:
    """A last group whose bytes do not match its CRC (pages persisted out of order) is dropped."""
    manifest_at_open = (tiny.directory / MANIFEST_NAME).read_bytes()
    await tiny.insert("accounts", account(1))
    await tiny.insert("accounts", account(2, status="active"))
    await tiny.close()
    # A crash, not a close: the manifest is still the one written at open.
    (tiny.directory / MANIFEST_NAME).write_bytes(manifest_at_open)
    path = last_journal(tiny.directory)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"status":"active"', b'"status":"activf"'))
    tiny = TinyDBEngine(tiny.directory)
    assert await tiny.get("accounts", "acc-1") is not None
    assert await tiny.get("accounts", "acc-2") is None
    await tiny.close()


async def test_a_flipped_digit_before_the_last_commit_refuses_to_open(tiny: TinyDBEngine) -> None:
    """Damage that still parses as JSON is caught by the CRC; not at the end, it is corruption."""
    await tiny.insert("accounts", account(1, version=1))
    await tiny.insert("accounts", account(2))
    await tiny.close()
    path = last_journal(tiny.directory)
    path.write_bytes(path.read_bytes().replace(b'"version":1', b'"version":7', 1))
    with pytest.raises(CorruptStore):
        TinyDBEngine(tiny.directory)


async def test_preallocated_zeros_after_the_last_group_are_not_a_torn_tail(tiny: TinyDBEngine) -> None:
    """Preallocated zeros past the journal's end are not a torn tail; writing resumes before them."""
    await tiny.insert("accounts", account(1))
    await tiny.close()
    path = last_journal(tiny.directory)
    good = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b"\0" * 100_000)
    assert replay(path, {}).dropped == 0
    tiny = TinyDBEngine(tiny.directory)
    await tiny.insert("accounts", account(2))
    await tiny.close()
    assert path.stat().st_size > good
    tiny = TinyDBEngine(tiny.directory)
    assert await tiny.count("accounts") == 2
    await tiny.close()


async def test_damage_before_the_last_commit_refuses_to_open(tiny: TinyDBEngine) -> None:
    """A damaged group followed by committed ones is not a crash: opening raises CorruptStore."""
    for n in range(3):
        await tiny.insert("accounts", account(n))
    await tiny.close()
    path = last_journal(tiny.directory)
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0][:20]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptStore) as info:
        TinyDBEngine(tiny.directory)
    assert "ligne 1" in str(info.value)
    path.unlink()  # the operator's repair; the failed open released the lock
    with pytest.raises(JournalMissing, match="est absent alors que le manifeste"):
        TinyDBEngine(tiny.directory)  # ... which throws the records away: said, and refused
    (tiny.directory / MANIFEST_NAME).unlink()  # as the message says, if that is really meant
    await TinyDBEngine(tiny.directory).close()


async def test_a_journal_generation_after_the_snapshot_is_replayed(tiny: TinyDBEngine) -> None:
    """Two live generations (compaction killed before its rename) are replayed in order, then folded."""
    await tiny.insert("accounts", account(1))
    await tiny.close()
    gen = journal_generations(tiny.directory)[-1]
    journal_path(tiny.directory, gen + 1).write_text('["d","accounts","acc-1"]\n["c",1]\n')
    tiny = TinyDBEngine(tiny.directory)
    assert await tiny.get("accounts", "acc-1") is None
    assert journal_generations(tiny.directory) == [gen + 2]
    await tiny.close()


async def test_compaction_writes_a_snapshot_and_drops_old_journals(tiny: TinyDBEngine) -> None:
    """compact() leaves one snapshot, one fresh journal, and the same data after reopen."""
    for n in range(50):
        await tiny.insert("accounts", account(n))
    await tiny.delete("accounts", "acc-0")
    before = journal_generations(tiny.directory)
    await tiny.compact()
    after = journal_generations(tiny.directory)
    assert after == [before[-1] + 1]
    assert journal_path(tiny.directory, after[0]).stat().st_size == 0
    await tiny.insert("accounts", account(99))
    tiny = await reopen(tiny)
    assert await tiny.count("accounts") == 50
    assert await tiny.get("accounts", "acc-0") is None
    await tiny.close()


async def test_compaction_runs_by_itself_and_loses_nothing_written_meanwhile(store_dir: Path) -> None:
    """With a tiny threshold, background compactions run during 600 concurrent writes; all stay."""
    engine = TinyDBEngine(store_dir, compact_after=20_000)
    for wave in range(6):
        await asyncio.gather(*(engine.insert("accounts", account(f"{wave}-{n}")) for n in range(100)))
        await asyncio.gather(
            *(engine.update("accounts", f"acc-{wave}-{n}", lambda d: d | {"password": ""}) for n in range(50))
        )
    engine = await reopen(engine)
    assert await engine.count("accounts") == 600
    assert (await engine.get("accounts", "acc-5-10") or {})["password"] == ""
    assert (store_dir / SNAPSHOT_NAME).exists()
    assert len(journal_generations(store_dir)) == 1
    await engine.close()


async def test_leftovers_of_an_interrupted_compaction_are_cleaned(tiny: TinyDBEngine) -> None:
    """A temp snapshot and journals older than the snapshot are removed on open."""
    await tiny.insert("accounts", account(1))
    await tiny.compact()
    await tiny.insert("accounts", account(2))
    await tiny.close()
    directory = tiny.directory
    (directory / (SNAPSHOT_NAME + ".tmp")).write_text('{"_meta": half')
    journal_path(directory, 0).write_text('["d","accounts","acc-1"]\n["c",1]\n')
    tiny = TinyDBEngine(directory)
    assert await tiny.count("accounts") == 2
    assert not (directory / (SNAPSHOT_NAME + ".tmp")).exists()
    assert not journal_path(directory, 0).exists()
    await tiny.close()


async def test_snapshot_is_a_tinydb_database(tiny: TinyDBEngine) -> None:
    """TinyDB itself opens the snapshot and queries it (string ids need our Table class)."""
    await tiny.insert("accounts", account(1, status="active"))
    await tiny.insert("accounts", account(2))
    await tiny.compact()

    class Inspect(TinyDB):
        table_class = StoreTable

    with Inspect(tiny.directory / SNAPSHOT_NAME, access_mode="r") as db:
        found = db.table("accounts").search(Query().status == "active")
    assert [d["id"] for d in found] == ["acc-1"]


async def test_tables_unknown_to_this_release_are_kept(tiny: TinyDBEngine) -> None:
    """A table in the files but not in TABLES survives reopen and compaction untouched."""
    await tiny.close()
    with open(last_journal(tiny.directory), "ab") as f:
        f.write(b'["p","archive",{"id":"x1","v":1}]\n["c",1]\n')
    tiny = TinyDBEngine(tiny.directory)
    await tiny.compact()
    await tiny.close()
    text = (tiny.directory / SNAPSHOT_NAME).read_text()
    assert '"archive": {' in text
    assert json.loads(text)["archive"]["x1"] == {"id": "x1", "v": 1}


async def test_a_read_waits_until_the_write_it_would_see_is_durable(
    tiny: TinyDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a write's fsync is in flight, a reader of that document waits instead of seeing it."""
    release = threading.Event()
    hold_syncs(monkeypatch, release)
    writer = asyncio.create_task(tiny.insert("accounts", account(1)))
    await asyncio.sleep(0.02)
    reader = asyncio.create_task(tiny.find_one("accounts", "email", "candidat1@exemple.fr"))
    other = await tiny.get("accounts", "acc-404")  # keys with nothing in flight do not wait
    await asyncio.sleep(0.02)
    assert other is None
    assert not writer.done()
    assert not reader.done()
    release.set()
    assert (await reader or {})["id"] == "acc-1"
    await writer


async def test_writes_do_not_block_the_event_loop(
    tiny: TinyDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow fsync delays only the writer: other coroutines keep running meanwhile."""
    release = threading.Event()
    hold_syncs(monkeypatch, release)
    writer = asyncio.create_task(tiny.insert("accounts", account(1)))
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0.001)
        ticks += 1
    assert ticks == 10
    assert not writer.done()
    release.set()
    await writer


async def test_the_live_indexes_match_the_rows_after_many_changes(tiny: TinyDBEngine) -> None:
    """check() rebuilds the indexes from the rows and finds them equal to the live ones."""
    for n in range(30):
        await tiny.insert("accounts", account(n, status=f"s{n % 3}"))
    for n in range(0, 30, 2):
        await tiny.update("accounts", f"acc-{n}", lambda d: d | {"status": "active", "email": d["id"] + "@x"})
    for n in range(0, 30, 3):
        await tiny.delete("accounts", f"acc-{n}")
    report = await tiny.check()
    assert report.ok, report.problems
    assert report.counts["accounts"] == 20


async def test_a_cancelled_writer_leaves_the_engine_consistent(
    tiny: TinyDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling a task awaiting its fsync neither retracts the change nor jams the engine."""
    release = threading.Event()
    hold_syncs(monkeypatch, release)
    task = asyncio.create_task(tiny.insert("accounts", account(1)))
    await asyncio.sleep(0.02)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await tiny.insert("accounts", account(2))
    assert await tiny.get("accounts", "acc-1") is not None
    tiny = await reopen(tiny)
    assert await tiny.count("accounts") == 2
    await tiny.close()


# -- the writer thread's sleep and wake-up (writer.Writer: a plain lock, not a Condition) ---------


async def test_the_writer_wakes_for_every_write_whatever_the_timing(tiny: TinyDBEngine) -> None:
    """Writes submitted while the writer sleeps, is about to sleep or is busy are never stranded:
    each completes, and nothing stays pending."""
    delays = [0.0, 0.0001, 0.0, 0.002, 0.0005]  # asleep for some writes, awake for others
    for n in range(140):
        await asyncio.wait_for(tiny.insert("accounts", account(n)), timeout=10)
        await asyncio.sleep(delays[n % len(delays)])
    assert await tiny.count("accounts") == 140
    await reads_do_not_wait(
        *(partial(tiny.get, "accounts", f"acc-{n}") for n in range(140)),
        *(partial(tiny.find_one, "accounts", "email", f"candidat{n}@exemple.fr") for n in range(140)),
        partial(tiny.find, "accounts", "status", "pending"),
    )


async def test_threads_racing_the_writers_sleep_lose_no_wake_up(tiny: TinyDBEngine) -> None:
    """Three threads with their own loops write one at a time with jitter: none hangs."""

    def worker(k: int) -> None:
        async def run() -> None:
            for n in range(60):
                await asyncio.wait_for(tiny.insert("sessions", {"id": f"s-{k}-{n}", "account_id": "a"}), 10)
                if n % 3 == k:
                    await asyncio.sleep(0.0002 * k)

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    await asyncio.to_thread(lambda: [t.start() for t in threads] and [t.join(30) for t in threads])
    assert not any(t.is_alive() for t in threads)
    assert await tiny.count("sessions") == 180
    await reads_do_not_wait(
        *(partial(tiny.get, "sessions", f"s-{k}-{n}") for k in range(3) for n in range(60)),
        partial(tiny.find, "sessions", "account_id", "a"),
    )


async def test_a_read_right_after_a_write_sees_it(tiny: TinyDBEngine) -> None:
    """Callers are woken before the writer clears its pending keys: a read issued at once still
    sees the write (and every read sees only durable data)."""
    for n in range(100):
        await tiny.insert("accounts", account(n))
        assert (await tiny.find_one("accounts", "email", f"candidat{n}@exemple.fr") or {})["id"] == f"acc-{n}"
        await tiny.update("accounts", f"acc-{n}", lambda d: d | {"status": "active"})
        assert (await tiny.get("accounts", f"acc-{n}") or {})["status"] == "active"
    assert len(await tiny.find("accounts", "status", "active")) == 100


async def test_closing_an_idle_engine_wakes_and_stops_the_writer(store_dir: Path) -> None:
    """close() wakes the sleeping writer thread, which drains nothing and stops: no thread the
    engine started outlives it."""
    before = set(threading.enumerate())
    engine = TinyDBEngine(store_dir)
    await engine.insert("accounts", account(1))
    await asyncio.sleep(0.01)  # the writer is asleep by now
    started = set(threading.enumerate()) - before
    assert started, "the engine started no thread: nothing to stop"
    await asyncio.wait_for(engine.close(), timeout=10)
    assert [t.name for t in started if t.is_alive()] == []


async def test_compaction_queued_while_the_writer_sleeps_is_carried_out(tiny: TinyDBEngine) -> None:
    """A rotation marker (compaction's journal cut) wakes an idle writer like a write does."""
    for n in range(5):
        await tiny.insert("accounts", account(n))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(tiny.compact(), timeout=10)
    await tiny.insert("accounts", account(5))
    tiny = await reopen(tiny)
    assert await tiny.count("accounts") == 6
    await tiny.close()


def test_replay_applies_whole_groups_and_counts_them(tmp_path: Path) -> None:
    """Each committed group is applied in order; good_size ends after the last commit line."""
    path = tmp_path / "journal.000000.jsonl"
    good = (
        '["p","accounts","a1",{"id":"a1"}]\n["p","accounts","a2",{"id":"a2"}]\n["c",2]\n'
        '["d","accounts","a1"]\n["c",1]\n'
    )
    path.write_text(good + '["d","accounts","a2"]\n')
    rows: dict[str, dict[str, str]] = {}
    result = replay(path, rows)
    assert rows == {"accounts": {"a2": '{"id":"a2"}'}}
    assert (result.groups, result.changes, result.good_size) == (2, 3, len(good))
    assert result.dropped == len('["d","accounts","a2"]\n')
    assert result.notes == [
        f"{path.name} : {result.dropped} octet(s) en fin de journal jamais confirmés "
        "(arrêt brutal pendant une écriture) ignorés"
    ]


@pytest.mark.parametrize(
    "group",
    [
        '["d","accounts","a1"]\n["c",2]\n',  # fewer lines than the commit line counts
        '["d","accounts","a1"]\n["c",1,1]\n',  # wrong CRC
        '["x","accounts","a1"]\n["c",1]\n',  # a line that is no change
        '["d","accounts","\xff"]\n["c",1]\n',  # not UTF-8 (written below as latin-1)
    ],
)
def test_replay_drops_a_damaged_final_group_of_the_last_journal(tmp_path: Path, group: str) -> None:
    """A crash can damage the final group only: it is dropped, the groups before it stay."""
    path = tmp_path / "journal.000000.jsonl"
    good = b'["p","accounts","a1",{"id":"a1"}]\n["c",1]\n'
    path.write_bytes(good + group.encode("latin-1"))
    rows: dict[str, dict[str, str]] = {}
    result = replay(path, rows)
    assert rows == {"accounts": {"a1": '{"id":"a1"}'}}
    assert result.good_size == len(good) and result.dropped == len(group.encode("latin-1"))


def test_replay_refuses_a_damaged_group_in_an_older_journal(tmp_path: Path) -> None:
    """Only the last journal can have been cut by a crash: in an older one, damage is corruption."""
    path = tmp_path / "journal.000000.jsonl"
    path.write_text('["p","accounts","a1",{"id":"a1"}]\n["c",1]\n["d","accounts","a1"]\n["c",2]\n')
    with pytest.raises(CorruptStore) as info:
        replay(path, {}, last=False)
    assert str(info.value) == f"{path} ligne 3 : groupe d'écritures endommagé dans un ancien journal"


def test_replay_refuses_a_damaged_group_followed_by_a_good_one(tmp_path: Path) -> None:
    """A good commit after a damaged group is no crash: CorruptStore names the damaged group's line."""
    path = tmp_path / "journal.000000.jsonl"
    path.write_text('["p","accounts","a1",{"id":"a1"}]\n["c",1]\n["d","accounts","a1"]\n["c",2]\n["c",0]\n')
    with pytest.raises(CorruptStore) as info:
        replay(path, {})
    assert str(info.value) == (
        f"{path} ligne 3 : groupe d'écritures endommagé suivi d'écritures valides "
        "(ce n'est pas une coupure en cours d'écriture)"
    )
