"""A real PostgreSQL server for the tests, from Debian's binaries (the ``postgresql`` package).

One server per test session (``initdb`` in a temporary directory under /tmp, listening only on
a Unix socket there), and a fresh database per test, copied from a template that already holds
the schema (``CREATE DATABASE … TEMPLATE``: a few tens of milliseconds).

``initdb`` refuses to run as root: as root (CI runs as root), the server runs as ``nobody``
(``runuser``), its directory handed over to that user; anybody may connect through the socket
(``trust``), as the role ``formservice``. The server is for tests only: ``fsync = off`` (its
own crash is not what the tests are about; the engine still asks ``synchronous_commit = on``).
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from formservice.store.contract import StoreUnavailable

T = TypeVar("T")

ROLE = "formservice"
TEMPLATE = "formservice_template"
RUN_AS = "nobody"


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, or None."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


class PostgresServer:
    """``PostgresServer().start()``; ``url(db)``, ``new_database()``, ``drop(db)``; ``stop()``."""

    def __init__(self, bin_dir: Path, *, fsync: bool = False, settings: dict[str, str] | None = None):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="fs-pg-"))  # short: a socket path has 107 bytes
        self.data = self.root / "data"
        self.fsync = fsync
        self.settings = settings or {}
        self._names = itertools.count(1)
        self.as_root = os.geteuid() == 0

    def _command(self, *args: str) -> list[str]:
        return ["runuser", "-u", RUN_AS, "--", *args] if self.as_root else list(args)

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}\n{self.log()}")

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def start(self) -> PostgresServer:
        if self.as_root:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", ROLE, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "on" if self.fsync else "off",
            "full_page_writes": "on" if self.fsync else "off",
            "synchronous_commit": "on",
            "max_connections": "300",
            "shared_buffers": "64MB",
            **self.settings,
        }
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", opts, "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@/{database}?host={self.root}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def make_template(self) -> None:
        """The template every test database is copied from: the schema made by the engine itself."""
        from formservice.store.postgres.engine import PostgresEngine

        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
        PostgresEngine(self.url(TEMPLATE))  # migrates; its pool was never opened

    def new_database(self, *, template: str | None = TEMPLATE) -> str:
        """A fresh database (a copy of the template, or empty with ``template=None``): its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template or "template0")
                )
            )
        return name

    @contextmanager
    def cut_off(self, url: str) -> Iterator[None]:
        """The database of ``url`` refuses connections and its open ones are ended (waited for:
        a backend ends a moment after it is told to) until the block ends: what a service sees
        of a database that restarts or becomes unreachable."""
        name = urlsplit(url).path.lstrip("/")
        with self.admin() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
            deadline = time.monotonic() + 10
            while conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone() != (0,):
                assert time.monotonic() < deadline, "backends still alive"
                time.sleep(0.02)
        try:
            yield
        finally:
            with self.admin() as conn:
                conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))

    def drop(self, database: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


async def back_within(seconds: float, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``'s result once it no longer fails: the pool of a service reconnects to a
    database that came back with growing delays (1 s, 2 s, …), so it serves again within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await attempt()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
