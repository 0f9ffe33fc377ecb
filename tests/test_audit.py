"""The security log: JSON lines, pseudonymous, refusing secret-looking fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime

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


def test_the_file_is_kept_open_and_reopened_after_rotation(tmp_path, monkeypatch):
    """One descriptor for every event (no open per event); once the file is moved away (log
    rotation), the next event after REOPEN_CHECK writes to a new file at the same path."""
    import formservice.audit as audit

    path = tmp_path / "audit.log"
    log = AuditLog(path, "k" * 40, FrozenClock(datetime(2025, 10, 22, tzinfo=UTC)))
    log.event("one")
    fd = log._fd
    log.event("two")
    assert log._fd == fd and len(path.read_text().splitlines()) == 2  # written through, not buffered
    path.rename(tmp_path / "audit.log.1")
    monkeypatch.setattr(audit, "REOPEN_CHECK", 0.0)
    log.event("three")
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["three"]
    assert len((tmp_path / "audit.log.1").read_text().splitlines()) == 2
    log.close()
    log.close()  # idempotent
    log.event("four")  # reopens
    assert len(path.read_text().splitlines()) == 2
    log.close()
