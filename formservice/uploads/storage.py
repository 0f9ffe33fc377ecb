"""Keeping an accepted upload durably, and removing it.

A record (an enrolment) may only point to a file that survives a crash: every file is written
under a temporary name in the destination directory, fsynced, renamed to a random name, and the
directory fsynced, before its `StoredFile` is returned. On any error nothing is left behind.
Files are 0600; the destination folder (one per account) is created 0700 if missing and has
the group's and others' permissions taken off if it has them, whatever the umask.
Stored names are random (`secrets.token_urlsafe`) plus the canonical extension of their kind,
so they never carry anything of the sender's name; `remove_stored` accepts that shape only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from formservice.durable import fsync_dir, private_dir, restrict
from formservice.uploads.names import KINDS, Kind
from formservice.uploads.types import StoredFile

__all__ = [
    "adopt",
    "fsync_dir",
    "is_stored_name",
    "new_stored_name",
    "remove_stored",
    "store",
    "store_copy",
    "write_stored",
]

_TOKEN_BYTES = 24  # 32 URL-safe characters: unguessable, so a name alone gives no access
_COPY_CHUNK = 1024 * 1024
# What `store` and `adopt` name a file: a URL-safe token, then a canonical extension (.pdf, .jpg, .png).
_EXTENSIONS = "|".join(re.escape(kind.extension) for kind in KINDS)
_STORED_NAME = re.compile(rf"[A-Za-z0-9_-]+(?:{_EXTENSIONS})")


def store(dest_dir: Path, kind: Kind, display: str, write: Callable[[BinaryIO], object]) -> StoredFile:
    """Write under a temporary name, fsync, rename to a random name, fsync the directory: after
    this returns, the file survives a crash, so a record may point to it."""
    name = new_stored_name(kind.extension)
    size, digest = write_stored(dest_dir, name, write)
    return StoredFile(name, size, digest, kind.media_type, display)


def new_stored_name(extension: str) -> str:
    """A random name (nothing of the sender's) with a canonical extension: what `store` gives."""
    return f"{secrets.token_urlsafe(_TOKEN_BYTES)}{extension}"


def write_stored(dest_dir: Path, name: str, write: Callable[[BinaryIO], object]) -> tuple[int, str]:
    """`store` under a name chosen by the caller (a stored name, e.g. kept from another file
    store); never over an existing file. Returns the size and SHA-256 of what was written."""
    if not is_stored_name(name):
        raise ValueError(f"not a stored name: {name!r}")
    _private_folder(dest_dir)
    tmp = dest_dir / f".{name}.part"
    final = dest_dir / name
    # Never through a link, never over an existing file (which would then not be ours to remove).
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    renamed = False
    try:
        size, digest = _write_synced(fd, write)
        if final.exists():
            raise FileExistsError(errno.EEXIST, "stored name already taken", str(final))
        os.rename(tmp, final)
        renamed = True
        fsync_dir(dest_dir)
    except BaseException:
        (final if renamed else tmp).unlink(missing_ok=True)
        raise
    return size, digest


def store_copy(src: Path, dest_dir: Path, kind: Kind, display: str) -> StoredFile:
    """`store` the bytes of `src` as they are (a PDF is kept as sent)."""
    return store(dest_dir, kind, display, lambda out: _copy(src, out))


def adopt(src: Path, dest_dir: Path, kind: Kind, display: str, sha256: str | None) -> StoredFile:
    """Rename our temporary file into place (same bytes, one write less than a copy), then make
    both the file and its new name durable before anyone records it.

    `src` must be a temporary file of ours; on another file system it is copied instead.
    `sha256`, when given, is trusted as its digest, so the file is not read back whole."""
    _private_folder(dest_dir)
    final = dest_dir / new_stored_name(kind.extension)
    os.chmod(src, 0o600)
    try:
        os.rename(src, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return store_copy(src, dest_dir, kind, display)
    try:
        size, sha256 = _sync_adopted(final, sha256)
        fsync_dir(dest_dir)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return StoredFile(final.name, size, sha256, kind.media_type, display)


def is_stored_name(name: str) -> bool:
    """Whether `name` has the shape of a name `store` gives: no dot before the extension, so no
    '..', no hidden or temporary file, and no slash, so nothing outside the directory."""
    return _STORED_NAME.fullmatch(name) is not None


def remove_stored(dest_dir: Path, stored_name: str) -> None:
    """Remove a stored file (the candidate removed it, or its record could not be saved).

    The name comes from a record, so it is checked before use: anything but a stored name raises
    ValueError, whatever is on disk. A missing file is not an error, so that a removal can be
    retried; the directory is fsynced in every case, since an earlier removal may have been cut
    short between its unlink and its fsync."""
    if not is_stored_name(stored_name):
        raise ValueError(f"not a stored name: {stored_name!r}")
    (dest_dir / stored_name).unlink(missing_ok=True)
    fsync_dir(dest_dir)


def _private_folder(dest_dir: Path) -> None:
    """An account's folder holds nothing but its candidate's files: 0700, created if missing."""
    private_dir(dest_dir)
    restrict(dest_dir)


def _write_synced(fd: int, write: Callable[[BinaryIO], object]) -> tuple[int, str]:
    """Fill the new file `fd` with `write`, mode 0600, and fsync it (then closed); its size and
    SHA-256 are read back from what was written, not trusted from the writer."""
    with os.fdopen(fd, "w+b") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        write(f)
        f.flush()
        os.fsync(f.fileno())
        f.seek(0)
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = os.fstat(f.fileno()).st_size
    return size, digest


def _sync_adopted(final: Path, sha256: str | None) -> tuple[int, str]:
    """Fsync a renamed file's data; its size, and its digest unless the caller already had it."""
    fd = os.open(final, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
        size = os.fstat(fd).st_size
        if sha256 is None:
            with os.fdopen(os.dup(fd), "rb") as f:
                sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    finally:
        os.close(fd)
    return size, sha256


def _copy(src: Path, out: BinaryIO) -> None:
    """Copy by chunks: a 5 MiB upload is never held in memory whole."""
    with src.open("rb") as f:
        shutil.copyfileobj(f, out, _COPY_CHUNK)
