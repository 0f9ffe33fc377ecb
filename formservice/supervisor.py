"""``formservice serve --workers N``: N uvicorn worker processes sharing one listening socket.

The supervisor binds the port once per worker (``SO_REUSEPORT``: the kernel spreads the new
connections evenly over the sockets, where one shared socket would leave the balance of
long-lived keep-alive connections to whichever process wakes first), then forks the workers:
each builds its own app (its own store engine, its own pool of connections) after the fork, so
no connection, thread or event loop is shared between processes. A replaced worker takes over
its predecessor's socket, and the connections waiting in it.
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
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
    def __init__(self, socks: list[socket.socket], build_app: Callable[[], Any], options: dict[str, Any]):
        self.socks = socks  # one per worker
        self.build_app = build_app
        self.options = options
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (its socket, start time)
        self.stopping = False
        self.quick_deaths = 0

    def spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                code = _worker(self.socks[index], self.build_app, self.options)
            except BaseException:
                log.exception("processus de service arrêté sur une erreur")
            finally:
                os._exit(code)
        self.children[pid] = (index, time.monotonic())
        log.info("processus de service %d démarré (%d/%d)", pid, len(self.children), len(self.socks))

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(len(self.socks)):
            self.spawn(index)
        while self.children:
            pid, status = os.waitpid(-1, 0)  # retried after a signal (PEP 475)
            child = self.children.pop(pid, None)
            if child is None or self.stopping:
                continue
            index, started = child
            log.error(
                "processus de service %d arrêté (code %d) : remplacé", pid, os.waitstatus_to_exitcode(status)
            )
            self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH else 0
            if self.quick_deaths >= MAX_QUICK_DEATHS:
                log.error("les processus de service s'arrêtent dès leur démarrage : service arrêté")
                self._stop(signal.SIGTERM, None)
                continue
            self.spawn(index)
        for sock in self.socks:
            sock.close()
        return 1 if self.quick_deaths >= MAX_QUICK_DEATHS else 0


def run_workers(
    workers: int, host: str, port: int, build_app: Callable[[], Any], options: dict[str, Any]
) -> int:
    """Serve ``build_app()`` (called in each worker) on ``host:port`` with ``workers`` processes;
    returns once they have all stopped. OSError if the port cannot be bound."""
    return Supervisor([bind(host, port) for _ in range(workers)], build_app, options).run()
