"""The antivirus check of an upload: a ClamAV daemon (clamd) reads the file over its Unix socket.

The file is streamed with the `zINSTREAM` command (chunks: a 4-byte big-endian length then the
bytes, ended by a zero-length chunk); clamd answers `stream: OK` or `stream: <Name> FOUND`. The
check fails closed: a daemon that is down, slow, or answers anything else refuses the upload with
`AntivirusUnavailable` (503: nothing is kept, the candidate tries again later), never lets it pass.

clamd's `StreamMaxLength` must be at least the largest upload (`UploadLimits.max_file_bytes`,
5 Mo by default): beyond it clamd answers `INSTREAM size limit exceeded` and every larger file is
refused as unavailable.

Blocking socket I/O: call `scan` from a worker thread (`asyncio.to_thread`), not the event loop.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from pathlib import Path
from typing import BinaryIO

from formservice.uploads.types import UploadRejected

__all__ = ["AntivirusUnavailable", "Clamd", "VirusFound"]

log = logging.getLogger("formservice.uploads")

CHUNK_BYTES = 64 * 1024
MAX_REPLY_BYTES = 4096  # "stream: <signature name> FOUND": a name is short
_END_OF_STREAM = struct.pack(">I", 0)


class VirusFound(UploadRejected):
    """clamd recognised the file; `signature` is its name for it (for the log, not the candidate)."""

    status = 422

    def __init__(self, signature: str, display: str | None = None):
        what = f"le fichier « {display} »" if display else "ce fichier"
        super().__init__(
            "virus",
            f"L'antivirus a détecté un virus ou un programme malveillant dans {what} : il n'a pas été "
            "enregistré. Analysez votre ordinateur ou votre téléphone avec un antivirus à jour, puis "
            "déposez un document sain (par exemple numérisé ou enregistré de nouveau en PDF).",
        )
        self.signature = signature


class AntivirusUnavailable(UploadRejected):
    """The check could not be made (daemon down, too slow, or an error): the file is refused, not
    the candidate's fault, so it is answered with 503 like any other service unavailable."""

    status = 503
    title = "Service momentanément indisponible"
    message = (
        "Le contrôle antivirus est momentanément indisponible : votre fichier n'a pas été enregistré. "
        "Réessayez dans quelques minutes."
    )

    def __init__(self, detail: str):
        super().__init__("antivirus_unavailable", self.message)
        self.detail = detail  # what went wrong, for the log


class Clamd:
    """A ClamAV daemon listening on the Unix socket `socket_path`. `timeout` bounds one whole
    command (connecting, sending the file, waiting for the verdict), in seconds."""

    def __init__(self, socket_path: str, timeout: float = 30):
        self.socket_path = socket_path
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Clamd({self.socket_path!r}, timeout={self.timeout})"

    def ping(self) -> None:
        """Check that the daemon answers (`zPING` → `PONG`), else raise AntivirusUnavailable:
        for a readiness check at start-up or in a health probe."""
        reply = self._command(b"zPING\0", None)
        if reply != "PONG":
            raise self._unavailable(f"unexpected reply to PING: {reply!r}")

    def scan(self, path: Path | str, *, display: str | None = None) -> None:
        """Return if clamd finds nothing in the file at `path`; raise VirusFound (422, reason
        'virus') on a detection, AntivirusUnavailable (503) when no verdict could be had.
        `display`, the name the candidate gave the file, only goes into the message."""
        with Path(path).open("rb") as f:
            reply = self._command(b"zINSTREAM\0", f)
        verdict = reply.removeprefix("stream:").strip()
        if verdict == "OK":
            return
        if verdict.endswith(" FOUND"):
            signature = verdict.removesuffix(" FOUND").strip()
            log.warning("antivirus: upload refused, clamd found %s", signature)
            raise VirusFound(signature, display)
        raise self._unavailable(f"clamd answered {reply!r}")

    def _command(self, command: bytes, f: BinaryIO | None) -> str:
        """Send `command` (and, for INSTREAM, the content of the open file `f`), return clamd's
        reply without its NUL terminator. Every socket failure becomes AntivirusUnavailable."""
        deadline = time.monotonic() + self.timeout
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                _budget(sock, deadline)
                sock.connect(self.socket_path)
                _budget(sock, deadline)
                sock.sendall(command)
                if f is not None:
                    try:
                        self._send_file(sock, f, deadline)
                    except (BrokenPipeError, ConnectionResetError) as exc:
                        # clamd stops reading and answers when a limit is passed: say which
                        raise self._unavailable(f"clamd closed the stream: {_read_reply(sock)!r}") from exc
                _budget(sock, deadline)
                return _read_reply(sock)
        except AntivirusUnavailable:
            raise
        except TimeoutError as exc:
            raise self._unavailable(f"no answer within {self.timeout} s") from exc
        except OSError as exc:  # no socket, refused, reset...: fail closed
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _send_file(sock: socket.socket, f: BinaryIO, deadline: float) -> None:
        while chunk := f.read(CHUNK_BYTES):
            _budget(sock, deadline)
            sock.sendall(struct.pack(">I", len(chunk)) + chunk)
        _budget(sock, deadline)
        sock.sendall(_END_OF_STREAM)

    def _unavailable(self, detail: str) -> AntivirusUnavailable:
        log.warning("antivirus unavailable (%s): %s", self.socket_path, detail)
        return AntivirusUnavailable(detail)


def _budget(sock: socket.socket, deadline: float) -> None:
    """What is left of the command's time, as the socket's timeout for its next operation."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)


def _read_reply(sock: socket.socket) -> str:
    """clamd's reply up to its NUL (z-commands) or the end of the connection, bounded."""
    data = b""
    try:
        while b"\0" not in data and len(data) < MAX_REPLY_BYTES:
            block = sock.recv(MAX_REPLY_BYTES)
            if not block:
                break
            data += block
    except OSError:
        if not data:
            raise
    return data.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
