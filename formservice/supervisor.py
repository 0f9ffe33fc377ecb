"""``formservice serve --workers N``: N uvicorn worker processes sharing one listening socket.

The supervisor binds the port, then forks the workers: each builds its own app (its own store
engine, its own pool of connections) after the fork, so no connection, thread or event loop is
shared between processes; the kernel spreads the connections over the workers' ``accept``.
Only a store that several processes may share (PostgreSQL) allows it: ``server.serve`` refuses
N > 1 on the embedded store.

A worker that dies (a crash, ``kill -9``) is replaced at once; the others keep answering, and
since every write is committed in the database before it is acknowledged, nothing acknowledged
is lost. SIGTERM or SIGINT to the supervisor stops the workers cleanly (each finishes its
requests and drains its mails) and waits for them. A worker that keeps dying right after its
start (a broken configuration) stops the whole service rather than looping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("formservice.supervisor")

QUICK_DEATH = 5.0  # seconds: a worker dying sooner than this after its start counts as a failed start
MAX_QUICK_DEATHS = 5


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(sock: socket.socket, build_app: Callable[[], Any], options: dict[str, Any]) -> int:
    """In the child: default signal handlers (uvicorn installs its own), the app, the server."""
    import uvicorn

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    server = uvicorn.Server(uvicorn.Config(build_app(), **options))
    server.run(sockets=[sock])
    return 0


class Supervisor:
    def __init__(
        self, workers: int, sock: socket.socket, build_app: Callable[[], Any], options: dict[str, Any]
    ):
        self.workers = workers
        self.sock = sock
        self.build_app = build_app
        self.options = options
        self.children: dict[int, float] = {}  # pid -> start time
        self.stopping = False
        self.quick_deaths = 0

    def spawn(self) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                code = _worker(self.sock, self.build_app, self.options)
            except BaseException:
                log.exception("processus de service arrêté sur une erreur")
            finally:
                os._exit(code)
        self.children[pid] = time.monotonic()
        log.info("processus de service %d démarré (%d/%d)", pid, len(self.children), self.workers)

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for _ in range(self.workers):
            self.spawn()
        while self.children:
            pid, status = os.waitpid(-1, 0)  # retried after a signal (PEP 475)
            started = self.children.pop(pid, None)
            if started is None or self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            log.error("processus de service %d arrêté (code %d) : remplacé", pid, code)
            self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH else 0
            if self.quick_deaths >= MAX_QUICK_DEATHS:
                log.error("les processus de service s'arrêtent dès leur démarrage : service arrêté")
                self._stop(signal.SIGTERM, None)
                continue
            self.spawn()
        self.sock.close()
        return 1 if self.quick_deaths >= MAX_QUICK_DEATHS else 0


def run_workers(
    workers: int, host: str, port: int, build_app: Callable[[], Any], options: dict[str, Any]
) -> int:
    """Serve ``build_app()`` (called in each worker) on ``host:port`` with ``workers`` processes;
    returns once they have all stopped."""
    return Supervisor(workers, bind(host, port), build_app, options).run()
