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


# -- the log's own trouble never fails the action it records ---------------------------------------


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def audit_log(path: Path) -> AuditLog:
    return AuditLog(path, "k" * 40, FrozenClock(datetime(2025, 10, 22, 9, 30, tzinfo=UTC)))


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "formservice.audit" and r.levelname == "WARNING"
    ]


def test_a_full_disk_loses_the_event_without_raising(tmp_path, caplog):
    """Writes to /dev/full fail with ENOSPC: event() returns its record, counts it lost, and
    warns once in French (not once per event) naming the file, the cause and since when."""
    path = tmp_path / "audit.log"
    path.symlink_to("/dev/full")
    log = audit_log(path)
    record = log.event("enrolment.saved", account_id="acc1", version=3)
    assert record["event"] == "enrolment.saved"
    log.event("enrolment.saved", account_id="acc1", version=4)
    assert log.lost_events == 2
    assert warnings_of(caplog) == [
        f"journal d'audit : écriture impossible dans {path} (disque plein) ; événements perdus depuis "
        "2025-10-22T09:30:00+00:00 (1 à ce jour), nouvel essai à chaque événement"
    ]
    log.close()


def test_the_warning_comes_back_after_a_minute(tmp_path, caplog, monkeypatch):
    """While the disk stays full, a new warning (with the running count) every WARN_EVERY seconds."""
    import formservice.audit as audit

    path = tmp_path / "audit.log"
    path.symlink_to("/dev/full")
    log = audit_log(path)
    log.event("one")
    monkeypatch.setattr(audit, "WARN_EVERY", 0.0)
    log.event("two")
    assert [text.split("(")[-1] for text in warnings_of(caplog)] == [
        "1 à ce jour), nouvel essai à chaque événement",
        "2 à ce jour), nouvel essai à chaque événement",
    ]


def test_the_file_is_retried_and_the_gap_recorded_once_writable(tmp_path, caplog):
    """A directory in place of the file (EISDIR) loses events; once it is gone, the next event
    opens the file, writes an ``audit.lost`` line (how many, since when) before itself, and the
    log says writing is back."""
    path = tmp_path / "audit.log"
    path.mkdir()
    log = audit_log(path)
    log.event("one")
    log.event("two")
    assert log.lost_events == 2
    assert "(le chemin est un dossier)" in warnings_of(caplog)[0]
    path.rmdir()
    log.event("three")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "ts": "2025-10-22T09:30:00+00:00",
            "event": "audit.lost",
            "count": 2,
            "since": "2025-10-22T09:30:00+00:00",
        },
        {"ts": "2025-10-22T09:30:00+00:00", "event": "three"},
    ]
    assert warnings_of(caplog)[-1] == (
        f"journal d'audit : écriture rétablie dans {path} ; 2 événement(s) perdu(s) depuis "
        "2025-10-22T09:30:00+00:00 (noté « audit.lost »)"
    )
    log.event("four")
    assert log.lost_events == 2 and len(path.read_text().splitlines()) == 3
    log.close()


def test_a_line_cut_short_by_a_full_disk_is_not_glued_to_the_next(tmp_path, monkeypatch):
    """Half a line written, then ENOSPC: the next event starts on a line of its own, so every
    line after the torn one parses."""
    import errno

    import formservice.audit as audit

    path = tmp_path / "audit.log"
    log = audit_log(path)
    log.event("one")
    real_write = os.write
    calls = []

    def half_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit.os, "write", half_then_full)
    log.event("two")
    monkeypatch.setattr(audit.os, "write", real_write)
    log.event("three")
    first, torn, *rest = path.read_text().splitlines()
    assert json.loads(first)["event"] == "one" and len(torn) == 10
    assert [json.loads(line)["event"] for line in rest] == ["audit.lost", "three"]
    log.close()


def test_a_forbidden_field_still_raises_even_when_the_disk_is_full(tmp_path):
    """Only disk trouble is swallowed: a secret-looking field is a programming error."""
    path = tmp_path / "audit.log"
    path.symlink_to("/dev/full")
    with pytest.raises(ValueError):
        audit_log(path).event("x", password="p")


def test_the_log_is_private_whatever_the_umask(tmp_path, umask_022):
    """The file is 0600 and the folders it creates 0700; a file left 0644 is tightened."""
    path = tmp_path / "var" / "logs" / "audit.log"
    log = audit_log(path)
    log.event("one")
    log.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "var" / "logs").stat().st_mode & 0o777 == 0o700
    path.chmod(0o644)
    log = audit_log(path)
    log.event("two")
    log.close()
    assert path.stat().st_mode & 0o777 == 0o600
