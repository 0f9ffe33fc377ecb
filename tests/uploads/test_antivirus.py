"""The antivirus check against a real clamd (started by the `clamd` fixture with test signatures):
a detection is refused (422), a clean file passes, and no verdict at all is refused too (503)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import clamd_helpers
import pytest
from clamd_helpers import CLAMD_MAX_STREAM, EICAR, MARKER, ClamdDaemon

from formservice.errors import ServiceUnavailable
from formservice.uploads import UploadRejected
from formservice.uploads.antivirus import AntivirusUnavailable, Clamd, VirusFound

from .corpus import pdf_bytes

UNAVAILABLE = (
    "Le contrôle antivirus est momentanément indisponible : votre fichier n'a pas été enregistré. "
    "Réessayez dans quelques minutes."
)


@pytest.fixture
def file(tmp_path: Path) -> Callable[[bytes], Path]:
    def write(data: bytes) -> Path:
        path = tmp_path / "upload.part"
        path.write_bytes(data)
        return path

    return write


def test_clamd_starts_fast_enough_for_the_ordinary_suite(clamd: ClamdDaemon):
    """With two signatures clamd answers PING in well under a second, hence no `slow` mark."""
    assert clamd.started_in_s < 5, clamd.log()
    Clamd(clamd.socket_path).ping()


def test_eicar_is_refused(clamd: ClamdDaemon, file, caplog):
    """The EICAR test file is a detection: 422, reason 'virus', a message that says what to do,
    and the signature in the log (not in the message)."""
    with caplog.at_level(logging.WARNING, logger="formservice.uploads"), pytest.raises(VirusFound) as caught:
        Clamd(clamd.socket_path).scan(file(EICAR), display="attestation.pdf")
    rejected = caught.value
    assert isinstance(rejected, UploadRejected)
    assert (rejected.reason, rejected.status) == ("virus", 422)
    assert rejected.signature.startswith("Eicar-Test-Signature")
    assert rejected.message.startswith(
        "L'antivirus a détecté un virus ou un programme malveillant dans le fichier « attestation.pdf » : "
        "il n'a pas été enregistré."
    )
    assert "Eicar" not in rejected.message
    assert [r.getMessage() for r in caplog.records] == [
        f"antivirus: upload refused, clamd found {rejected.signature}"
    ]


def test_a_clean_pdf_passes(clamd: ClamdDaemon, file):
    Clamd(clamd.socket_path).scan(file(pdf_bytes(pages=2)))


def test_the_whole_file_is_streamed_in_chunks(clamd: ClamdDaemon, file):
    """A marker after several 64 KiB chunks is still seen: the file is sent whole, not its head."""
    padding = b"%" + b"0" * 99 + b"\n"
    data = pdf_bytes() + padding * 5000 + MARKER
    assert 300_000 < len(data) < CLAMD_MAX_STREAM
    with pytest.raises(VirusFound) as caught:
        Clamd(clamd.socket_path).scan(file(data))
    assert caught.value.signature.startswith("Formservice-Test-Marker")
    Clamd(clamd.socket_path).scan(file(data[: -len(MARKER)]))


def assert_unavailable(exc: AntivirusUnavailable) -> None:
    assert isinstance(exc, UploadRejected)
    assert (exc.reason, exc.status, exc.message) == ("antivirus_unavailable", 503, UNAVAILABLE)
    assert exc.title == ServiceUnavailable.title


def test_a_stopped_daemon_fails_closed(clamd: ClamdDaemon, file, caplog):
    """clamd down: the file is refused with 503 (try again later), never accepted unchecked."""
    scanner = Clamd(clamd.socket_path)
    scanner.scan(file(b"propre"))
    clamd.stop()
    with caplog.at_level(logging.WARNING, logger="formservice.uploads"):
        with pytest.raises(AntivirusUnavailable) as caught:
            scanner.scan(file(b"propre"))
        with pytest.raises(AntivirusUnavailable):
            scanner.ping()
    assert_unavailable(caught.value)
    assert all(r.getMessage().startswith("antivirus unavailable") for r in caplog.records)


def test_no_socket_at_all_fails_closed(tmp_path: Path, file):
    with pytest.raises(AntivirusUnavailable) as caught:
        Clamd(str(tmp_path / "absent.sock")).scan(file(b"x"))
    assert_unavailable(caught.value)


def test_a_socket_nobody_listens_on_fails_closed(tmp_path: Path, file):
    """The socket file is there (a daemon that crashed), but nothing accepts: refused."""
    path = str(tmp_path / "dead.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)
    with pytest.raises(AntivirusUnavailable) as caught:
        Clamd(path).scan(file(b"x"))
    assert_unavailable(caught.value)
    assert "ConnectionRefusedError" in caught.value.detail


def test_the_fixture_fails_loudly_without_clamd(tmp_path: Path, monkeypatch):
    """No silent skip: on a machine without clamd the antivirus tests fail and say what to install."""
    monkeypatch.setattr(clamd_helpers.shutil, "which", lambda name: None)
    monkeypatch.setattr(clamd_helpers, "CLAMD_BINARY", str(tmp_path / "no-clamd"))
    with pytest.raises(pytest.fail.Exception, match=r"scripts/system-deps\.sh test.*clamav-daemon"):
        clamd_helpers.start_clamd(tmp_path)


def test_a_file_over_the_daemons_stream_limit_fails_closed(clamd: ClamdDaemon, file):
    """Past clamd's StreamMaxLength it stops reading: refused as unavailable (the daemon's
    configuration must allow the largest upload), with clamd's reason in the detail."""
    with pytest.raises(AntivirusUnavailable) as caught:
        Clamd(clamd.socket_path).scan(file(b"a" * (CLAMD_MAX_STREAM + 300_000)))
    assert_unavailable(caught.value)
    assert "limit" in caught.value.detail.lower() or "closed" in caught.value.detail


class FakeDaemon:
    """A Unix socket server that reads what it is sent, answers `reply` and hangs up (None: holds
    the connection without a word)."""

    def __init__(self, path: str, reply: bytes | None):
        self.path = path
        self.reply = reply
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            if self.reply is None:
                self.done.wait(5)
            else:
                conn.sendall(self.reply)

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.server.close()


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Callable[[bytes | None], FakeDaemon]]:
    started: list[FakeDaemon] = []

    def start(reply: bytes | None) -> FakeDaemon:
        started.append(FakeDaemon(str(tmp_path / "fake.sock"), reply))
        return started[-1]

    yield start
    for daemon in started:
        daemon.close()


def test_a_daemon_that_never_answers_times_out_closed(fake_daemon, file):
    daemon = fake_daemon(None)
    with pytest.raises(AntivirusUnavailable) as caught:
        Clamd(daemon.path, timeout=0.2).scan(file(b"x"))
    assert_unavailable(caught.value)
    assert "0.2 s" in caught.value.detail


@pytest.mark.parametrize(
    "reply",
    [b"stream: Can't allocate memory ERROR\0", b"UNKNOWN COMMAND\0", b"", b"stream: \0"],
    ids=["error", "unknown-command", "closed-without-answer", "empty-verdict"],
)
def test_anything_but_a_verdict_fails_closed(fake_daemon, file, reply):
    daemon = fake_daemon(reply)
    with pytest.raises(AntivirusUnavailable) as caught:
        Clamd(daemon.path, timeout=2).scan(file(b"x"))
    assert_unavailable(caught.value)


def test_ping_wants_pong(fake_daemon):
    daemon = fake_daemon(b"PANG\0")
    with pytest.raises(AntivirusUnavailable):
        Clamd(daemon.path, timeout=2).ping()
