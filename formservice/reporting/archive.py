"""The ZIPs of stored files (the pieces of an export, « Mes données »), streamed as they are made.

Entries are written through ``zipfile`` onto a write-only sink (data descriptors, no seek) and
the archive's bytes handed to the client about ZIP_CHUNK at a time: neither the archive nor a
large file is ever held whole. Every call of a FileStore blocks (the disk, or the network for
S3), so the files are read in threads: small ones several at a time (``FileStore.read_small``:
about 8 MiB in one hop to a thread, which costs less than a hop per file; the local store knows
each size before reading), a large one READ_CHUNK at a time.

A file the store does not have is left out and said so (``done(item, False)``); a store that
does not answer raises ``FilesUnavailable``, which ``guarded`` turns into a French 503 if
nothing was sent yet, or into a download cut short (never a complete-looking archive) and a
clear line in the log.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from formservice.errors import ServiceUnavailable
from formservice.files import FileStore, FilesUnavailable, FilesUnreachable, LargeFile
from formservice.reporting import writers

log = logging.getLogger("formservice.exports")

ZIP_CHUNK = 1024 * 1024  # bytes handed to the client at a time (bench/exports.py: vs 256 KiB)
READ_CHUNK = 1024 * 1024  # bytes of a large file read at a time
KEYS = 256  # files asked of ``read_small`` at most at a time


@dataclass(frozen=True)
class ZipItem:
    """A stored file to add: its name in the archive, its date, whose it is and its stored name;
    ``about``: what the caller wants back in ``done`` (the manifest's line)."""

    name: str
    when: datetime
    owner: str
    stored_name: str
    about: tuple[str, ...] = ()


Done = Callable[[ZipItem, bool], None]


class ZipStream:
    """A ZIP written onto a Sink, entry by entry; the caller takes the bytes as they come."""

    def __init__(self) -> None:
        self.sink = writers.Sink()
        self.zip = zipfile.ZipFile(self.sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)  # type: ignore[call-overload]

    def entry(self, name: str, when: datetime, *, deflate: bool = False) -> Any:
        info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16
        return self.zip.open(info, "w")

    def take(self) -> bytes:
        return self.sink.take()

    async def add_files(self, files: FileStore, items: Sequence[ZipItem], done: Done) -> AsyncIterator[bytes]:
        """Add the stored files of ``items``, yielding the archive's bytes as they reach
        ZIP_CHUNK; ``done(item, present)`` after each (one the store does not have is left out)."""
        start = 0
        while start < len(items):
            batch = items[start : start + KEYS]
            keys = [(item.owner, item.stored_name) for item in batch]
            found = await anyio.to_thread.run_sync(files.read_small, keys)
            try:
                for item, content in zip(batch, found, strict=False):
                    if isinstance(content, LargeFile):
                        async with writers.closing(self._add_large(item, content)) as chunks:
                            async for chunk in chunks:
                                yield chunk
                    elif content is not None:
                        with self.entry(item.name, item.when) as entry:
                            entry.write(content)
                    done(item, content is not None)
                    if self.sink.pending >= ZIP_CHUNK:
                        yield self.take()
            finally:  # left early: the large file that ends the batch is not left open
                if isinstance(found[-1], LargeFile):
                    found[-1].reader.close()
            start += len(found)

    async def _add_large(self, item: ZipItem, large: LargeFile) -> AsyncIterator[bytes]:
        """A file too large to read at once: READ_CHUNK at a time, each read in a thread."""
        try:
            with self.entry(item.name, item.when) as entry:
                entry.write(large.head)
                while chunk := await anyio.to_thread.run_sync(large.reader.read, READ_CHUNK):
                    entry.write(chunk)
                    if self.sink.pending >= ZIP_CHUNK:
                        yield self.take()
        finally:
            large.reader.close()

    def close(self) -> bytes:
        self.zip.close()
        return self.sink.take()


class ExportCut(ServiceUnavailable):
    """The file store stopped answering after the first bytes were sent: the download is cut."""

    title = "Export interrompu"
    message = (
        "L'export a été interrompu : le stockage des justificatifs ne répond plus. Le fichier reçu est "
        "incomplet ; recommencez dans quelques minutes."
    )


async def guarded(chunks: AsyncIterator[bytes], what: str) -> AsyncIterator[bytes]:
    """``chunks``, with a file store that does not answer made plain: before the first chunk, a
    French 503 (``FilesUnreachable``, an error page: see ``Export.ready``); after it, ExportCut,
    logged, which cuts the download (it is not an OSError, which Starlette would take for the
    client leaving): the client never gets a truncated archive as if it were whole."""
    handed = False
    try:
        async with writers.closing(chunks):
            async for chunk in chunks:
                handed = True
                yield chunk
    except FilesUnavailable as exc:
        if not handed:
            log.error("%s : stockage des justificatifs injoignable, rien envoyé (%s)", what, exc)
            raise FilesUnreachable() from None
        log.error(
            "%s interrompu : stockage des justificatifs injoignable (%s) ; le fichier envoyé est "
            "incomplet, la connexion est coupée",
            what,
            exc,
        )
        raise ExportCut() from None
