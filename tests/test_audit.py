"""The security log: JSON lines, pseudonymous, refusing secret-looking fields."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from formservice.audit import AuditLog
from formservice.clock import FrozenClock


def test_events_are_json_lines_with_pseudonyms(tmp_path):
    """Account, e-mail and IP appear as keyed HMACs, stable across events, never in clear."""
    log = AuditLog(tmp_path / "audit.log", "k" * 40, FrozenClock(datetime(2025, 10, 22, tzinfo=UTC)))
    log.event("login.failure", account_id="acc1", email="jean@exemple.fr", ip="203.0.113.9")
    log.event("login.success", account_id="acc1", ip="203.0.113.9", wait=3)
    text = (tmp_path / "audit.log").read_text()
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["event"] == "login.failure" and first["ts"].startswith("2025-10-22")
    assert first["account"] == second["account"] and first["account"].startswith("a:")
    assert first["ip"] == second["ip"] and second["wait"] == 3
    for clear in ("acc1", "jean@exemple.fr", "203.0.113.9"):
        assert clear not in text
    other_key = AuditLog(None, "o" * 40, FrozenClock(datetime(2025, 10, 22, tzinfo=UTC)))
    assert other_key.pseudonym("a", "acc1") != first["account"]


@pytest.mark.parametrize(
    "field", ["password", "token", "session_cookie", "secret", "email_clear", "password_hash"]
)
def test_secret_looking_fields_are_refused(tmp_path, field):
    """An event field named like a secret or an address raises instead of being written."""
    log = AuditLog(tmp_path / "audit.log", "k" * 40, FrozenClock(datetime(2025, 10, 22, tzinfo=UTC)))
    with pytest.raises(ValueError):
        log.event("x", **{field: "value"})
    assert not (tmp_path / "audit.log").exists() or not (tmp_path / "audit.log").read_text()


def descriptors_on(path: Path) -> int:
    """How many descriptors of this process are open on ``path`` (Linux: /proc/self/fd)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(fd) == str(path)
    return count


def test_the_file_is_kept_open_and_reopened_after_rotation(tmp_path, monkeypatch):
    """One open for every event (not one per event), each written through; once the file is
    moved away (log rotation), the next event after REOPEN_CHECK writes to a new file at the
    same path and lets go of the old one, so that rotation frees its disk space."""
    import formservice.audit as audit

    path = tmp_path / "audit.log"
    rotated = tmp_path / "audit.log.1"
    opened: list[str] = []
    real_open = os.open

    def counting_open(file, flags, *args, **kwargs):
        if Path(file) == path:
            opened.append(str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    log = AuditLog(path, "k" * 40, FrozenClock(datetime(2025, 10, 22, tzinfo=UTC)))
    log.event("one")
    log.event("two")
    assert len(opened) == 1 and descriptors_on(path) == 1
    assert len(path.read_text().splitlines()) == 2  # written through, not buffered
    path.rename(rotated)
    monkeypatch.setattr(audit, "REOPEN_CHECK", 0.0)
    log.event("three")
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["three"]
    assert len(rotated.read_text().splitlines()) == 2
    assert len(opened) == 2 and descriptors_on(path) == 1 and descriptors_on(rotated) == 0
    log.close()
    log.close()  # idempotent
    assert descriptors_on(path) == 0
    log.event("four")  # reopens
    assert len(path.read_text().splitlines()) == 2 and len(opened) == 3
    log.close()
    assert descriptors_on(path) == 0
