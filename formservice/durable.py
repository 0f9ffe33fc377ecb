"""Durability and privacy on a POSIX file system, in one place: the store's journal, the audit
log, the secret key and the uploaded files all rely on it.

Privacy: everything the service keeps (records, candidates' documents, the audit log, the key)
is personal or secret, so every directory it creates is 0700 and every file 0600, whatever the
process umask (which can only take bits away from a mode, and which ``Path.mkdir(parents=True)``
applies to the parents it creates)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` durable: after a create, rename or unlink, the file's
    own fsync does not cover its name, which lives in the directory."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """``mkdir -p path``, each directory it creates being exactly 0700 (and its name durable).

    Directories that already exist are left as they are: the data directory an administrator
    prepared keeps the mode given to it. For a directory that only ever holds the service's
    files (the store's, an account's uploads), follow with `restrict`. Returns ``path``."""
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # created meanwhile by someone else: theirs, left as it is
        os.chmod(directory, PRIVATE_DIR)  # the umask may have taken owner bits away
        fsync_dir(directory.parent)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open(path, flags)`` (close-on-exec), creating the file with mode 0600; a regular file
    that already existed with another mode (an earlier release's 0644) is made 0600 too. Only
    regular files are changed: a device such as /dev/null keeps its mode."""
    fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != PRIVATE_FILE:
            with contextlib.suppress(PermissionError):  # another user's file: not ours to change
                os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict(path: Path) -> None:
    """Take the group's and others' permissions off an existing directory or regular file of
    the service's (left by an earlier release, or by a wider umask); symbolic links, devices and
    other users' files are left alone."""
    st = os.lstat(path)
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        with contextlib.suppress(PermissionError):
            os.chmod(path, mode & 0o700)


def sorted_entries(directory: Path) -> list[os.DirEntry[str]]:
    """The entries of ``directory`` in name order; none if it does not exist (yet)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda e: e.name)
    except FileNotFoundError:
        return []
