"""One process per data directory, enforced with ``fcntl.flock`` on ``<store>/lock``.

Why flock and not "create the file if absent": the kernel drops a flock when its holder dies, even
by ``kill -9``, so a crash never leaves a stale lock that an operator must delete by hand. The
file keeps the holder's PID only to make the refusal message useful.

flock belongs to the open file description: a second open in the *same* process conflicts too,
which is what we want (two engines on one directory would interleave their journals).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from formservice.durable import open_private
from formservice.store.contract import StoreLocked

LOCK_NAME = "lock"


def holder_pid(directory: Path) -> int | None:
    """The PID written by the current holder, if readable (for messages only)."""
    try:
        text = (directory / LOCK_NAME).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_locked(directory: Path) -> bool:
    """True if some process holds the directory right now (used by the read-only check)."""
    path = directory / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _try_lock(fd: int) -> bool:
    """A few tries over 0.1 s: `is_locked` (run by `store check`) holds the lock for an instant,
    and must not make a starting service believe another one runs."""
    for attempt in range(5):
        if attempt:
            time.sleep(0.025)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        return True
    return False


class DirLock:
    """An exclusive lock on a store directory, held until `release` (or process death)."""

    def __init__(self, directory: Path):
        self.directory = directory
        path = directory / LOCK_NAME
        fd = open_private(path, os.O_RDWR | os.O_CREAT)
        if not _try_lock(fd):
            os.close(fd)
            pid = holder_pid(directory)
            who = f"le processus {pid}" if pid else "un autre processus"
            raise StoreLocked(
                f"Le dossier de données {directory} est déjà utilisé par {who}. "
                "Un seul service peut l'ouvrir à la fois : arrêtez l'autre instance "
                "(ou choisissez un autre dossier avec --data-dir) puis relancez."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock
