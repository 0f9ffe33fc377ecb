"""What a supporting document may contain, decided by its bytes.

The name and the declared type of an upload are the sender's word; only the content counts. A file
is accepted when its magic bytes, a full parse and the extension of its name agree on one of three
formats (PDF, JPEG, PNG). Images are decoded and re-encoded, so that what we keep holds pixels and
nothing else (no EXIF position, nothing appended). PDFs cannot be rewritten without breaking their
signatures, so they are kept as sent, but only after a parse that refuses anything active.

This module is the entry point; the rules live in `names` (names and kinds), `images`
(re-encoding), `pdf` (the PDF parse) and `storage` (durable writes).

Pure: no web framework here. The caller streams the upload to a temporary file (see
`uploads.stream`), then calls `inspect_and_normalise` in a worker thread, since decoding is CPU work.
"""

from __future__ import annotations

import mmap
from pathlib import Path

from formservice.uploads.images import reencode_image
from formservice.uploads.names import (
    ACCEPTED,
    MAX_NAME_CHARS,
    PDF,
    Kind,
    check_name,
    kind_of_content,
    safe_display_name,
    split_extension,
)
from formservice.uploads.pdf import check_pdf
from formservice.uploads.storage import adopt, remove_stored, store, store_copy
from formservice.uploads.types import MIB, StoredFile, UploadLimits, UploadRejected, size_fr

# What other modules import from here (kept so that their imports go on working); the names
# now live in `types`, `names` and `storage`, and `formservice.uploads` re-exports them all.
__all__ = [
    "MAX_NAME_CHARS",
    "MIB",
    "StoredFile",
    "UploadLimits",
    "UploadRejected",
    "inspect_and_normalise",
    "remove_stored",
    "safe_display_name",
    "size_fr",
]


def inspect_and_normalise(
    src: Path,
    original_name: str,
    dest_dir: Path,
    limits: UploadLimits | None = None,
    *,
    move: bool = False,
    sha256: str | None = None,
) -> StoredFile:
    """Accept `src` as one of the three formats and store it in `dest_dir`, or raise UploadRejected.

    The stored file is the re-encoded image or the PDF as sent, under a random name, mode 0600,
    fsynced with its directory. On any refusal or error nothing is left in `dest_dir`.

    With `move`, an accepted PDF is renamed into place rather than copied (`src` must then be a
    temporary file of ours on the same file system, e.g. what `stream.receive_upload` received),
    and `sha256`, when given, is trusted as the digest of `src`: a 5 MiB upload is then written
    once and never read back whole.
    """
    limits = limits or UploadLimits()
    display, named_kind = check_name(original_name)
    _check_size(src, display, limits)
    kind = _check_content(src, display, named_kind)
    if named_kind is None:
        display = safe_display_name(display + kind.extension)
    if kind is PDF:
        return _keep_pdf(src, dest_dir, display, limits, move=move, sha256=sha256)
    return store(dest_dir, kind, display, reencode_image(src, kind, display, limits))


def _check_size(src: Path, display: str, limits: UploadLimits) -> None:
    """Refuse an empty file or one over the limit, before reading any of it."""
    size = src.stat().st_size
    if size == 0:
        raise UploadRejected(
            "empty", f"Le fichier « {display} » est vide (0 octet) : vérifiez-le et déposez-le de nouveau."
        )
    if size > limits.max_file_bytes:
        raise UploadRejected(
            "too_large",
            f"Le fichier « {display} » dépasse la taille maximale de {size_fr(limits.max_file_bytes)} : "
            "réduisez-le (par exemple en le numérisant en 150 ou 200 ppp) et déposez-le de nouveau.",
            status=413,
        )


def _check_content(src: Path, display: str, named_kind: Kind | None) -> Kind:
    """The kind the magic bytes of `src` announce, which must be the one its name announces.

    Refused with a message that says what to do: content in no accepted format, or a name that
    contradicts the content (the fix is a new name, which the message gives)."""
    with src.open("rb") as f:
        head = f.read(16)
    kind = kind_of_content(head)
    if kind is None:
        what = (
            f"n'est pas {named_kind.label} valide : son contenu ne correspond à"
            if named_kind
            else "n'est dans"
        )
        raise UploadRejected(
            "unknown_content",
            f"Le fichier « {display} » {what} aucun des formats acceptés. Déposez {ACCEPTED}.",
            status=415,
        )
    if named_kind is not None and named_kind is not kind:
        stem, _ = split_extension(display)
        raise UploadRejected(
            "type_mismatch",
            f"Le nom « {display} » annonce {named_kind.label}, mais le fichier contient {kind.label} : "
            f"renommez-le « {stem}{kind.extension} » puis déposez-le de nouveau.",
            status=415,
        )
    return kind


def _keep_pdf(
    src: Path, dest_dir: Path, display: str, limits: UploadLimits, *, move: bool, sha256: str | None
) -> StoredFile:
    """Check the PDF, then store it as sent: adopted (renamed) with `move`, else copied."""
    with src.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        check_pdf(f, data, display, limits)  # mapped, not copied into memory
    if move:
        return adopt(src, dest_dir, PDF, display, sha256)
    return store_copy(src, dest_dir, PDF, display)
