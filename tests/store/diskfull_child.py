"""Child process of test_diskfull.py: writes under a file-size limit until the "disk" is full.

Usage: diskfull_child.py STORE_DIR LIMIT_BYTES

RLIMIT_FSIZE makes any write past LIMIT_BYTES fail with EFBIG (SIGXFSZ is ignored so the
process is not killed), which the engine must treat like a full disk. Prints one JSON object:
the ids acknowledged, the error message, what memory showed after the failure, and whether a
write succeeds once the limit is lifted (space freed).
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys

from formservice.store.contract import StoreUnavailable
from formservice.store.tinydb.engine import TinyDBEngine


async def main(store_dir: str, limit: int) -> None:
    engine = TinyDBEngine(store_dir)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

    acked: list[str] = []
    failed: list[str] = []
    message = ""

    async def insert(doc_id: str) -> None:
        nonlocal message
        try:
            await engine.insert("accounts", {"id": doc_id, "email": f"{doc_id}@x.fr", "pad": "x" * 400})
        except StoreUnavailable as exc:
            failed.append(doc_id)
            message = str(exc)
        else:
            acked.append(doc_id)

    wave = 0
    while not failed and wave < 1000:  # concurrent waves: the failing group holds several writes
        await asyncio.gather(*(insert(f"w{wave}-{n}") for n in range(8)))
        wave += 1
    after_failure = sorted(d["id"] for d in await engine.scan("accounts"))
    try:
        await engine.insert("accounts", {"id": "still-full", "email": "s@x.fr", "pad": "x" * 20_000})
        still_full_refused = False
    except StoreUnavailable:
        still_full_refused = True

    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the operator frees space
    await engine.insert("accounts", {"id": "after", "email": "after@x.fr"})
    await engine.close()
    print(
        json.dumps(
            {
                "acked": acked,
                "failed": failed,
                "message": message,
                "after_failure": after_failure,
                "still_full_refused": still_full_refused,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
