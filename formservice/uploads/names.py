"""The names of uploads and the three kinds of file we accept.

A name is the sender's word: it is cleaned before it is shown or put in a header
(`safe_display_name`), and refused when it carries a path, an extension we do not accept or a
dangerous inner one (`check_name`). Which kind the file really is, the content decides
(`kind_of_content`); the name only has to agree with it (see `inspect`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from formservice.uploads.types import UploadRejected

__all__ = [
    "ACCEPTED",
    "DANGEROUS_EXTENSIONS",
    "EXTENSIONS",
    "FALLBACK_NAME",
    "JPEG",
    "KINDS",
    "MAX_NAME_CHARS",
    "PDF",
    "PNG",
    "Kind",
    "check_name",
    "kind_of_content",
    "safe_display_name",
    "split_extension",
]

MAX_NAME_CHARS = 120
FALLBACK_NAME = "document"


@dataclass(frozen=True)
class Kind:
    """One accepted format: how the candidate reads it, how it is served and recognised."""

    key: str
    label: str  # as in "ce fichier contient {label}"
    media_type: str
    extension: str  # canonical, used for stored names and names sent without one
    magic: bytes


PDF = Kind("pdf", "un document PDF", "application/pdf", ".pdf", b"%PDF-")
JPEG = Kind("jpeg", "une image JPEG", "image/jpeg", ".jpg", b"\xff\xd8\xff")
PNG = Kind("png", "une image PNG", "image/png", ".png", b"\x89PNG\r\n\x1a\n")
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


def safe_display_name(name: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """The original name reduced to something safe to show and to put in a download header:
    base name only, no control, bidi or invisible characters, NFC, bounded length."""
    text = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    text = unicodedata.normalize("NFC", text)
    text = re.split(r"[/\\]", text)[-1]
    text = _SPACES.sub(" ", text).strip(" .")
    if len(text) > max_chars:
        stem, ext = split_extension(text)
        if len(ext) >= max_chars // 2:
            stem, ext = text, ""
        text = stem[: max_chars - len(ext) - 1].rstrip(" .") + "…" + ext
    return text or FALLBACK_NAME


def split_extension(name: str) -> tuple[str, str]:
    """('scan', '.pdf'); a name such as 'scan 12.03.2024' has no extension, only digits."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or ext.isdigit() or " " in ext:
        return name, ""
    return stem, "." + ext


def check_name(original_name: str) -> tuple[str, Kind | None]:
    """The display name and the format its extension announces (None: no extension).

    Refused (UploadRejected): a path (a browser never sends one, so it is an attack or a bug),
    a dangerous inner extension, an extension of a format we do not accept."""
    if "/" in original_name or "\\" in original_name:
        raise UploadRejected(
            "path_in_name",
            "Le nom du fichier contient un chemin de dossiers (« / » ou « \\ »), ce qu'un navigateur "
            "n'envoie jamais : renommez le fichier puis déposez-le de nouveau.",
            status=400,
        )
    display = safe_display_name(original_name)
    stem, ext = split_extension(display)
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


def kind_of_content(head: bytes) -> Kind | None:
    """The kind whose magic bytes start `head` (the first 16 bytes of the file), if any."""
    return next((k for k in KINDS if head.startswith(k.magic)), None)
