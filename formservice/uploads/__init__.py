"""Supporting documents uploaded by candidates: checked by their bytes, normalised, stored durably.

The public API of the feature; its modules are `types` (limits, refusal, stored file), `names`
(names and the accepted kinds), `images` and `pdf` (content checks), `storage` (durable writes
and removal), `inspect` (the entry point), `antivirus` (the ClamAV daemon's verdict) and `stream`
(receiving a multipart body as a stream). `stream` is not re-exported: importing the checks should
not pull in the multipart parser.
"""

from formservice.uploads.antivirus import AntivirusUnavailable, Clamd, VirusFound
from formservice.uploads.inspect import inspect_and_normalise
from formservice.uploads.names import MAX_NAME_CHARS, safe_display_name
from formservice.uploads.storage import fsync_dir, remove_stored
from formservice.uploads.types import MIB, StoredFile, UploadLimits, UploadRejected, size_fr

__all__ = [
    "MAX_NAME_CHARS",
    "MIB",
    "AntivirusUnavailable",
    "Clamd",
    "StoredFile",
    "UploadLimits",
    "UploadRejected",
    "VirusFound",
    "fsync_dir",
    "inspect_and_normalise",
    "remove_stored",
    "safe_display_name",
    "size_fr",
]
