"""The security log: one JSON object per line in ``<data_dir>/audit.log``.

Pseudonymous: an account, an e-mail address or an IP appears as an HMAC (keyed by a key derived
from the secret key), so the log can follow one account through its events without holding who
it is. Never a password, a token, a cookie or a clear address: ``event`` refuses field names that
smell of secrets, and tests/test_audit.py runs every flow then scans every log for them.

Usage (the enrolment service, too)::

    services.audit.event("enrolment.saved", account_id=account["id"], ip=client_ip(request), version=3)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from formservice.clock import Clock, to_iso

log = logging.getLogger("formservice.audit")

FORBIDDEN_FIELDS = ("password", "token", "cookie", "secret", "sid", "hash", "email", "mail")
REOPEN_CHECK = 1.0  # seconds between two checks that the file was not moved away (log rotation)
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


class AuditLog:
    """The file is opened once (``O_APPEND``, so concurrent writers such as ``formservice purge``
    interleave whole lines) and each event is one ``write``: nothing sits in a buffer. When the
    file is renamed or deleted (log rotation), the next event after ``REOPEN_CHECK`` seconds
    opens a new one at ``path``."""

    def __init__(self, path: Path | None, secret_key: str, clock: Clock):
        self.path = path
        self.clock = clock
        self._key = hmac.new(secret_key.encode(), b"formservice.audit.pseudonym", hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._closer: weakref.finalize | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def _open(self) -> int:
        assert self.path is not None
        self.close()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        st = os.fstat(fd)
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

    def _write(self, data: bytes) -> None:
        with self._lock:
            fd = self._current_fd()
            while data:
                data = data[os.write(fd, data) :]

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
