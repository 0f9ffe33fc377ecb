"""The FileStore contract, over every implementation: the local disk and a real S3 server
(SeaweedFS). What one promises, the other keeps: bytes back as they went in, digests computed on
the way, names checked, missing files said so, leftovers listed for the reconciliation."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from formservice.files import FileStore, LargeFile, StoredFileMissing
from formservice.files.local import LocalFileStore
from formservice.uploads.storage import new_stored_name

OWNER = "acc-1"


@pytest.fixture
def files(file_store: FileStore) -> FileStore:
    """Each implementation in turn (``file_store`` in conftest.py)."""
    return file_store


def read_all(files: FileStore, owner: str, name: str) -> bytes:
    with files.open(owner, name) as reader:
        return reader.read()


def names(files: FileStore, state: str) -> list[tuple[str, str]]:
    return sorted((e.owner, e.name) for e in files.entries() if e.state == state)


class Failing(io.RawIOBase):
    """A source that gives ``good`` bytes, then fails as a cut connection does."""

    def __init__(self, good: bytes):
        self.data = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self.data.readinto(buffer)
        if n == 0:
            raise ConnectionResetError("the source went away")
        return n


def test_a_stream_put_reads_back_the_same_with_its_digest(files: FileStore) -> None:
    """What goes in comes out, and the size and SHA-256 returned are those of the bytes."""
    data = os.urandom(300_000)
    name = new_stored_name(".pdf")
    put = files.put(OWNER, name, io.BytesIO(data), "application/pdf")
    assert (put.name, put.size, put.sha256) == (name, len(data), hashlib.sha256(data).hexdigest())
    assert read_all(files, OWNER, name) == data
    assert names(files, "stored") == [(OWNER, name)]


def test_a_file_larger_than_a_part_is_stored_whole(files: FileStore) -> None:
    """11 MiB: three parts of a multipart upload for S3 (5 MiB parts), one file on disk."""
    data = os.urandom(11 * 1024 * 1024 + 17)
    name = new_stored_name(".pdf")
    put = files.put(OWNER, name, io.BytesIO(data), "application/pdf")
    assert put.sha256 == hashlib.sha256(data).hexdigest() and put.size == len(data)
    with files.open(OWNER, name) as reader:
        digest = hashlib.file_digest(reader, "sha256").hexdigest()  # type: ignore[arg-type]
    assert digest == put.sha256


def test_a_landed_file_is_kept(files: FileStore) -> None:
    """The upload's way: the checks write into ``landing``, ``keep`` stores it (and, for S3, the
    local copy is gone)."""
    data = b"%PDF-1.4 landed"
    name = new_stored_name(".pdf")
    landing = files.landing(OWNER)
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_bytes(data)
    files.keep(OWNER, name, "application/pdf", hashlib.sha256(data).hexdigest())
    assert read_all(files, OWNER, name) == data
    if files.shared:
        assert not (landing / name).exists()


def test_a_source_failing_midway_leaves_nothing(files: FileStore) -> None:
    """The stream breaks after 1 MB: the error comes out, no file and no half file is visible."""
    with pytest.raises(ConnectionResetError):
        files.put(OWNER, new_stored_name(".pdf"), Failing(os.urandom(1_000_000)), "application/pdf")  # type: ignore[arg-type]
    assert [e for e in files.entries() if e.state != "unknown"] == []


def test_missing_files_are_said_so_and_deleting_twice_is_fine(files: FileStore) -> None:
    name = new_stored_name(".jpg")
    files.put(OWNER, name, io.BytesIO(b"jpeg"), "image/jpeg")
    files.delete(OWNER, name)
    files.delete(OWNER, name)  # a removal cut short may be retried
    with pytest.raises(StoredFileMissing):
        files.open(OWNER, name)
    with pytest.raises(StoredFileMissing), files.local_path(OWNER, name):
        pass
    assert names(files, "stored") == []


def test_a_local_path_holds_the_file_for_the_time_of_the_with(files: FileStore) -> None:
    """PDFium reads a path: the file (or, from S3, a local copy removed afterwards)."""
    name = new_stored_name(".pdf")
    files.put(OWNER, name, io.BytesIO(b"%PDF-1.7 pages"), "application/pdf")
    with files.local_path(OWNER, name) as path:
        assert path.read_bytes() == b"%PDF-1.7 pages"
    assert path.exists() is not files.shared


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        ("..", "A" * 32 + ".pdf"),
        ("acc/../x", "A" * 32 + ".pdf"),
        ("", "A" * 32 + ".pdf"),
        (OWNER, "../secret.pdf"),
        (OWNER, ".hidden.pdf"),
        (OWNER, "a/b.pdf"),
    ],
)
def test_owners_and_names_from_records_are_checked_before_use(
    files: FileStore, owner: str, name: str
) -> None:
    """A damaged record never reaches outside its owner's folder (or prefix)."""
    for call in (
        lambda: files.put(owner, name, io.BytesIO(b"x"), "application/pdf"),
        lambda: files.open(owner, name),
        lambda: files.delete(owner, name),
    ):
        with pytest.raises(ValueError):
            call()


