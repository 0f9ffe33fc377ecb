"""The S3 store against a real server (SeaweedFS) in the ways only it can fail: the server gone,
killed in the middle of a multipart upload, frozen; and what an operator sees in the bucket."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from account_helpers import free_port
from s3_helpers import BUCKET, SeaweedFS

from formservice.enrolment.reconcile import reconcile_files
from formservice.files import FilesUnavailable, StoredFileMissing
from formservice.files.s3 import S3FileStore
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from formservice.uploads.storage import new_stored_name

OWNER = "acc-1"
MIB = 1024 * 1024


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def files(seaweedfs: SeaweedFS, s3_prefix: str, scratch: Path) -> Iterator[S3FileStore]:
    store = seaweedfs.file_store(s3_prefix, scratch)
    yield store
    store.close()


def test_objects_are_named_prefix_owner_stored_name(
    files: S3FileStore, seaweedfs: SeaweedFS, s3_prefix: str
) -> None:
    """What an operator finds in the bucket: one object per file, under the service's prefix."""
    name = new_stored_name(".pdf")
    files.put(OWNER, name, io.BytesIO(b"%PDF"), "application/pdf")
    assert seaweedfs.keys(s3_prefix) == [f"{s3_prefix}/{OWNER}/{name}"]
    head = seaweedfs.client().head_object(Bucket=files.location.bucket, Key=f"{s3_prefix}/{OWNER}/{name}")
    assert head["ContentType"] == "application/pdf"


def test_a_landed_file_that_changed_is_not_kept(
    files: S3FileStore, seaweedfs: SeaweedFS, s3_prefix: str
) -> None:
    """The bytes sent are not those the checks passed (their digest differs): nothing is kept,
    neither in the bucket nor in the scratch folder."""
    name = new_stored_name(".pdf")
    (files.landing(OWNER) / name).write_bytes(b"what the checks saw")
    with pytest.raises(FilesUnavailable):
        files.keep(OWNER, name, "application/pdf", hashlib.sha256(b"something else").hexdigest())
    assert seaweedfs.keys(s3_prefix) == [] and not (files.landing(OWNER) / name).exists()


def test_a_store_nobody_answers_for_is_unavailable(tmp_path: Path, scratch: Path) -> None:
    """Nothing listens on the endpoint: every call is FilesUnavailable, none hangs."""
    nobody = SeaweedFS(tmp_path, {"s3.port": free_port()})
    store = nobody.file_store("p", scratch, attempts=1, timeout=1.0)
    name = new_stored_name(".pdf")
    calls: list[Callable[[], Any]] = [
        store.check,
        lambda: store.put(OWNER, name, io.BytesIO(b"x"), "application/pdf"),
        lambda: store.open(OWNER, name),
        lambda: store.delete(OWNER, name),
        lambda: list(store.entries()),
    ]
    for call in calls:
        with pytest.raises(FilesUnavailable):
            call()


def test_wrong_keys_are_unavailable_not_missing(seaweedfs: SeaweedFS, s3_prefix: str, scratch: Path) -> None:
    """Refused credentials are the operator's problem (FilesUnavailable, logged), never « this
    file does not exist »."""
    store = seaweedfs.file_store(s3_prefix, scratch, secret_key="not-the-secret", attempts=1)
    with pytest.raises(FilesUnavailable) as refused:
        store.open(OWNER, new_stored_name(".pdf"))
    assert not isinstance(refused.value, StoredFileMissing)
    with pytest.raises(FilesUnavailable):
        store.check()


class KilledAtPart(S3FileStore):
    """Kills the real server just before part ``at`` of a multipart upload is sent."""

    server: SeaweedFS
    at = 2

    def _call(self, fn: Callable[..., Any], **params: Any) -> Any:
        if params.get("PartNumber") == self.at and self.server.process and self.server.process.poll() is None:
            self.server.kill()
        return super()._call(fn, **params)


