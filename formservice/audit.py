"""The security log: one JSON object per line in ``<data_dir>/audit.log``.

Pseudonymous: an account, an e-mail address or an IP appears as an HMAC (keyed by a key derived
from the secret key), so the log can follow one account through its events without holding who
it is. Never a password, a token, a cookie or a clear address: ``event`` refuses field names that
smell of secrets, and tests/test_audit.py runs every flow then scans every log for them.

Usage (the enrolment service, too)::

    services.audit.event("enrolment.saved", account_id=account["id"], ip=client_ip(request), version=3)

An event is written after the action it records succeeded, so the log's trouble (disk full, an
I/O error) must never turn that success into an error page: ``event`` does not raise on an
OSError. It counts the lost event (``lost_events``), warns on the ``formservice.audit`` logger
at most once per ``WARN_EVERY`` seconds, retries the file at the next event, and once writing
works again records the gap itself (an ``audit.lost`` event: how many, since when), so that the
log never hides that it is incomplete. The line of each event still goes to the logger.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

from formservice.clock import Clock, to_iso
from formservice.durable import open_private, private_dir

log = logging.getLogger("formservice.audit")

FORBIDDEN_FIELDS = ("password", "token", "cookie", "secret", "sid", "hash", "email", "mail")
REOPEN_CHECK = 1.0  # seconds between two checks that the file was not moved away (log rotation)
WARN_EVERY = 60.0  # seconds between two warnings while the file cannot be written
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
_REASONS = {
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota disque atteint",
    errno.EFBIG: "taille maximale de fichier atteinte",
    errno.EIO: "erreur d'entrée-sortie du disque",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.EACCES: "accès refusé",
    errno.EPERM: "accès refusé",
    errno.EISDIR: "le chemin est un dossier",
    errno.ENOENT: "dossier introuvable",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
}


def _reason(exc: OSError) -> str:
    """The cause in French for the operator, with the system's own words for the rare ones."""
    known = _REASONS.get(exc.errno or 0)
    return known if known else f"{errno.errorcode.get(exc.errno or 0, 'erreur')} : {exc.strerror or exc}"


class AuditLog:
    """The file is opened once (``O_APPEND``, so concurrent writers such as ``formservice purge``
    interleave whole lines) and each event is one ``write``: nothing sits in a buffer. When the
    file is renamed or deleted (log rotation), the next event after ``REOPEN_CHECK`` seconds
    opens a new one at ``path``. The file is 0600 and a directory it creates 0700."""

    def __init__(self, path: Path | None, secret_key: str, clock: Clock):
        self.path = path
        self.clock = clock
        self._key = hmac.new(secret_key.encode(), b"formservice.audit.pseudonym", hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._closer: weakref.finalize | None = None
        self._needs_newline = False  # the file ends in the middle of a line (a write cut short)
        self.lost_events = 0  # events that could not be written, since this log was created
        self._gap = 0  # events lost since the last one written
        self._gap_since: datetime | None = None
        self._warned_at: float | None = None
        if path is not None:
            with contextlib.suppress(OSError):  # the first event retries, and warns
                private_dir(path.parent)

    def _open(self) -> int:
        assert self.path is not None
        self.close()
        private_dir(self.path.parent)
        fd = open_private(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            st = os.fstat(fd)
            # A write cut short (by us before a failure, or by another writer) left half a line:
            # the next event starts on a line of its own instead of being glued to it.
            self._needs_newline = st.st_size > 0 and os.pread(fd, 1, st.st_size - 1) != b"\n"
        except OSError:
            os.close(fd)
            raise
        self._fd, self._identity = fd, (st.st_dev, st.st_ino)
        self._closer = weakref.finalize(self, os.close, fd)
        return fd

    def _current_fd(self) -> int:
        now = time.monotonic()
        if self._fd is not None and now - self._checked_at < REOPEN_CHECK:
            return self._fd
        self._checked_at = now
        if self._fd is not None:
            try:
                st = os.stat(self.path)  # type: ignore[arg-type]
                if (st.st_dev, st.st_ino) == self._identity:
                    return self._fd
            except FileNotFoundError:
                pass
        return self._open()

    def _write(self, line: bytes) -> None:
        """Append ``line``; on an OSError count it lost, warn (at most once per WARN_EVERY) and
        let the next event open the file again. Never raises an OSError."""
        with self._lock:
            try:
                fd = self._current_fd()
                data = self._gap_record() + line
                if self._needs_newline:
                    data = b"\n" + data
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                    self._needs_newline = bool(view)
            except OSError as exc:
                self.close()  # the next event opens the file again: the disk may be back
                warning = self._count_lost(exc)
            else:
                warning = self._end_gap()
        if warning:
            log.warning("%s", warning)

    def _gap_record(self) -> bytes:
        """The ``audit.lost`` line that goes before the first event written after a loss."""
        if not self._gap or self._gap_since is None:
            return b""
        record = {
            "ts": to_iso(self.clock.now()),
            "event": "audit.lost",
            "count": self._gap,
            "since": to_iso(self._gap_since),
        }
        return f"{_ENCODER.encode(record)}\n".encode()

    def _count_lost(self, exc: OSError) -> str | None:
        """Lock held: count one lost event; the warning to log, if one is due."""
        self.lost_events += 1
        self._gap += 1
        if self._gap_since is None:
            self._gap_since = self.clock.now()
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < WARN_EVERY:
            return None
        self._warned_at = now
        return (
            f"journal d'audit : écriture impossible dans {self.path} ({_reason(exc)}) ; "
            f"événements perdus depuis {to_iso(self._gap_since)} ({self._gap} à ce jour), "
            "nouvel essai à chaque événement"
        )

    def _end_gap(self) -> str | None:
        """Lock held, after a successful write: the gap (if any) is now recorded in the file."""
        if not self._gap:
            return None
        text = (
            f"journal d'audit : écriture rétablie dans {self.path} ; {self._gap} événement(s) "
            f"perdu(s) depuis {to_iso(self._gap_since) if self._gap_since else '?'} (noté « audit.lost »)"
        )
        self._gap, self._gap_since, self._warned_at = 0, None, None
        return text

    def close(self) -> None:
        if self._closer is not None:
            self._closer()  # closes the descriptor, once
        self._fd, self._closer = None, None

    def pseudonym(self, kind: str, value: str) -> str:
        """Stable within one secret key: ``a:3f9c...`` for an account, ``e:`` e-mail, ``ip:``."""
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:16]
        return f"{kind}:{digest}"

    def event(
        self,
        name: str,
        *,
        account_id: str | None = None,
        email: str | None = None,
        ip: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Write the event (see the module's note: a disk problem is counted, never raised);
        ValueError for a field named like a secret, a programming error."""
        for key in fields:
            if any(word in key.lower() for word in FORBIDDEN_FIELDS):
                raise ValueError(f"audit field {key!r} may carry a secret or personal data")
        record: dict[str, Any] = {"ts": to_iso(self.clock.now()), "event": name}
        if account_id:
            record["account"] = self.pseudonym("a", account_id)
        if email:
            record["email"] = self.pseudonym("e", email)
        if ip:
            record["ip"] = self.pseudonym("ip", ip)
        record.update(fields)
        line = _ENCODER.encode(record)
        if self.path is not None:
            self._write(f"{line}\n".encode())
        log.info("%s", line)
        return record
