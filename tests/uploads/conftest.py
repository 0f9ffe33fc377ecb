"""Fixtures shared by the upload tests: a store directory, where an upload arrives, and a real
ClamAV daemon (clamd) with a database of test signatures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def put(tmp_path: Path) -> Callable[[bytes], Path]:
    """Write bytes where the upload stream would have left them."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    counter = iter(range(10**6))

    def write(data: bytes) -> Path:
        path = incoming / f"upload-{next(counter)}.part"
        path.write_bytes(data)
        return path

    return write