def test_entries_name_owners_and_sort_out_what_is_not_ours(files: FileStore) -> None:
    """Stored files under their owner; a name the service never gives is ``unknown``."""
    a, b = new_stored_name(".pdf"), new_stored_name(".png")
    files.put("acc-1", a, io.BytesIO(b"a"), "application/pdf")
    files.put("acc-2", b, io.BytesIO(b"b"), "image/png")
    _put_foreign(files, "acc-1/notes.txt")
    assert names(files, "stored") == sorted([("acc-1", a), ("acc-2", b)])
    assert [e.name for e in files.entries() if e.state == "unknown"] == ["notes.txt"]
    stored = {e.name: e for e in files.entries() if e.state == "stored"}
    assert a in stored[a].location and stored[a].modified > 0


def test_an_upload_cut_short_is_listed_as_partial_and_discarded(files: FileStore) -> None:
    """A ``.part`` file of a copy killed midway, an S3 multipart upload never completed: listed
    as partial (they are no stored file), and gone once discarded."""
    _leave_partial(files, "acc-1")
    (partial,) = [e for e in files.entries() if e.state == "partial"]
    assert partial.owner == "acc-1"
    files.discard(partial)
    assert [e for e in files.entries() if e.state == "partial"] == []


# -- how each implementation is given things the service never writes ---------------------------


def _put_foreign(files: FileStore, relative: str) -> None:
    if isinstance(files, LocalFileStore):
        path = files.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"by hand")
    else:
        client, location = files.client, files.location  # type: ignore[attr-defined]
        client.put_object(Bucket=location.bucket, Key=f"{location.root}{relative}", Body=b"by hand")


def _leave_partial(files: FileStore, owner: str) -> None:
    name = new_stored_name(".pdf")
    if isinstance(files, LocalFileStore):
        folder = files.root / owner
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f".{name}.part").write_bytes(b"half")
    else:
        client, location = files.client, files.location  # type: ignore[attr-defined]
        key = location.key(owner, name)
        upload = client.create_multipart_upload(Bucket=location.bucket, Key=key)
        client.upload_part(
            Bucket=location.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"half"
        )


def put_random(files: FileStore, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    name = new_stored_name(".pdf")
    files.put(OWNER, name, io.BytesIO(data), "application/pdf")
    return name, data


def test_small_files_are_read_together_and_a_large_one_ends_the_batch(files: FileStore) -> None:
    """``read_small``: the small files whole up to the budget, None for one not there, a large one
    open with what was read of it (the rest read from its reader)."""
    small = [put_random(files, 1000) for _ in range(3)]
    large = put_random(files, 5000)
    keys = [(OWNER, small[0][0]), (OWNER, new_stored_name(".pdf")), (OWNER, small[1][0]), (OWNER, large[0])]
    first, missing, second, opened = files.read_small([*keys, (OWNER, small[2][0])], whole=4000)
    assert (first, missing, second) == (small[0][1], None, small[1][1])
    assert isinstance(opened, LargeFile)
    with opened.reader:
        assert opened.head + opened.reader.read() == large[1]
    assert files.read_small([(OWNER, n) for n, _ in small], whole=4000, budget=1500) == [
        small[0][1],
        small[1][1],
    ]
