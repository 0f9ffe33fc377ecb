"""What the benchmarks share: the concurrent runner, and the tests' builders of valid forms
(tests/enrolment_forms.py: one definition of the « M'inscrire » form for the tests and the
benchmarks, so that a field added to the form cannot leave a benchmark behind)."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))  # appended: a module of the tests never shadows one of ours

from enrolment_forms import birth_date_for_age, valid_enrolment_form  # noqa: E402

__all__ = ["REPO", "birth_date_for_age", "run_concurrently", "valid_enrolment_form"]


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
