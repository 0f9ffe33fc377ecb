"""The files in an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph, Garage...).

``FORMSERVICE_FILES=s3://bucket/prefix``: a file is the object ``prefix/<account id>/<stored
name>``. boto3's client is thread-safe; every call here blocks, and the service makes them from
threads. An upload is sent from the local file the content checks left (``landing``), part by
part: each part is read once to compute its MD5 (which the server checks, ``Content-MD5``) and
the file's SHA-256, then sent straight from the file, so no file is ever held in memory. A file
of one part is one PUT; a larger one a multipart upload, aborted on failure. Either way the object
exists only once the server has acknowledged the whole of it (the PUT, or the completion of the
multipart upload): a half-sent file is never visible, and a multipart upload left by a crash
(its parts are not objects) is listed as ``partial`` for the reconciliation to abort.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from formservice.durable import private_dir
from formservice.files.contract import (
    EntryState,
    FileEntry,
    FileStore,
    FilesUnavailable,
    PutResult,
    StoredFileMissing,
    check_key,
    copy_stream,
    is_owner,
)
from formservice.uploads.storage import is_stored_name

T = TypeVar("T")
MIB = 1024 * 1024
MIN_PART_BYTES = 5 * MIB  # S3's smallest part but the last
PART_BYTES = 8 * MIB
_HASH_CHUNK = MIB
_MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""  # without slashes at either end

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket`` or ``s3://bucket/some/prefix`` (checked by the settings first)."""
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        return cls(bucket, prefix.strip("/"))

    def key(self, owner: str, name: str) -> str:
        return f"{self.prefix}/{owner}/{name}" if self.prefix else f"{owner}/{name}"

    @property
    def root(self) -> str:
        """Every key of the service starts with this."""
        return f"{self.prefix}/" if self.prefix else ""


