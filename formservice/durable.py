"""Durability on a POSIX file system, in one place: the store's journal and the uploaded files
both rely on it."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` durable: after a create, rename or unlink, the file's
    own fsync does not cover its name, which lives in the directory."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
