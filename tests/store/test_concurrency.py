"""Races: check-then-write stays atomic under concurrent tasks, loops and threads."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from formservice.store import Store
from formservice.store.contract import Engine
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.journal import JournalFile

from .helpers import VersionConflict, account, bump, enrolment

pytestmark = pytest.mark.anyio


async def test_forty_signups_for_twenty_emails_give_twenty_accounts(engine: Engine) -> None:
    """40 concurrent create_if_email_free on 20 e-mails create exactly 20 accounts."""
    store = Store(engine)
    results = await asyncio.gather(
        *(store.accounts.create_if_email_free(account(n, email=f"c{n % 20}@exemple.fr")) for n in range(40))
    )
    assert sum(results) == 20
    assert await engine.count("accounts") == 20
    for n in range(20):
        assert len(await engine.find("accounts", "email", f"c{n}@exemple.fr")) == 1


async def _increment(engine: Engine, enrolment_id: str, all_read: asyncio.Barrier | None = None) -> int:
    """Read the version, then update only if it is unchanged; retry on conflict, as a form would.
    Between the read and the write other tasks run (the candidate is typing), so concurrent
    callers really do race; with ``all_read``, the first write waits until every caller has read
    (an engine whose reads wait for a pooled connection would otherwise spread them out).
    Returns how many of its writes were refused as stale."""
    conflicts = 0
    while True:
        doc = await engine.get("enrolments", enrolment_id)
        assert doc is not None
        await asyncio.sleep(0)
        if all_read is not None:
            await all_read.wait()
            all_read = None
        try:
            await engine.update(
                "enrolments", enrolment_id, bump(doc["version"], count=doc.get("count", 0) + 1)
            )
            return conflicts
        except VersionConflict:
            conflicts += 1
            await asyncio.sleep(0)


async def test_concurrent_version_checked_updates_lose_nothing(engine: Engine) -> None:
    """30 tasks that all read version 1, then write, leave count == 30: the 29 stale writes of the
    first round were refused (and retried), none overwrote another."""
    await engine.insert("enrolments", enrolment(1))
    all_read = asyncio.Barrier(30)
    conflicts = await asyncio.gather(*(_increment(engine, "enr-1", all_read) for _ in range(30)))
    doc = await engine.get("enrolments", "enr-1")
    assert doc is not None
    assert doc["count"] == 30
    assert doc["version"] == 31
    assert sum(conflicts) >= 29, conflicts  # without refusals, this test would not have raced at all
    assert conflicts.count(0) == 1  # one task won the first round: every other one was refused


async def test_threads_with_their_own_loops_share_one_engine(tiny: TinyDBEngine) -> None:
    """Four threads, each running its own event loop, race on one engine without a lost write."""
    await tiny.insert("enrolments", enrolment(1))
    created: list[bool] = []

    def worker(k: int) -> None:
        async def run() -> None:
            for n in range(10):
                store = Store(tiny)
                created.append(
                    await store.accounts.create_if_email_free(account(f"{k}-{n}", email=f"e{n}@x.fr"))
                )
                await _increment(tiny, "enr-1")

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()

    def join_all() -> None:
        for t in threads:
            t.join()

    await asyncio.to_thread(join_all)
    assert sum(created) == 10
    assert await tiny.count("accounts") == 10
    assert (await tiny.get("enrolments", "enr-1") or {})["count"] == 40


def test_one_engine_serves_successive_event_loops(store_dir: Path) -> None:
    """An engine opened outside any loop works from one asyncio.run to the next, then closes."""
    engine = TinyDBEngine(store_dir)
    asyncio.run(engine.insert("accounts", account(1)))
    asyncio.run(engine.insert("accounts", account(2)))
    assert asyncio.run(engine.count("accounts")) == 2
    asyncio.run(engine.close())
    reopened = TinyDBEngine(store_dir)
    assert asyncio.run(reopened.count("accounts")) == 2
    asyncio.run(reopened.close())


async def test_many_concurrent_writes_share_fsyncs(
    tiny: TinyDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 concurrent inserts are made durable by far fewer than 200 journal syncs (group commit)."""
    syncs = 0
    real = JournalFile.sync

    def counting(self: JournalFile) -> None:
        nonlocal syncs
        syncs += 1
        real(self)

    monkeypatch.setattr(JournalFile, "sync", counting)
    await asyncio.gather(*(tiny.insert("accounts", account(n)) for n in range(200)))
    assert await tiny.count("accounts") == 200
    assert 1 <= syncs < 100
