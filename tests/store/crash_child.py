"""Child process of test_crash.py: writes without end until it is killed.

Usage: crash_child.py STORE_DIR LOG_FILE PREFIX SEED

Several tasks insert, shrink (update with a smaller payload) and delete accounts. Before each
operation a task logs its intent ``I <id> <version> <size>``; after the engine acknowledges it,
``A <id> <version> <size>`` (version 0 means deleted). Each id belongs to one task, so an id has
at most one operation in flight. The log is written with ``os.write`` on an O_APPEND file, so
every line written before the SIGKILL is there for the parent to read.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Callable
from typing import Any

from formservice.store.tinydb.engine import TinyDBEngine


def shrink(version: int, size: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda doc: doc | {"version": version, "pad": "x" * size}


async def worker(engine: TinyDBEngine, log: int, prefix: str, k: int, rnd: random.Random) -> None:
    live: dict[str, tuple[int, int]] = {}
    n = 0

    def say(kind: str, doc_id: str, version: int, size: int) -> None:
        os.write(log, f"{kind} {doc_id} {version} {size}\n".encode())

    while True:
        roll = rnd.random()
        if not live or roll < 0.45:
            n += 1
            doc_id, size = f"{prefix}-{k}-{n}", rnd.choice((10, 300, 3000))
            say("I", doc_id, 1, size)
            await engine.insert(
                "accounts",
                {"id": doc_id, "email": f"{doc_id}@x.fr", "status": "new", "version": 1, "pad": "x" * size},
            )
            say("A", doc_id, 1, size)
            live[doc_id] = (1, size)
        elif roll < 0.8:
            doc_id = rnd.choice(list(live))
            version, size = live[doc_id]
            new = (version + 1, size // 3)
            say("I", doc_id, *new)
            await engine.update("accounts", doc_id, shrink(*new))
            say("A", doc_id, *new)
            live[doc_id] = new
        else:
            doc_id = rnd.choice(list(live))
            say("I", doc_id, 0, 0)
            await engine.delete("accounts", doc_id)
            say("A", doc_id, 0, 0)
            del live[doc_id]


async def main(store_dir: str, log_path: str, prefix: str, seed: int) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # A small threshold, so that kills also land in the middle of compactions.
    engine = TinyDBEngine(store_dir, compact_after=64_000)
    os.write(log, b"READY\n")
    rnd = random.Random(seed)
    await asyncio.gather(*(worker(engine, log, prefix, k, random.Random(rnd.random())) for k in range(6)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
