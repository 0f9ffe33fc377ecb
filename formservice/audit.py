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
import threading
from pathlib import Path
from typing import Any

from formservice.clock import Clock, to_iso

log = logging.getLogger("formservice.audit")

FORBIDDEN_FIELDS = ("password", "token", "cookie", "secret", "sid", "hash", "email", "mail")


class AuditLog:
    def __init__(self, path: Path | None, secret_key: str, clock: Clock):
        self.path = path
        self.clock = clock
        self._key = hmac.new(secret_key.encode(), b"formservice.audit.pseudonym", hashlib.sha256).digest()
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

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
        line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        if self.path is not None:
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        log.info("%s", line)
        return record
