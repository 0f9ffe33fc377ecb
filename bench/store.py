"""Time our TinyDB engine against SQLite (WAL, synchronous=FULL) at 1k, 10k and 100k accounts.

Same run, same machine, same documents (~540 bytes of JSON), same durability (every write is
fsynced before it returns). Operations:

- insert, one writer: a new account, durable, one at a time (latency);
- insert, 32 writers: 32 tasks (ours) / 32 threads taking turns on one connection (SQLite; with
  a connection each they would also wait in SQLite's busy handler, which sleeps);
- lookup by e-mail: an existing account by its unique e-mail, decoded to a dict;
- checked update: read an account, then write it back only if its version is unchanged
  (ours: ``update`` with a version check in ``fn``; SQLite: ``UPDATE ... WHERE version = ?``).

SQLite runs on the calling thread, which the service's event loop could not afford: it is its
best case. The second SQLite column runs each write through a worker thread, as an asyncio
service must (aiosqlite does the same), so it pays the handoff ours pays.

Each figure is the best of 3 rounds (2 with --quick) of the median over many operations: on a
shared machine, other processes only ever add time.

Targets (issue #3): at 100k, each cost within 2x of the cost at 1k; faster than SQLite FULL on
durable writes and on lookups. Peak memory is measured in a child process opening a 100k store.

    .venv/bin/python bench/store.py [--quick] [--strict-target]

--quick (1k and 10k, a few seconds) is for checking that the benchmark still runs: its figures
are indicative and a missed target never makes it exit 1, even with --strict-target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from formservice.store.tinydb.engine import TinyDBEngine

TARGET_GROWTH = 2.0
Results = dict[int, dict[str, dict[str, float]]]  # size -> engine -> operation -> cost
WRITERS = 32


def account(n: int) -> dict[str, Any]:
    return {
        "id": f"acc-{n:08d}",
        "email": f"candidat.{n}@exemple.fr",
        "status": "pending",
        "version": 1,
        "password": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "h" * 43,
        "last_name": "Martin",
        "first_names": "Léa Anne",
        "birth_date": "1990-05-17",
        "birth_place": "Niort (79)",
        "address": "3 rue des Écoles",
        "postal_code": "86000",
        "city": "Poitiers",
        "phone": "06.12.34.56.78",
        "created_at": "2025-10-21T09:00:00+02:00",
        "activated_at": None,
        "consents": {"rgpd": True, "mail": False},
        "notes": "x" * 60,
    }


class Conflict(Exception):
    pass


# -- ours -------------------------------------------------------------------------------------------


async def per_op(ops: int, op: Callable[[int], Awaitable[object]]) -> float:
    """Median microseconds of ``ops`` sequential calls (medians resist the shared machine's noise)."""
    times = []
    for i in range(ops):
        start = time.perf_counter()
        await op(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def bench_ours(directory: Path, size: int, ops: dict[str, int]) -> dict[str, float]:
    engine = TinyDBEngine(directory)
    for start in range(0, size, 512):
        await asyncio.gather(
            *(engine.insert("accounts", account(n)) for n in range(start, min(size, start + 512)))
        )
    await engine.close()
    started = time.perf_counter()
    engine = TinyDBEngine(directory)  # a restart: load snapshot + journal
    res = {"open (ms)": (time.perf_counter() - started) * 1e3}
    rnd = random.Random(1)
    nxt = iter(range(size, 10**9))

    async def writer(k: int) -> None:
        for _ in range(ops["concurrent"] // WRITERS):
            await engine.insert("accounts", account(next(nxt)))

    async def checked_update(i: int) -> None:
        doc_id = f"acc-{rnd.randrange(size):08d}"
        doc = await engine.get("accounts", doc_id)
        assert doc is not None
        expected = doc["version"]

        def fn(current: dict[str, Any]) -> dict[str, Any]:
            if current["version"] != expected:
                raise Conflict
            return current | {"version": expected + 1, "status": "active"}

        await engine.update("accounts", doc_id, fn)

    def insert(i: int) -> Awaitable[object]:
        return engine.insert("accounts", account(next(nxt)))

    def lookup(i: int) -> Awaitable[object]:
        return engine.find_one("accounts", "email", f"candidat.{rnd.randrange(size)}@exemple.fr")

    for _ in range(ops["rounds"]):
        best(res, "insert, 1 writer", await per_op(ops["write"], insert))
        started = time.perf_counter()
        await asyncio.gather(*(writer(k) for k in range(WRITERS)))
        best(res, f"insert, {WRITERS} writers", (time.perf_counter() - started) / ops["concurrent"] * 1e6)
        best(res, "lookup by e-mail", await per_op(ops["read"], lookup))
        best(res, "checked update", await per_op(ops["write"], checked_update))
    await engine.close()
    return res


def best(results: dict[str, float], op: str, cost: float) -> None:
    """Keep the best of the rounds: other processes on a shared machine only ever add time."""
    results[op] = min(results.get(op, cost), cost)


# -- SQLite -----------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE accounts (id TEXT PRIMARY KEY, email TEXT UNIQUE, status TEXT, version INTEGER, doc TEXT);
CREATE INDEX accounts_status ON accounts(status);
"""
INSERT = "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)"


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def row(doc: dict[str, Any]) -> tuple[Any, ...]:
    return doc["id"], doc["email"], doc["status"], doc["version"], json.dumps(doc, ensure_ascii=False)


def sqlite_insert(db: sqlite3.Connection, doc: dict[str, Any]) -> None:
    db.execute(INSERT, row(doc))  # autocommit: one durable transaction


def sqlite_checked_update(db: sqlite3.Connection, doc_id: str) -> None:
    text, version = db.execute("SELECT doc, version FROM accounts WHERE id = ?", (doc_id,)).fetchone()
    doc = json.loads(text) | {"version": version + 1, "status": "active"}
    cur = db.execute(
        "UPDATE accounts SET doc = ?, version = ?, status = ? WHERE id = ? AND version = ?",
        (json.dumps(doc, ensure_ascii=False), version + 1, "active", doc_id, version),
    )
    if cur.rowcount != 1:
        raise Conflict


def sync_per_op(ops: int, op: Callable[[int], object]) -> float:
    times = []
    for i in range(ops):
        start = time.perf_counter()
        op(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def bench_sqlite(
    path: Path, size: int, ops: dict[str, int]
) -> tuple[dict[str, float], dict[str, float]]:
    db = connect(path)
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    db.executemany(INSERT, (row(account(n)) for n in range(size)))
    db.execute("COMMIT")
    rnd = random.Random(1)
    nxt = iter(range(size, 10**9))
    direct: dict[str, float] = {}
    threaded: dict[str, float] = {}
    shared = threading.Lock()  # one connection for all: no busy-handler sleeps, SQLite's best case

    def writer() -> None:
        for _ in range(ops["concurrent"] // WRITERS):
            doc = account(next(nxt))
            with shared:
                sqlite_insert(db, doc)

    def lookup(i: int) -> dict[str, Any]:
        email = f"candidat.{rnd.randrange(size)}@exemple.fr"
        found: dict[str, Any] = json.loads(
            db.execute("SELECT doc FROM accounts WHERE email = ?", (email,)).fetchone()[0]
        )
        return found

    def insert(i: int) -> None:
        sqlite_insert(db, account(next(nxt)))

    def update(i: int) -> None:
        sqlite_checked_update(db, f"acc-{rnd.randrange(size):08d}")

    for _ in range(ops["rounds"]):
        best(direct, "insert, 1 writer", sync_per_op(ops["write"], insert))
        best(threaded, "insert, 1 writer", await per_op(ops["write"], lambda i: asyncio.to_thread(insert, i)))
        threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        best(direct, f"insert, {WRITERS} writers", (time.perf_counter() - started) / ops["concurrent"] * 1e6)
        best(direct, "lookup by e-mail", sync_per_op(ops["read"], lookup))
        best(direct, "checked update", sync_per_op(ops["write"], update))
        best(threaded, "checked update", await per_op(ops["write"], lambda i: asyncio.to_thread(update, i)))
    db.close()
    return direct, threaded


# -- memory -----------------------------------------------------------------------------------------


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def memory_child(directory: str) -> None:
    """Child mode: open the store, print resident and peak memory growth in MiB, as JSON."""
    before = rss_kib()

    async def run() -> None:
        engine = TinyDBEngine(directory)
        count = await engine.count("accounts")
        print(json.dumps({"count": count, "resident": (rss_kib() - before) / 1024, "peak": peak(before)}))
        await engine.close()

    asyncio.run(run())


def peak(before_kib: int) -> float:
    """High-water mark since exec, from VmHWM: ru_maxrss would start at the parent's size."""
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return (hwm - before_kib) / 1024


def measure_memory(directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


# -- report -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1k and 10k only, fewer operations; never exits 1 on a target"
    )
    parser.add_argument("--strict-target", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    ops = (
        {"write": 200, "concurrent": 1_280, "read": 5_000, "rounds": 2}
        if args.quick
        else {"write": 400, "concurrent": 3_200, "read": 20_000, "rounds": 3}
    )
    results: Results = {}
    memory: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=os.environ.get("BENCH_TMP")) as tmp:
        for size in sizes:
            ours = asyncio.run(bench_ours(Path(tmp) / f"ours-{size}", size, ops))
            direct, threaded = asyncio.run(bench_sqlite(Path(tmp) / f"sqlite-{size}.db", size, ops))
            results[size] = {"ours": ours, "sqlite": direct, "sqlite via thread": threaded}
            print(f"  {size:>7} records done", file=sys.stderr)
        memory = measure_memory(Path(tmp) / f"ours-{sizes[-1]}")
    return report(results, memory, sizes, args.strict_target and not args.quick)


def k(size: int) -> str:
    return f"{size // 1000}k"


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(results: Results, memory: dict[str, float], sizes: list[int], strict: bool) -> int:
    small, big = sizes[0], sizes[-1]
    operations = list(results[small]["ours"])
    print("\nMedian µs per operation (the 32-writer row: µs per operation at full throughput); open in ms")
    print("'sqlite': called on the loop's thread (its best case); 'thread': through a worker thread\n")
    head = f"{'operation':<20}"
    for size in sizes:
        head += f"{'ours ' + k(size):>11}{'sqlite ' + k(size):>12}"
    print(head + f"{'thread ' + k(big):>12}")
    for op in operations:
        line = f"{op:<20}"
        for size in sizes:
            line += f"{results[size]['ours'][op]:>11.1f}{cell(results[size]['sqlite'].get(op)):>12}"
        print(line + f"{cell(results[big]['sqlite via thread'].get(op)):>12}")

    print(f"\ngrowth = cost at {k(big)} / cost at {k(small)} (target <= {TARGET_GROWTH})")
    print(f"speed-up = SQLite's cost / ours at {k(big)} (target > 1)\n")
    print(f"{'operation':<20}{'our growth':>12}{'sqlite growth':>15}{'vs sqlite':>11}{'vs thread':>11}")
    missed = []
    for op in operations[1:]:
        ours = results[big]["ours"][op]
        growth = ours / results[small]["ours"][op]
        sql_growth = results[big]["sqlite"][op] / results[small]["sqlite"][op]
        speedup = results[big]["sqlite"][op] / ours
        thread = results[big]["sqlite via thread"].get(op)
        thread_txt = f"{thread / ours:>10.2f}x" if thread else f"{'-':>11}"
        print(f"{op:<20}{growth:>12.2f}{sql_growth:>15.2f}{speedup:>10.2f}x{thread_txt}")
        if growth > TARGET_GROWTH:
            missed.append(f"{op}: growth {growth:.2f}")
        if speedup <= 1:
            missed.append(f"{op}: {speedup:.2f}x SQLite")

    per_100k = 100_000 / (memory.get("count") or 1)
    print(
        f"\nMemory, child process opening our {int(memory['count'])}-record store: "
        f"resident +{memory['resident']:.0f} MiB, peak +{memory['peak']:.0f} MiB; "
        f"per 100k records: {memory['resident'] * per_100k:.0f} MiB resident, "
        f"{memory['peak'] * per_100k:.0f} MiB peak"
    )
    if missed:
        print("\nTARGET MISSED: " + "; ".join(missed))
        return 1 if strict else 0
    print("\nAll targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
