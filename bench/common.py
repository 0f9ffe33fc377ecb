"""What the benchmarks share: the concurrent runner, a server's memory and process helpers, and
the tests' builders of valid forms
(tests/enrolment_forms.py: one definition of the « M'inscrire » form for the tests and the
benchmarks, so that a field added to the form cannot leave a benchmark behind)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import anyio

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))  # appended: a module of the tests never shadows one of ours

from enrolment_forms import birth_date_for_age, valid_enrolment_form  # noqa: E402

__all__ = [
    "REPO",
    "Http",
    "Peak",
    "Reply",
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


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes

    def cookie(self, name: str) -> str:
        found = re.search(rf"(?:^|\n){re.escape(name)}=([^;\n]*)", self.headers.get("set-cookie", ""))
        assert found, self.headers
        return found.group(1)


class Http:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, one connection per worker.

    httpx costs about 1.2 ms of CPU per request, more than the service's cheapest endpoint: on
    a machine whose cores also run the hashing threads, the load generator must cost next to
    nothing. Sends what a browser sends on a same-site form: Origin and Sec-Fetch-Site."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        cookie: str | None = None,
        form: dict[str, str] | None = None,
        raw: tuple[str, bytes] | None = None,
    ) -> Reply:
        """``form``: an urlencoded form; ``raw``: (content type, body), a multipart form say."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: text/html"]
        if cookie:
            head.append(f"Cookie: sid={cookie}")
        content_type, body = raw or ("application/x-www-form-urlencoded", urlencode(form or {}).encode())
        if method == "POST":
            head += [f"Origin: {self.origin}", "Sec-Fetch-Site: same-origin"]
            head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        else:
            body = b""
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        reader, writer = (
            self._idle.pop() if self._idle else await asyncio.open_connection(self.host, self.port)
        )
        writer.write(data)
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                name, value = name.lower(), value.strip()
                headers[name] = f"{headers[name]}\n{value}" if name in headers else value
        assert "chunked" not in headers.get("transfer-encoding", ""), "chunked answers are not expected"
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._idle.append((reader, writer))
        return Reply(int(status_line.split()[1]), headers, content)
