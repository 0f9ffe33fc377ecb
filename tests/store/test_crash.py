"""kill -9 at random moments loses no acknowledged write and never leaves a store that won't open."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from formservice.store.tinydb.engine import TinyDBEngine

CHILD = Path(__file__).with_name("crash_child.py")
TRIALS = 32

State = tuple[int, int]  # (version, payload size); (0, 0): absent, deleted or never written
ABSENT: State = (0, 0)


def read_log(path: Path) -> tuple[dict[str, State], dict[str, State], int]:
    """(last acknowledged state per id, state of the operation in flight per id, number of acks)."""
    acked: dict[str, State] = {}
    in_flight: dict[str, State] = {}
    acks = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        if line == "READY":
            continue
        kind, doc_id, version, size = line.split()
        if kind == "I":
            in_flight[doc_id] = (int(version), int(size))
        else:
            acked[doc_id] = (int(version), int(size))
            in_flight.pop(doc_id, None)
            acks += 1
    return acked, in_flight, acks


async def observe(store_dir: Path) -> dict[str, State]:
    engine = TinyDBEngine(store_dir)
    try:
        report = await engine.check()
        assert report.ok, report.problems
        return {d["id"]: (d["version"], len(d["pad"])) for d in await engine.scan("accounts")}
    finally:
        await engine.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """After each of 32 SIGKILLs the store opens with every acknowledged insert, shrink and delete."""
    store_dir = tmp_path / "store"
    rnd = random.Random(20251021)
    expected: dict[str, State] = {}  # what the store must hold, from every trial so far
    acknowledged = 0
    for trial in range(TRIALS):
        log = tmp_path / f"trial-{trial}.log"
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(store_dir), str(log), f"t{trial}", str(trial)]
        )
        try:
            early = trial % 5 == 4  # sometimes kill while it is still opening (recovering) the store
            deadline = time.monotonic() + 10
            while not early and not (log.exists() and log.read_bytes().startswith(b"READY")):
                assert child.poll() is None, "child died on its own"
                assert time.monotonic() < deadline, "child never got ready"
                time.sleep(0.005)
            time.sleep(rnd.uniform(0.0, 0.12 if early else 0.25))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        acked, in_flight, acks = read_log(log)
        acknowledged += acks
        expected.update(acked)
        found = asyncio.run(observe(store_dir))
        for doc_id in expected.keys() | in_flight.keys():
            # the last acknowledged state, or the one of an operation cut short by the kill
            before = expected.get(doc_id, ABSENT)
            allowed = {before, in_flight.get(doc_id, before)}
            got = found.get(doc_id, ABSENT)
            assert got in allowed, (trial, doc_id, got, allowed)
            expected[doc_id] = got
        assert not found.keys() - expected.keys(), "documents nobody wrote"
    assert acknowledged > 2000, "the children wrote too little for the test to mean anything"
