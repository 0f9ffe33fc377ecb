"""Where the candidates' files are kept: a small contract, a local and an S3 implementation.

A file belongs to an owner (an account id) and has a stored name (``uploads.storage``: a random
token and a canonical extension). The contract has what the service does with files, nothing
more: put a stream, open one for reading, delete, list for the reconciliation (``enrolment.
reconcile``), plus the two steps of an upload. The content checks (``uploads.inspect``) decode
and re-encode on the local disk; they write the accepted file into ``landing(owner)``, then
``keep`` makes it stored. For the local store the landing folder is the final one (nothing more
to do); for S3 it is a scratch folder, and ``keep`` streams the file up and removes it.

Every method is blocking (file system or network): call them from a thread. A write returns
only once the file is durable (fsynced with its folder, or a PUT / completed multipart upload
acknowledged), so a record may then point to it. A store that cannot be reached raises
``FilesUnavailable`` (an ``OSError``, as a full disk does), which the features show a user as
``FilesUnreachable`` (a French 503); a file that is not there raises ``StoredFileMissing``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from formservice.errors import ServiceUnavailable
from formservice.uploads.storage import is_stored_name

READ_CHUNK = 256 * 1024  # what a download reads at a time: a 5 MB file is never held whole
WHOLE = 4 * 1024 * 1024  # ``read_small``: a file up to this size is read in one go
BATCH = 8 * 1024 * 1024  # ``read_small``: about this many bytes read in one call


class FilesUnavailable(OSError):
    """The file store did not answer, or refused (network, credentials, bucket): nothing kept."""


class FilesUnreachable(ServiceUnavailable):
    """What a user is told when the store does not answer: try again in a minute."""

    message = (
        "Les justificatifs sont momentanément inaccessibles : le stockage des fichiers ne répond pas. "
        "Réessayez dans quelques minutes."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "60"})


class StoredFileMissing(FileNotFoundError):
    """No stored file under that owner and name."""


EntryState = Literal["stored", "partial", "unknown"]


@dataclass(frozen=True)
class FileEntry:
    """One thing found in the store, for the reconciliation.

    ``stored``: a file named as the service names them, under an owner's folder; ``partial``: an
    upload cut short (a ``.part`` file, an S3 multipart upload never completed), to ``discard``
    once old enough; ``unknown``: anything else, reported and left alone."""

    owner: str
    name: str
    modified: float  # POSIX time of its last change (the start of a partial upload)
    state: EntryState
    location: str  # for the operator: a path, or s3://bucket/key
    handle: str = ""  # what ``discard`` needs besides the name (an S3 upload id)


@dataclass(frozen=True)
class LargeFile:
    """A file ``read_small`` found too large to read in one go: open (the caller reads the rest
    in chunks, from a thread, and closes it), with the bytes already read of it."""

    reader: BinaryIO
    head: bytes


Small = bytes | LargeFile | None  # a file read whole, a large one open, or one not there


@dataclass(frozen=True)
class PutResult:
    name: str
    size: int
    sha256: str  # of the bytes stored, computed while they went by


class FileStore(ABC):
    """The candidates' files. ``shared`` stores (S3) may be used by several processes at once:
    the reconciliation then leaves alone whatever is younger than its grace period."""

    shared = False

    @abstractmethod
    def describe(self) -> str:
        """Where the files are, for the operator (a folder, s3://bucket/prefix)."""

    def check(self) -> None:
        """Raise FilesUnavailable if the store cannot be used (checked before serving)."""
        return None

    @abstractmethod
    def landing(self, owner: str) -> Path:
        """The local folder where the content checks write an accepted file for ``owner``."""

    @abstractmethod
    def keep(self, owner: str, name: str, media_type: str, sha256: str) -> None:
        """Make the file ``landing(owner) / name`` (fsynced there, of digest ``sha256``) stored,
        durably. On failure nothing is stored and the landed file is removed."""

    @abstractmethod
    def put(self, owner: str, name: str, source: BinaryIO, media_type: str) -> PutResult:
        """Store the bytes read from ``source`` under ``name`` (a stored name, not taken yet)."""

    @abstractmethod
    def open(self, owner: str, name: str) -> BinaryIO:
        """The stored file, for reading as a stream (close it)."""

    def read_small(
        self, keys: Sequence[tuple[str, str]], *, whole: int = WHOLE, budget: int = BATCH
    ) -> list[Small]:
        """Several files in one call, for an archive of many small files (one hop to a thread
        for all of them costs less than one per file): the files of ``keys`` (owner, name) in
        order, each read whole while it is at most ``whole`` bytes, until about ``budget`` bytes
        are read; None for one the store does not have (or a key it could not hold). A larger
        file ends the list, as a LargeFile. At least one entry when ``keys`` has one."""
        found: list[Small] = []
        total = 0
        for owner, name in keys:
            try:
                item = self._read_or_open(owner, name, whole)
            except (StoredFileMissing, ValueError):
                item = None
            found.append(item)
            if isinstance(item, LargeFile):
                break
            total += len(item or b"")
            if total >= budget:
                break
        return found

    def _read_or_open(self, owner: str, name: str, whole: int) -> bytes | LargeFile:
        """One file for ``read_small``: its bytes if it has at most ``whole``, else a LargeFile.
        Here through ``open`` (reading up to ``whole + 1`` bytes to know); a store that knows a
        file's size before reading it does better."""
        reader = self.open(owner, name)
        try:
            head = read_at_most(reader, whole + 1)
        except BaseException:
            reader.close()
            raise
        if len(head) > whole:
            return LargeFile(reader, head)
        reader.close()
        return head

    @abstractmethod
    def local_path(self, owner: str, name: str) -> AbstractContextManager[Path]:
        """The stored file as a local path, for as long as the ``with`` lasts (PDF rendering)."""

    @abstractmethod
    def delete(self, owner: str, name: str) -> None:
        """Remove a stored file; a missing one is not an error (a removal may be retried)."""

    def prune(self, owner: str) -> None:
        """Remove what ``owner``'s files leave behind once all are deleted (the local store's empty
        folder); nothing for a store without folders. Left alone if a file is still there."""
        return None

    @abstractmethod
    def entries(self) -> Iterator[FileEntry]:
        """Everything under the store, for the reconciliation."""

    @abstractmethod
    def discard(self, entry: FileEntry) -> None:
        """Remove a ``partial`` entry (an upload cut short)."""

    def close(self) -> None:
        """Release connections (the app's lifespan calls it last)."""
        return None


def check_key(owner: str, name: str) -> None:
    """An owner and a name that come from a record are checked before any use: an account id
    (no slash, no dot-only name) and a stored name (no dot before the extension, no slash), so
    that nothing outside the owner's folder is ever reached, whatever the record says."""
    if not is_owner(owner):
        raise ValueError(f"not an owner: {owner!r}")
    if not is_stored_name(name):
        raise ValueError(f"not a stored name: {name!r}")


def is_owner(owner: str) -> bool:
    return bool(owner) and owner not in (".", "..") and not any(c in owner for c in "/\\\0")


def copy_stream(source: BinaryIO, write: BinaryIO) -> None:
    """Copy by chunks: never the whole file in memory."""
    while chunk := source.read(READ_CHUNK):
        write.write(chunk)


def read_at_most(reader: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the file (a network stream's ``read`` may
    return less than asked before its end)."""
    parts, left = [], size
    while left > 0 and (chunk := reader.read(left)):
        parts.append(chunk)
        left -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_chunks(reader: BinaryIO) -> Iterator[bytes]:
    while chunk := reader.read(READ_CHUNK):
        yield chunk
