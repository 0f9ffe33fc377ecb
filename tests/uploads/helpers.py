"""Assertions shared by the test modules of this folder (plain functions, not fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from formservice.uploads import StoredFile, UploadLimits, UploadRejected, inspect_and_normalise


def refuse(
    put: Callable[[bytes], Path], dest: Path, data: bytes, name: str, limits: UploadLimits | None = None
) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        inspect_and_normalise(put(data), name, dest, limits)
    assert list(dest.iterdir()) == [], "a refused upload left a file behind"
    return caught.value


def accept(put: Callable[[bytes], Path], dest: Path, data: bytes, name: str) -> tuple[StoredFile, bytes]:
    stored = inspect_and_normalise(put(data), name, dest)
    assert [p.name for p in dest.iterdir()] == [stored.stored_name]
    return stored, (dest / stored.stored_name).read_bytes()