class S3FileStore(FileStore):
    shared = True  # several workers, on several machines, may use the same bucket

    def __init__(
        self,
        location: S3Location,
        scratch: Path,
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        cafile: str | None = None,
        timeout: float = 30.0,
        attempts: int = 3,
        part_bytes: int = PART_BYTES,
    ):
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"parts of at least {MIN_PART_BYTES} bytes (S3's minimum)")
        self.location = location
        self.scratch = Path(scratch)  # local: the content checks' output, downloads for PDFium
        self.part_bytes = part_bytes
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},  # what every S3-compatible server understands
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            # Content-MD5 is sent on every write; the newer default checksums are not understood
            # by every S3-compatible server.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = session.client("s3", endpoint_url=endpoint, config=config, verify=cafile or True)

    def describe(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}".rstrip("/")

    def check(self) -> None:
        try:
            self._call(self.client.head_bucket, Bucket=self.location.bucket)
        except StoredFileMissing:
            raise FilesUnavailable(f"S3: the bucket {self.location.bucket} does not exist") from None

    def landing(self, owner: str) -> Path:
        if not is_owner(owner):
            raise ValueError(f"not an owner: {owner!r}")
        return self.scratch

    def keep(self, owner: str, name: str, media_type: str, sha256: str) -> None:
        check_key(owner, name)
        landed = self.scratch / name
        try:
            sent = self._send(self.location.key(owner, name), landed, media_type)
            if sent.sha256 != sha256:  # changed between the checks and the upload: keep nothing
                self.delete(owner, name)
                raise FilesUnavailable(f"{name}: the file changed while it was sent")
        finally:
            landed.unlink(missing_ok=True)

    def put(self, owner: str, name: str, source: BinaryIO, media_type: str) -> PutResult:
        """Spooled to a local file first (the source may not be seekable), then sent as ``keep``
        sends: the parts are read from the disk, not held in memory."""
        check_key(owner, name)
        private_dir(self.scratch)
        fd, tmp = tempfile.mkstemp(prefix=".put-", suffix=".part", dir=self.scratch)
        try:
            with os.fdopen(fd, "wb") as out:
                copy_stream(source, out)
            sent = self._send(self.location.key(owner, name), Path(tmp), media_type)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return PutResult(name, sent.size, sent.sha256)

    def open(self, owner: str, name: str) -> BinaryIO:
        check_key(owner, name)
        answer = self._call(self.client.get_object, Bucket=self.location.bucket, Key=self._key(owner, name))
        return cast(BinaryIO, _Reader(answer["Body"]))

    def local_path(self, owner: str, name: str) -> AbstractContextManager[Path]:
        return self._downloaded(owner, name)

    @contextmanager
    def _downloaded(self, owner: str, name: str) -> Iterator[Path]:
        private_dir(self.scratch)
        reader = self.open(owner, name)
        fd, tmp = tempfile.mkstemp(prefix=".get-", suffix=".part", dir=self.scratch)
        try:
            with reader, os.fdopen(fd, "wb") as out:
                copy_stream(reader, out)
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def delete(self, owner: str, name: str) -> None:
        check_key(owner, name)
        self._call(self.client.delete_object, Bucket=self.location.bucket, Key=self._key(owner, name))

    def entries(self) -> Iterator[FileEntry]:
        """The objects under the prefix, then the multipart uploads never completed."""
        bucket, root = self.location.bucket, self.location.root
        for page in self._pages("list_objects_v2", Bucket=bucket, Prefix=root):
            for obj in page.get("Contents", []):
                yield self._entry(obj["Key"], obj["LastModified"].timestamp(), "stored")
        for page in self._pages("list_multipart_uploads", Bucket=bucket, Prefix=root):
            for upload in page.get("Uploads", []):
                yield self._entry(
                    upload["Key"], upload["Initiated"].timestamp(), "partial", upload["UploadId"]
                )

    def discard(self, entry: FileEntry) -> None:
        key = entry.location.removeprefix(f"s3://{self.location.bucket}/")
        self._call(
            self.client.abort_multipart_upload, Bucket=self.location.bucket, Key=key, UploadId=entry.handle
        )

    def close(self) -> None:
        self.client.close()

    # -- sending ----------------------------------------------------------------------------------
    def _send(self, key: str, path: Path, media_type: str) -> PutResult:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with path.open("rb") as f:
            if size <= self.part_bytes:
                md5 = _digest_region(f, 0, size, digest)
                self._call(
                    self.client.put_object,
                    Bucket=self.location.bucket,
                    Key=key,
                    Body=_Region(f, 0, size),
                    ContentLength=size,
                    ContentMD5=md5,
                    ContentType=media_type,
                )
            else:
                self._send_parts(key, f, size, media_type, digest)
        return PutResult(path.name, size, digest.hexdigest())

    def _send_parts(self, key: str, f: BinaryIO, size: int, media_type: str, digest: Any) -> None:
        bucket = self.location.bucket
        upload = self._call(
            self.client.create_multipart_upload, Bucket=bucket, Key=key, ContentType=media_type
        )
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, self.part_bytes), start=1):
                length = min(self.part_bytes, size - start)
                md5 = _digest_region(f, start, length, digest)
                sent = self._call(
                    self.client.upload_part,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=_Region(f, start, length),
                    ContentLength=length,
                    ContentMD5=md5,
                )
                parts.append({"ETag": sent["ETag"], "PartNumber": number})
            self._call(
                self.client.complete_multipart_upload,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Its parts are no object; if the server is gone, the reconciliation aborts it later.
            with contextlib.suppress(BotoCoreError, ClientError):
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    # -- helpers ----------------------------------------------------------------------------------
    def _key(self, owner: str, name: str) -> str:
        return self.location.key(owner, name)

    def _entry(self, key: str, modified: float, state: EntryState, handle: str = "") -> FileEntry:
        """An object not named as the service names them (``owner/stored name``) is unknown."""
        location = f"s3://{self.location.bucket}/{key}"
        owner, _, name = key.removeprefix(self.location.root).partition("/")
        if state == "stored" and not (is_owner(owner) and is_stored_name(name)):
            state = "unknown"
        return FileEntry(owner, name, modified, state, location, handle)

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        pages = iter(self.client.get_paginator(operation).paginate(**params))
        while True:
            page = self._call(lambda: next(pages, None))
            if page is None:
                return
            yield page

    def _call(self, fn: Callable[..., T], **params: Any) -> T:
        """One request; what the server or the network refused becomes FilesUnavailable (a
        missing object StoredFileMissing), with its reason for the log."""
        try:
            return fn(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _MISSING:
                raise StoredFileMissing(params.get("Key", "")) from None
            raise FilesUnavailable(f"S3 {code}: {error.get('Message', exc)}") from None
        except BotoCoreError as exc:
            raise FilesUnavailable(f"S3: {exc}") from None


def _digest_region(f: BinaryIO, start: int, length: int, digest: Any) -> str:
    """Read ``length`` bytes from ``start`` once: the file's SHA-256 goes on, the part's MD5 is
    returned as Content-MD5 wants it (base64)."""
    md5 = hashlib.md5(usedforsecurity=False)
    f.seek(start)
    left = length
    while left:
        chunk = f.read(min(_HASH_CHUNK, left))
        if not chunk:
            raise FilesUnavailable("the file to send became shorter while it was read")
        md5.update(chunk)
        digest.update(chunk)
        left -= len(chunk)
    return base64.b64encode(md5.digest()).decode("ascii")


class _Region(io.RawIOBase):
    """``length`` bytes of ``f`` from ``start``, as a file of its own: botocore reads (and, to
    sign or retry, seeks back in) the body without it ever being copied into memory whole."""

    def __init__(self, f: BinaryIO, start: int, length: int):
        self._f, self._start, self._length, self._pos = f, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        size = left if size is None or size < 0 else min(size, left)
        if size <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Reader(io.RawIOBase):
    """An object's body; a failure of the network while reading it is FilesUnavailable."""

    def __init__(self, body: Any):
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            data: bytes = self._body.read(None if size is None or size < 0 else size)
        except (BotoCoreError, OSError) as exc:
            raise FilesUnavailable(f"S3 read: {exc}") from None
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()
