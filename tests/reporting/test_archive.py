"""The ZIP of stored files on its own, over each file store (the local disk, a real S3): files of
every size come back intact and in order, a missing one is said so and left out."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime

import pytest

from formservice.files import FileStore
from formservice.files.contract import WHOLE
from formservice.reporting import archive
from formservice.uploads.storage import new_stored_name

pytestmark = pytest.mark.anyio
OWNER = "acc-1"
WHEN = datetime(2025, 11, 13, 19, 0)


def put(files: FileStore, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    name = new_stored_name(".pdf")
    files.put(OWNER, name, io.BytesIO(data), "application/pdf")
    return name, data


async def test_files_of_every_size_come_back_and_a_missing_one_is_said_so(file_store: FileStore) -> None:
    """Small files read several at a time, one too large to read at once (copied a chunk at a
    time), an empty one, one the store does not have: every file there comes back intact, in
    order, the missing one said so and left out."""
    sizes = {"a": 10_000, "gros": WHOLE + 3 * archive.READ_CHUNK + 17, "vide": 0, "b": 20_000}
    stored = {label: put(file_store, size) for label, size in sizes.items()}
    items = [archive.ZipItem(f"d/{label}.pdf", WHEN, OWNER, name) for label, (name, _) in stored.items()]
    items.insert(1, archive.ZipItem("d/absent.pdf", WHEN, OWNER, new_stored_name(".pdf")))
    seen: list[tuple[str, bool]] = []
    stream = archive.ZipStream()
    parts = stream.add_files(file_store, items, lambda item, present: seen.append((item.name, present)))
    body = b"".join([c async for c in parts]) + stream.close()
    zipped = zipfile.ZipFile(io.BytesIO(body))
    assert zipped.testzip() is None
    assert seen == [(i.name, i.name != "d/absent.pdf") for i in items]
    assert zipped.namelist() == [i.name for i in items if i.name != "d/absent.pdf"]
    for label, (_name, data) in stored.items():
        assert zipped.read(f"d/{label}.pdf") == data
