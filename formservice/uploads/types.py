"""The vocabulary of uploads: limits, the refusal a candidate reads, what was stored.

Shared by the content checks (names.py, images.py, pdf.py, inspect.py), the storage (storage.py)
and the streaming receiver (stream.py); no web framework, no file system.
"""

from __future__ import annotations

from dataclasses import dataclass

from formservice.errors import Unprocessable

MIB = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one file. `max_pixels` must stay below Pillow's own bomb threshold (~89 Mpx) so
    that our check, with its French message, is the one that fires."""

    max_file_bytes: int = 5 * MIB
    max_pixels: int = 40_000_000
    max_pdf_pages: int = 200
    max_pdf_objects: int = 200_000


@dataclass(frozen=True)
class StoredFile:
    """A file accepted and durably written under `dest_dir` with a random name."""

    stored_name: str
    size: int
    sha256: str
    media_type: str
    display_name: str


class UploadRejected(Unprocessable):
    """A file refused; `message` is shown to the candidate next to the document, as is.

    `reason` is a stable code for tests, logs and metrics; `status` the HTTP status to answer with
    (422 by default, 413 for a file too large).
    """

    def __init__(self, reason: str, message: str, *, status: int | None = None):
        super().__init__(message, status=status)
        self.reason = reason


def size_fr(n: int) -> str:
    """'5 Mo', '1,5 Mo', '800 ko' (French units, decimal comma)."""
    if n >= MIB:
        value, unit = n / MIB, "Mo"
    else:
        value, unit = n / 1024, "ko"
    text = f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{text} {unit}"


def int_fr(n: int) -> str:
    """'30 000' with the narrow no-break space French typography puts between thousands."""
    return f"{n:,}".replace(",", "\u202f")
