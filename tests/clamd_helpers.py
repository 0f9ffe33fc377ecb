"""A real ClamAV daemon (clamd) for the tests, with a database of test signatures: no download."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from process_helpers import terminate

# The EICAR test file, written in two halves so that this source is not itself an "infected" file.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# A body signature of our own (any file type, anywhere in it), for files bigger than one chunk.
MARKER = b"FORMSERVICE-TEST-MALWARE-MARKER-5b0c1f"
CLAMD_BINARY = "/usr/sbin/clamd"
CLAMD_MAX_STREAM = 1024 * 1024  # StreamMaxLength: small, so that the limit can be tested cheaply


@dataclass
class ClamdDaemon:
    """A clamd we started, with a database of two test signatures and no TCP socket."""

    socket_path: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_in_s: float  # from the exec to the first PONG

    def stop(self) -> None:
        terminate(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_clamd(root: Path, timeout_s: float = 30) -> ClamdDaemon:
    """Start clamd in the foreground under `root` and wait until it answers PING. clamd needs at
    least one valid database to start: ours holds an MD5 signature of EICAR (.hdb) and a body
    signature of MARKER (.ndb); no signature download is ever needed."""
    binary = shutil.which("clamd") or CLAMD_BINARY
    if not Path(binary).is_file():
        pytest.fail(
            "clamd (the ClamAV daemon) is not installed: the antivirus tests need it. Install it "
            "with `scripts/system-deps.sh test` (Debian package clamav-daemon), as `make test` does."
        )
    db = root / "db"
    db.mkdir()
    (db / "test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature\n")
    (db / "test.ndb").write_text(f"Formservice-Test-Marker:0:*:{MARKER.hex()}\n")
    socket_path = str(root / "clamd.sock")
    log_path = root / "clamd.log"
    config = root / "clamd.conf"
    config.write_text(
        f"LocalSocket {socket_path}\n"
        "LocalSocketMode 600\n"
        f"DatabaseDirectory {db}\n"
        f"LogFile {log_path}\n"
        "Foreground yes\n"
        f"StreamMaxLength {CLAMD_MAX_STREAM}\n"
        "MaxThreads 4\n"
        "SelfCheck 0\n"
    )
    started = time.monotonic()
    with (root / "clamd.out").open("wb") as out:
        process = subprocess.Popen([binary, "--config-file", str(config)], stdout=out, stderr=out)
    daemon = ClamdDaemon(socket_path, process, log_path, 0.0)
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            output = (root / "clamd.out").read_text(errors="replace")
            pytest.fail(f"clamd exited with status {process.returncode}:\n{output}\n{daemon.log()}")
        if _pong(socket_path):
            daemon.started_in_s = time.monotonic() - started
            return daemon
        time.sleep(0.02)
    daemon.stop()
    pytest.fail(f"clamd did not answer PING within {timeout_s} s:\n{daemon.log()}")


def _pong(socket_path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(socket_path)
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False
