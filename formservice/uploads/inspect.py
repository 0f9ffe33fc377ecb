"""What a supporting document may contain, decided by its bytes.

The name and the declared type of an upload are the sender's word; only the content counts. A file
is accepted when its magic bytes, a full parse and the extension of its name agree on one of three
formats (PDF, JPEG, PNG). Images are decoded and re-encoded, so that what we keep holds pixels and
nothing else (no EXIF position, nothing appended). PDFs cannot be rewritten without breaking their
signatures, so they are kept as sent, but only after a parse that refuses anything active.

Pure: no web framework here. The caller streams the upload to a temporary file (see
`upload_stream`), then calls `inspect_and_normalise` in a worker thread, since decoding is CPU work.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFile, ImageOps

from formservice.uploads.pdf import check_pdf
from formservice.uploads.types import MIB, StoredFile, UploadLimits, UploadRejected, int_fr, size_fr

__all__ = [
    "MIB",
    "StoredFile",
    "UploadLimits",
    "UploadRejected",
    "inspect_and_normalise",
    "remove_stored",
    "safe_display_name",
    "size_fr",
]

MAX_NAME_CHARS = 120
FALLBACK_NAME = "document"


@dataclass(frozen=True)
class _Kind:
    key: str
    label: str  # as in "ce fichier contient {label}"
    media_type: str
    extension: str  # canonical, used for stored names and names sent without one
    magic: bytes


PDF = _Kind("pdf", "un document PDF", "application/pdf", ".pdf", b"%PDF-")
JPEG = _Kind("jpeg", "une image JPEG", "image/jpeg", ".jpg", b"\xff\xd8\xff")
PNG = _Kind("png", "une image PNG", "image/png", ".png", b"\x89PNG\r\n\x1a\n")
KINDS = (PDF, JPEG, PNG)
EXTENSIONS = {".pdf": PDF, ".jpg": JPEG, ".jpeg": JPEG, ".jpe": JPEG, ".jfif": JPEG, ".png": PNG}
ACCEPTED = "un PDF, une image JPEG ou une image PNG"

# Inner extensions that some web servers execute or browsers render: `cv.php.png` is refused
# rather than silently renamed, so that the candidate sees what happened to their file.
DANGEROUS_EXTENSIONS = frozenset(
    {
        *("php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phar", "phps"),
        *("asp", "aspx", "ashx", "asmx", "jsp", "jspx", "cgi", "pl", "py", "rb", "sh", "bash"),
        *("exe", "dll", "com", "bat", "cmd", "scr", "pif", "msi", "vbs", "vbe", "js", "jse", "mjs"),
        *("wsf", "wsh", "hta", "ps1", "psm1", "jar", "html", "htm", "xhtml", "shtml", "svg", "swf"),
        *("lnk", "reg"),
    }
)

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SPACES = re.compile(r"\s+")


# ---------------------------------------------------------------------------------------
# Names


def safe_display_name(name: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """The original name reduced to something safe to show and to put in a download header:
    base name only, no control, bidi or invisible characters, NFC, bounded length."""
    text = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    text = unicodedata.normalize("NFC", text)
    text = re.split(r"[/\\]", text)[-1]
    text = _SPACES.sub(" ", text).strip(" .")
    if len(text) > max_chars:
        stem, ext = _split_extension(text)
        if len(ext) >= max_chars // 2:
            stem, ext = text, ""
        text = stem[: max_chars - len(ext) - 1].rstrip(" .") + "…" + ext
    return text or FALLBACK_NAME


def _split_extension(name: str) -> tuple[str, str]:
    """('scan', '.pdf'); a name such as 'scan 12.03.2024' has no extension, only digits."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or ext.isdigit() or " " in ext:
        return name, ""
    return stem, "." + ext


def _check_name(original_name: str) -> tuple[str, _Kind | None]:
    """The display name and the format its extension announces (None: no extension)."""
    if "/" in original_name or "\\" in original_name:
        raise UploadRejected(
            "path_in_name",
            "Le nom du fichier contient un chemin de dossiers (« / » ou « \\ »), ce qu'un navigateur "
            "n'envoie jamais : renommez le fichier puis déposez-le de nouveau.",
            status=400,
        )
    display = safe_display_name(original_name)
    stem, ext = _split_extension(display)
    inner = [part for part in stem.casefold().split(".")[1:] if part in DANGEROUS_EXTENSIONS]
    if inner:
        raise UploadRejected(
            "double_extension",
            f"Le nom « {display} » contient une double extension (.{inner[-1]}), qu'on ne peut pas "
            f"accepter : renommez le fichier, par exemple « {stem.split('.')[0]}{ext.lower()} », "
            "puis déposez-le de nouveau.",
            status=415,
        )
    if not ext:
        return display, None
    kind = EXTENSIONS.get(ext.lower())
    if kind is None:
        raise UploadRejected(
            "extension_not_allowed",
            f"Les fichiers « {ext.lower()} » ne sont pas acceptés : déposez {ACCEPTED}.",
            status=415,
        )
    return display, kind


