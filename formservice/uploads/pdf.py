"""PDF uploads: kept as sent (rewriting would break their signatures), so they are parsed first
and refused when malformed, encrypted, active (JavaScript, launch and additional actions) or
carrying something (embedded files, bytes appended after the end)."""

from __future__ import annotations

import mmap
from typing import BinaryIO

from pypdf import PdfReader, apply_configuration
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from formservice.uploads.types import UploadLimits, UploadRejected, int_fr

_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
_ZIP_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP_SEARCH_WINDOW = 22 + 0xFFFF  # a ZIP reader looks for its directory this far from the end


def check_pdf(f: BinaryIO, data: mmap.mmap, display: str, limits: UploadLimits) -> None:
    """Refuse a PDF that is malformed, encrypted, active (JavaScript, launch, additional actions)
    or a carrier (embedded files, bytes appended after the end)."""
    end = data.rfind(b"%%EOF")
    zip_end = data.find(_ZIP_END_OF_DIRECTORY, max(0, len(data) - _ZIP_SEARCH_WINDOW))
    if end >= 0 and (data[end + 5 :].strip(_PDF_WHITESPACE) or zip_end >= 0):
        raise UploadRejected(
            "pdf_trailing_data",
            f"Le PDF « {display} » contient des données ajoutées après sa fin (par exemple une archive) : "
            "enregistrez-le de nouveau en PDF (menu « Imprimer », puis « Enregistrer au format PDF ») "
            "et déposez cette nouvelle version.",
        )
    malformed = UploadRejected(
        "pdf_invalid",
        f"Le PDF « {display} » est endommagé ou mal formé et ne peut pas être lu : enregistrez-le de "
        "nouveau (menu « Imprimer », puis « Enregistrer au format PDF ») et déposez cette nouvelle version.",
    )
    if end < 0:
        raise malformed
    try:
        # No external decoder is ever run on an upload, whatever the stream claims to be.
        with apply_configuration(jbig2dec_binary=None):
            f.seek(0)
            reader = PdfReader(f, strict=True)
            if reader.is_encrypted:
                raise UploadRejected(
                    "pdf_encrypted",
                    f"Le PDF « {display} » est protégé (mot de passe ou chiffrement) : enregistrez-en une "
                    "version sans protection (menu « Imprimer », puis « Enregistrer au format PDF ») "
                    "et déposez-la.",
                )
            pages = len(reader.pages)
            if pages == 0:
                raise malformed
            if pages > limits.max_pdf_pages:
                raise UploadRejected(
                    "pdf_too_many_pages",
                    f"Le PDF « {display} » compte {int_fr(pages)} pages ; le maximum est "
                    f"{int_fr(limits.max_pdf_pages)} : ne déposez que les pages demandées.",
                )
            _scan_pdf_objects(reader.trailer, display, limits)
    except UploadRejected:
        raise
    except Exception as exc:  # pypdf raises many types on hostile input; all mean "unreadable"
        raise malformed from exc


def _scan_pdf_objects(root: DictionaryObject, display: str, limits: UploadLimits) -> None:
    """Visit every object reachable from the trailer (what a viewer can reach), including those
    inside compressed object streams, where a byte search would see nothing."""
    stack: list[PdfObject | None] = [root]
    seen: set[tuple[int, int]] = set()
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > limits.max_pdf_objects:
                raise ValueError("too many objects")
            stack.append(obj.get_object())
        elif isinstance(obj, DictionaryObject):  # stream objects included
            _check_pdf_dictionary(obj, display)
            stack.extend(obj.raw_get(key) for key in obj)
        elif isinstance(obj, ArrayObject):
            stack.extend(list.__iter__(obj))


def _pdf_name(d: DictionaryObject, key: str) -> str | None:
    """The name stored under `key`, decoded ('/J#61vaScript' is '/JavaScript'), or None when the
    value is not a name: comparing raw bytes would let an escaped name through."""
    value = d.get(key)
    return str(value) if isinstance(value, NameObject) else None


def _check_pdf_dictionary(d: DictionaryObject, display: str) -> None:
    """Refuse one dictionary (or stream) that runs something or carries a file; each refusal says
    how to get a clean version, since most come from ordinary tools, not attacks."""
    keys = set(d.keys())
    action = _pdf_name(d, "/S")
    if keys & {"/JS", "/JavaScript", "/AA", "/XFA"} or action == "/JavaScript":
        raise UploadRejected(
            "pdf_javascript",
            f"Le PDF « {display} » contient des scripts (JavaScript ou actions automatiques), qu'on ne "
            "peut pas accepter. C'est souvent le cas d'un formulaire à remplir : une fois rempli, "
            "enregistrez-le avec « Imprimer », puis « Enregistrer au format PDF », et déposez cette version.",
        )
    if action == "/Launch" or "/Launch" in keys:
        raise UploadRejected(
            "pdf_launch",
            f"Le PDF « {display} » contient une commande qui lance un programme, ce qu'on ne peut pas "
            "accepter : enregistrez-le de nouveau (« Imprimer », puis « Enregistrer au format PDF ») "
            "et déposez cette version.",
        )
    if (
        keys & {"/EmbeddedFiles", "/EF", "/RichMedia"}
        or _pdf_name(d, "/Type") == "/EmbeddedFile"
        or _pdf_name(d, "/Subtype") in ("/FileAttachment", "/RichMedia")
        or action == "/GoToE"
    ):
        raise UploadRejected(
            "pdf_embedded_file",
            f"Le PDF « {display} » contient des fichiers joints, qu'on ne peut pas accepter : déposez "
            "chaque pièce séparément, en PDF, JPEG ou PNG.",
        )
