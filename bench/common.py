"""What the benchmarks share: the concurrent runner, a server's memory and process helpers, and
the tests' builders of valid forms
(tests/enrolment_forms.py: one definition of the « M'inscrire » form for the tests and the
benchmarks, so that a field added to the form cannot leave a benchmark behind)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))  # appended: a module of the tests never shadows one of ours

from enrolment_forms import birth_date_for_age, valid_enrolment_form  # noqa: E402

__all__ = [
    "REPO",
    "Peak",
    "birth_date_for_age",
    "free_port",
    "run_concurrently",
    "status_kib",
    "valid_enrolment_form",
    "wait_for",
]


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


# -- memory of the server ---------------------------------------------------------------------------


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@dataclass
class Peak:
    """The server's peak RSS during a measure: VmHWM reset before (clear_refs 5), and a 5 ms
    sampler of VmRSS in case the kernel refuses the reset."""

    pid: int
    kib: int = 0
    _stop: bool = False

    def __enter__(self) -> Peak:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop:
            self.kib = max(self.kib, status_kib(self.pid, "VmRSS"))
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()
        self.kib = max(self.kib, status_kib(self.pid, "VmHWM"))


# -- the server's process ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")
