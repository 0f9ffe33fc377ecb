"""``open_files(config, root=..., scratch=...)``: the one place that picks a FileStore.

The S3 client (boto3) is imported only when the files are in S3: the default deployment does not
pay for it."""

from __future__ import annotations

from pathlib import Path

from formservice.files.contract import FileStore
from formservice.files.local import LocalFileStore
from formservice.settings import FilesConfig


def open_files(config: FilesConfig, *, root: Path, scratch: Path) -> FileStore:
    """``root``: the data directory's uploads folder (local files); ``scratch``: a local folder
    for the files on their way to or from S3 (the uploads' temporary folder)."""
    if not config.s3:
        return LocalFileStore(root)
    from formservice.files.s3 import S3FileStore, S3Location

    return S3FileStore(
        S3Location.parse(config.url),
        scratch,
        endpoint=config.endpoint,
        region=config.region,
        access_key=config.access_key,
        secret_key=config.secret_key,
        cafile=config.cafile,
        timeout=config.timeout,
        attempts=config.attempts,
        part_bytes=config.part_bytes,
    )
