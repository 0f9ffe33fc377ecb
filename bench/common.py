"""What the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio


async def run_concurrently(n: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Run one(i) for i in range(n) with `concurrency` workers; return the seconds taken."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return time.perf_counter() - started
