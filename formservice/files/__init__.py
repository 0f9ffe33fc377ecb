"""The candidates' files behind one small contract (``contract.FileStore``): on the local disk
(``local``, the default) or in an S3-compatible object store (``s3``); ``factory.open_files``
alone chooses, from ``FORMSERVICE_FILES``. The features use the contract, never an implementation.
"""

from formservice.files.contract import (
    FileEntry,
    FileStore,
    FilesUnavailable,
    FilesUnreachable,
    LargeFile,
    PutResult,
    StoredFileMissing,
    read_chunks,
)

__all__ = [
    "FileEntry",
    "FileStore",
    "FilesUnavailable",
    "FilesUnreachable",
    "LargeFile",
    "PutResult",
    "StoredFileMissing",
    "read_chunks",
]
