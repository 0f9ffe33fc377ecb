"""The files on the local disk, ``<data dir>/uploads/<account id>/<stored name>`` (the default).

Today's durable writes (``uploads.storage``: temporary name, fsync, rename, fsync of the folder;
0600 files in 0700 folders) behind the FileStore contract. The content checks write an accepted
file straight into its final folder, so ``keep`` has nothing left to do.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO

from formservice.durable import fsync_dir, sorted_entries
from formservice.files.contract import (
    EntryState,
    FileEntry,
    FileStore,
    LargeFile,
    PutResult,
    StoredFileMissing,
    check_key,
    copy_stream,
    is_owner,
)
from formservice.uploads.storage import is_stored_name, remove_stored, write_stored


class LocalFileStore(FileStore):
    def __init__(self, root: Path):
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def landing(self, owner: str) -> Path:
        if not is_owner(owner):
            raise ValueError(f"not an owner: {owner!r}")
        return self.root / owner

    def keep(self, owner: str, name: str, media_type: str, sha256: str) -> None:
        """Already in place and fsynced by the content checks."""
        check_key(owner, name)

    def put(self, owner: str, name: str, source: BinaryIO, media_type: str) -> PutResult:
        check_key(owner, name)
        size, digest = write_stored(self.root / owner, name, lambda out: copy_stream(source, out))
        return PutResult(name, size, digest)

    def open(self, owner: str, name: str) -> BinaryIO:
        path = self._path(owner, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise StoredFileMissing(str(path)) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StoredFileMissing(str(path))
        return os.fdopen(fd, "rb")

    def _read_or_open(self, owner: str, name: str, whole: int) -> bytes | LargeFile:
        """The fast path: the size is known before reading (no buffer larger than the file)."""
        reader = self.open(owner, name)
        if os.fstat(reader.fileno()).st_size > whole:
            return LargeFile(reader, b"")
        with reader:
            return reader.read()

    def local_path(self, owner: str, name: str) -> AbstractContextManager[Path]:
        path = self._path(owner, name)
        if not _is_file(path):
            raise StoredFileMissing(str(path))
        return nullcontext(path)

    def delete(self, owner: str, name: str) -> None:
        check_key(owner, name)
        remove_stored(self.root / owner, name)

    def prune(self, owner: str) -> None:
        if not is_owner(owner):
            raise ValueError(f"not an owner: {owner!r}")
        with contextlib.suppress(OSError):  # not empty, or already gone
            (self.root / owner).rmdir()

    def entries(self) -> Iterator[FileEntry]:
        """Each account's folder: stored files, ``.part`` files of copies cut short, and
        anything else (a file at the top, a link, a folder inside a folder) as unknown."""
        for entry in sorted_entries(self.root):
            if entry.is_dir(follow_symlinks=False):
                yield from self._account_entries(entry.name, Path(entry.path))
            else:
                yield _entry("", entry, "unknown")

    def discard(self, entry: FileEntry) -> None:
        path = Path(entry.location)
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)

    def _account_entries(self, owner: str, folder: Path) -> Iterator[FileEntry]:
        for entry in sorted_entries(folder):
            is_file = entry.is_file(follow_symlinks=False)
            if is_file and is_stored_name(entry.name):
                yield _entry(owner, entry, "stored")
            elif is_file and entry.name.startswith(".") and entry.name.endswith(".part"):
                yield _entry(owner, entry, "partial")
            else:
                yield _entry(owner, entry, "unknown")

    def _path(self, owner: str, name: str) -> Path:
        check_key(owner, name)
        return self.root / owner / name


def _entry(owner: str, entry: os.DirEntry[str], state: EntryState) -> FileEntry:
    modified = entry.stat(follow_symlinks=False).st_mtime
    return FileEntry(owner, entry.name, modified, state, entry.path)


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
