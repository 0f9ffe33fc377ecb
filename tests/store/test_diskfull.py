"""Disk full and I/O errors: a clear error, nothing acknowledged, the store intact and reopenable."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from formservice.store.contract import StoreUnavailable
from formservice.store.tinydb import journal, snapshot
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.journal import JournalFile, journal_generations, journal_path, replay

from .helpers import account

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("diskfull_child.py")


def test_a_full_disk_fails_writes_cleanly_and_keeps_acknowledged_data(store_dir: Path) -> None:
    """A full disk (RLIMIT_FSIZE) refuses writes in French, then reopens with exactly the acked data."""
    done = subprocess.run(
        [sys.executable, str(CHILD), str(store_dir), "60000"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["failed"], "the limit was never reached"
    assert len(result["acked"]) > 50
    assert "disque est plein" in result["message"]
    assert "Rien n'a été enregistré" in result["message"]
    assert result["after_failure"] == sorted(result["acked"])
    assert result["still_full_refused"]

    async def reopened() -> set[str]:
        engine = TinyDBEngine(store_dir)
        try:
            assert (await engine.check()).ok
            return {d["id"] for d in await engine.scan("accounts")}
        finally:
            await engine.close()

    assert asyncio.run(reopened()) == set(result["acked"]) | {"after"}


async def test_a_short_write_then_enospc_is_cut_off_and_undone(
    tiny: TinyDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A half-written group is cut off the journal, undone in memory and refused to its callers."""
    await tiny.insert("accounts", account(0))
    live_journal = journal_path(tiny.directory, journal_generations(tiny.directory)[-1]).stat()
    real_write = os.pwrite
    full = True

    def half_then_full(fd: int, data: bytes, offset: int) -> int:
        if not full or not os.path.samestat(os.fstat(fd), live_journal):  # not a write to the journal
            return real_write(fd, data, offset)
        if len(data) > 10:
            return real_write(fd, bytes(data[: len(data) // 2]), offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal.os, "pwrite", half_then_full)
    results = await asyncio.gather(
        *(tiny.insert("accounts", account(n)) for n in range(1, 6)), return_exceptions=True
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert await tiny.count("accounts") == 1
    assert await tiny.find("accounts", "status", "pending") == [await tiny.get("accounts", "acc-0")]
    full = False
    await tiny.insert("accounts", account(1))
    await tiny.close()
    path = journal_path(tiny.directory, journal_generations(tiny.directory)[-1])
    assert replay(path, {}).dropped == 0  # no garbage left between the groups
    engine = TinyDBEngine(tiny.directory)
    assert sorted(d["id"] for d in await engine.scan("accounts")) == ["acc-0", "acc-1"]
    await engine.close()


async def test_an_fsync_error_stops_writes_until_restart(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an fsync EIO writes are refused until restart, which finds all acked data, no more."""
    engine = TinyDBEngine(store_dir)
    await engine.insert("accounts", account(1))
    real = JournalFile.sync
    calls = 0

    def eio_once(file: JournalFile) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(errno.EIO, "Input/output error")
        real(file)

    monkeypatch.setattr(JournalFile, "sync", eio_once)
    with pytest.raises(StoreUnavailable, match="erreur d'écriture"):
        await engine.insert("accounts", account(2))
    with pytest.raises(StoreUnavailable, match="redémarrez"):
        await engine.insert("accounts", account(3))
    assert await engine.get("accounts", "acc-2") is None
    assert await engine.get("accounts", "acc-1") is not None
    assert not (await engine.check()).ok
    await engine.close()
    monkeypatch.undo()
    engine = TinyDBEngine(store_dir)
    assert sorted(d["id"] for d in await engine.scan("accounts")) == ["acc-1"]
    await engine.insert("accounts", account(4))
    await engine.close()


async def test_a_compaction_that_hits_a_full_disk_changes_nothing(
    tiny: TinyDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction that cannot write its snapshot raises StoreUnavailable and changes nothing."""
    for n in range(20):
        await tiny.insert("accounts", account(n))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(snapshot.os, "fsync", full)
    with pytest.raises(StoreUnavailable, match="Compactage impossible"):
        await tiny.compact()
    monkeypatch.undo()
    assert not list(tiny.directory.glob("*.tmp"))
    await tiny.insert("accounts", account(20))
    await tiny.close()
    engine = TinyDBEngine(tiny.directory)
    assert await engine.count("accounts") == 21
    await engine.close()