# ---------------------------------------------------------------------------------------
# Inspection


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
    temporary file of ours on the same file system, e.g. what `upload_stream` received), and
    `sha256`, when given, is trusted as the digest of `src`: a 5 MiB upload is then written once
    and never read back whole.
    """
    limits = limits or UploadLimits()
    display, named_kind = _check_name(original_name)

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
    with src.open("rb") as f:
        head = f.read(16)
    kind = next((k for k in KINDS if head.startswith(k.magic)), None)
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
        stem, _ = _split_extension(display)
        raise UploadRejected(
            "type_mismatch",
            f"Le nom « {display} » annonce {named_kind.label}, mais le fichier contient {kind.label} : "
            f"renommez-le « {stem}{kind.extension} » puis déposez-le de nouveau.",
            status=415,
        )
    if named_kind is None:
        display = safe_display_name(display + kind.extension)

    if kind is PDF:
        with src.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            check_pdf(f, data, display, limits)  # mapped, not copied into memory
        if move:
            return _adopt(src, dest_dir, kind, display, sha256)
        return _store(dest_dir, kind, display, lambda out: _copy(src, out))
    writer = _reencode_image(src, kind, display, limits)
    return _store(dest_dir, kind, display, writer)


# ---------------------------------------------------------------------------------------
# Images


def _reencode_image(src: Path, kind: _Kind, display: str, limits: UploadLimits) -> Callable[[BinaryIO], None]:
    """Decode fully (bounded by `max_pixels`, checked from the header before any pixel is
    allocated) and return the function that writes the clean re-encoded image."""
    invalid = UploadRejected(
        "image_invalid",
        f"L'image « {display} » est endommagée ou incomplète et ne peut pas être lue : "
        "enregistrez-la de nouveau depuis votre téléphone ou votre ordinateur, puis déposez-la.",
    )
    max_mpx = int_fr(limits.max_pixels // 1_000_000)
    pil_format = kind.key.upper()
    # A process-wide Pillow switch that some libraries turn on at import (WeasyPrint does): with
    # it, a truncated image decodes "successfully" with grey padding. Never for an upload.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(src, formats=[pil_format]) as im:
            width, height = im.size
            if width * height > limits.max_pixels:
                raise UploadRejected(
                    "image_too_big",
                    f"L'image « {display} » est trop grande ({int_fr(width)} × {int_fr(height)} "
                    f"pixels ; maximum {max_mpx} millions de pixels) : réduisez sa définition et "
                    "déposez-la de nouveau.",
                )
            im.load()
            quantization = getattr(im, "quantization", None)
            ImageOps.exif_transpose(im, in_place=True)  # EXIF is dropped below: keep the photo upright
            clean = _normalise_mode(im, kind)
            transparency = clean.info.get("transparency") if kind is PNG else None
            clean.info = {}  # EXIF, ICC, comments, text chunks: none of it is written back
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(
            "image_too_big",
            f"L'image « {display} » est trop grande (plus de {max_mpx} millions de pixels) : "
            "réduisez sa définition et déposez-la de nouveau.",
        ) from None
    except Exception as exc:  # Pillow raises many types on hostile input; all mean "unreadable"
        raise invalid from exc

    def write(f: BinaryIO) -> None:
        if kind is JPEG:
            if _baseline_tables(quantization):
                # The sender's own tables keep about the quality and the size that were sent.
                clean.save(f, "JPEG", qtables=quantization)
            else:
                clean.save(f, "JPEG", quality=90)
        elif transparency is not None:
            clean.save(f, "PNG", transparency=transparency)
        else:
            clean.save(f, "PNG")

    return write


def _baseline_tables(quantization: object) -> bool:
    """Tables a baseline encoder can reuse as is: one or two, 8-bit values (12-bit JPEGs have more)."""
    if not isinstance(quantization, dict) or not 1 <= len(quantization) <= 2:
        return False
    return all(1 <= value <= 255 for table in quantization.values() for value in table)


def _normalise_mode(im: Image.Image, kind: _Kind) -> Image.Image:
    """Modes each format stores as is; anything else (CMYK, 32-bit...) becomes RGB(A)."""
    keep = ("L", "RGB") if kind is JPEG else ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
    if im.mode in keep:
        return im
    has_alpha = kind is PNG and (im.mode.endswith("A") or "transparency" in im.info)
    return im.convert("RGBA" if has_alpha else "RGB")


# ---------------------------------------------------------------------------------------
# Storage


def _store(dest_dir: Path, kind: _Kind, display: str, write: Callable[[BinaryIO], object]) -> StoredFile:
    """Write under a temporary name, fsync, rename to a random name, fsync the directory: after
    this returns, the file survives a crash, so a record may point to it."""
    token = secrets.token_urlsafe(24)
    tmp = dest_dir / f".{token}.part"
    final = dest_dir / f"{token}{kind.extension}"
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    renamed = False
    try:
        with os.fdopen(fd, "w+b") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            write(f)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            size = os.fstat(f.fileno()).st_size
        os.rename(tmp, final)
        renamed = True
        _fsync_dir(dest_dir)
    except BaseException:
        (final if renamed else tmp).unlink(missing_ok=True)
        raise
    return StoredFile(final.name, size, digest, kind.media_type, display)


def _copy(src: Path, out: BinaryIO) -> None:
    with src.open("rb") as f:
        shutil.copyfileobj(f, out, 1024 * 1024)


def _adopt(src: Path, dest_dir: Path, kind: _Kind, display: str, sha256: str | None) -> StoredFile:
    """Rename our temporary file into place (same bytes, one write less than a copy), then make
    both the file and its new name durable before anyone records it."""
    final = dest_dir / f"{secrets.token_urlsafe(24)}{kind.extension}"
    os.chmod(src, 0o600)
    try:
        os.rename(src, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return _store(dest_dir, kind, display, lambda out: _copy(src, out))
    try:
        fd = os.open(final, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
            if sha256 is None:
                with os.fdopen(os.dup(fd), "rb") as f:
                    sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        finally:
            os.close(fd)
        _fsync_dir(dest_dir)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return StoredFile(final.name, size, sha256, kind.media_type, display)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stored(dest_dir: Path, stored_name: str) -> None:
    """Remove a stored file (the candidate removed it, or its record could not be saved)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+\.(pdf|jpg|png)", stored_name):
        raise ValueError(f"not a stored name: {stored_name!r}")
    (dest_dir / stored_name).unlink(missing_ok=True)
    _fsync_dir(dest_dir)