@pytest.mark.slow
def test_a_server_killed_mid_upload_leaves_no_half_object(
    seaweedfs: SeaweedFS, s3_prefix: str, scratch: Path
) -> None:
    """SIGKILL between two parts of a 12 MiB upload: the upload fails (FilesUnavailable), and once
    the server is back no object of it is visible; its upload is listed as partial and discarded.
    A file acknowledged before the crash is still there, byte for byte."""
    files = seaweedfs.file_store(s3_prefix, scratch)
    before = os.urandom(200_000)
    kept = new_stored_name(".pdf")
    files.put(OWNER, kept, io.BytesIO(before), "application/pdf")
    files.close()
    killer = KilledAtPart(
        files.location,
        scratch,
        endpoint=seaweedfs.endpoint,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        timeout=2.0,
        attempts=2,
        part_bytes=files.part_bytes,
    )
    killer.server = seaweedfs
    cut = new_stored_name(".pdf")
    try:
        with pytest.raises(FilesUnavailable):
            killer.put(OWNER, cut, io.BytesIO(os.urandom(12 * MIB)), "application/pdf")
    finally:
        killer.close()
        seaweedfs.start()
    assert seaweedfs.keys(s3_prefix) == [f"{s3_prefix}/{OWNER}/{kept}"]
    files = seaweedfs.file_store(s3_prefix, scratch)
    with files.open(OWNER, kept) as reader:
        assert reader.read() == before
    partial = [e for e in files.entries() if e.state == "partial"]
    assert [(e.owner, e.name) for e in partial] == [(OWNER, cut)]
    files.discard(partial[0])
    assert seaweedfs.uploads_in_progress(s3_prefix) == [] and list(scratch.iterdir()) == []
    files.close()


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_frozen_server_times_out_and_a_late_object_is_an_orphan(
    seaweedfs: SeaweedFS, s3_prefix: str, scratch: Path
) -> None:
    """SIGSTOP: the connection opens but nothing answers; the store gives up after its timeout
    (FilesUnavailable), so no record will point to the file. A server that wakes up may still
    finish the PUT it had received (S3 says so of any request that timed out): such an object is
    an orphan, which the reconciliation removes once past its grace period."""
    files = seaweedfs.file_store(s3_prefix, scratch, timeout=1.0, attempts=1)
    name = new_stored_name(".pdf")
    seaweedfs.freeze()
    started = time.monotonic()
    try:
        with pytest.raises(FilesUnavailable):
            files.put(OWNER, name, io.BytesIO(b"%PDF frozen"), "application/pdf")
    finally:
        seaweedfs.thaw()
    assert time.monotonic() - started < 30
    time.sleep(0.5)  # the server, awake, handles what it had received
    assert seaweedfs.keys(s3_prefix) in ([], [f"{s3_prefix}/{OWNER}/{name}"])
    later = datetime.now(UTC) + timedelta(minutes=5)
    report = await reconcile_files(
        Store(MemoryEngine()), files, scratch, now=later, stale_after=timedelta(minutes=1)
    )
    assert seaweedfs.keys(s3_prefix) == [] and report.missing == []
    files.close()


@pytest.mark.anyio
async def test_store_check_compares_the_records_with_the_bucket(
    seaweedfs: SeaweedFS, s3_prefix: str, files: S3FileStore, tmp_path: Path, monkeypatch, capsys
) -> None:
    """`formservice store check` with FORMSERVICE_FILES=s3://…: a record whose object is gone is a
    problem (exit 1), an object without a record is announced for the next start."""
    from formservice.cli import main
    from formservice.store.tinydb.engine import TinyDBEngine

    data_dir = tmp_path / "var"
    engine = TinyDBEngine(data_dir / "store")
    recorded = {"id": "f1", "document_id": "piece", "stored_name": "a" * 32 + ".pdf", "size": 4}
    enrolment = {"id": "e1", "key": "acc:s", "account_id": "acc", "session": "s", "version": 1}
    await engine.insert("enrolments", {**enrolment, "status": "saved", "data": {}, "files": [recorded]})
    await engine.close()
    files.put("acc", "b" * 32 + ".pdf", io.BytesIO(b"%PDF"), "application/pdf")
    config = seaweedfs.files_config(s3_prefix)
    for name, value in {
        "FORMSERVICE_FILES": config.url,
        "FORMSERVICE_S3_ENDPOINT": seaweedfs.endpoint,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["store", "check", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    assert "l'inscription e1 référence le fichier f1, absent du stockage" in out
    assert f"1 fichier sans inscription dans s3://{BUCKET}/{s3_prefix}" in out
    files.put("acc", "a" * 32 + ".pdf", io.BytesIO(b"%PDF"), "application/pdf")
    assert main(["store", "check", "--data-dir", str(data_dir)]) == 0
