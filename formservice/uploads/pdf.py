"""PDF uploads: kept as sent (rewriting would break their signatures), so they are parsed first
and refused when malformed, encrypted, active (JavaScript, launch, automatic or outgoing actions)
or carrying something (embedded files, bytes appended after the end).

Actions (ISO 32000, 12.6): what runs by itself (the catalogue's /OpenAction, the /AA "additional
actions" of the document, a page, an annotation or a form field, and whatever their /Next chains
lead to) may only move inside the document: a bare destination or /GoTo. Wherever an action is
reachable, it must be a /GoTo, one of the four page-turning /Named actions, or, on a click only
(/A of a link, a bookmark), a /URI towards an http(s) or mailto address: web links are ordinary in
an attestation or a CV, and a viewer asks before following one. Every other type (/SubmitForm,
/ImportData, /GoToR to a UNC path, /Launch, /JavaScript, /Rendition, /Hide, /SetOCGState...) and
every other URI scheme (file:, a bare `\\\\host\\share`, javascript:) is refused.

Names are compared decoded (pypdf reads `/J#61vaScript` as `/JavaScript`); the raw bytes are also
searched, names decoded, for action types that are never accepted, so that an object the parse
does not reach (referenced by nothing, or left out of the cross-reference table: a viewer repairing
the file would still find it) is refused too, as is one in a file the parse cannot read.
"""

from __future__ import annotations

import mmap
import re
from typing import BinaryIO

from pypdf import PdfReader, apply_configuration
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    PdfObject,
    TextStringObject,
)

from formservice.uploads.types import UploadLimits, UploadRejected, int_fr

_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
_ZIP_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP_SEARCH_WINDOW = 22 + 0xFFFF  # a ZIP reader looks for its directory this far from the end

# Every action type of ISO 32000-2 (12.6.4.1), and the few that are accepted. A dictionary whose
# /S is one of these (or that says /Type /Action) is an action, wherever it is found.
ACTION_TYPES = frozenset(
    {
        *("/GoTo", "/GoToR", "/GoToE", "/GoToDp", "/Launch", "/Thread", "/URI", "/Sound", "/Movie"),
        *("/Hide", "/Named", "/SubmitForm", "/ResetForm", "/ImportData", "/JavaScript", "/SetOCGState"),
        *("/Rendition", "/Trans", "/GoTo3DView", "/RichMediaExecute"),
    }
)
ACCEPTED_ACTIONS = frozenset({"/GoTo", "/Named", "/URI"})
AUTOMATIC_ACTIONS = frozenset({"/GoTo"})  # what may run without a click: a move inside the document
PAGE_TURNS = frozenset({"/NextPage", "/PrevPage", "/FirstPage", "/LastPage"})  # the /Named accepted
LINK_SCHEMES = ("http://", "https://", "mailto:")
_MAX_CHAIN = 1_000  # actions followed through /Next from one trigger

# The raw-bytes search: `/S` then a name of 4 characters or more (/Hide is the shortest refused),
# each possibly #-escaped, with blanks between. Comments are not skipped: a pattern that skips
# them can be made to backtrack over the whole file; this one is linear.
_PDF_BLANK = rb"[\x00\t\n\x0c\r ]*+"
_NAME_CHARS = rb"(?:[^\x00\t\n\x0c\r ()<>\[\]{}/%#]|#[0-9A-Fa-f]{2})"
_RAW_ACTION = re.compile(rb"/(?:S|#53)" + _PDF_BLANK + rb"/(" + _NAME_CHARS + rb"{4,64})")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_NEVER_ACCEPTED_RAW = frozenset(name[1:].encode("ascii") for name in ACTION_TYPES - ACCEPTED_ACTIONS)


def check_pdf(f: BinaryIO, data: mmap.mmap, display: str, limits: UploadLimits) -> None:
    """Refuse a PDF that is malformed, encrypted, active (JavaScript, launch, automatic actions,
    outgoing actions: see the module's docstring) or a carrier (embedded files, bytes appended
    after the end)."""
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
    _scan_raw_names(data, display)
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
    if keys & {"/JS", "/JavaScript", "/XFA"}:
        raise _script(display)
    if "/Launch" in keys:  # the platform-specific launch parameters (/Win, /Mac, /Unix)
        raise _launch(display)
    if (
        keys & {"/EmbeddedFiles", "/EF", "/RichMedia"}
        or _pdf_name(d, "/Type") == "/EmbeddedFile"
        or _pdf_name(d, "/Subtype") in ("/FileAttachment", "/RichMedia")
    ):
        raise _embedded(display)
    if action is not None and (action in ACTION_TYPES or _pdf_name(d, "/Type") == "/Action"):
        _check_action(d, action, display)
    if "/OpenAction" in keys:
        _check_automatic(d.raw_get("/OpenAction"), display)
    triggers = d.get("/AA")  # additional actions: the document's, a page's, an annotation's, a field's
    if isinstance(triggers, DictionaryObject):
        for trigger in triggers:
            _check_automatic(triggers.raw_get(trigger), display)
    elif triggers is not None and not isinstance(triggers, NullObject):
        raise _action(display)


def _check_action(d: DictionaryObject, action: str, display: str) -> None:
    """One action, wherever it is: a move inside the document, a page turn, or a web link."""
    if action not in ACCEPTED_ACTIONS:
        raise _refusal_for(action, display)
    if action == "/GoTo" and "/F" in d:  # a file to open: a /GoToR in disguise
        raise _action(display)
    if action == "/Named" and _pdf_name(d, "/N") not in PAGE_TURNS:  # menu items: print, save...
        raise _action(display)
    if action == "/URI" and not _is_web_link(d.get("/URI")):
        raise _action(display)


def _is_web_link(uri: object) -> bool:
    """An absolute http(s) or mailto address, read as a browser would (blanks and controls are
    dropped): no file:, no UNC path (`\\\\host\\share`), no javascript:, no relative one."""
    if isinstance(uri, ByteStringObject):
        text = bytes(uri).decode("latin-1")
    elif isinstance(uri, TextStringObject):
        text = str(uri)
    else:
        return False
    text = re.sub(r"[\x00-\x20\x7f]", "", text).lower()
    return text.startswith(LINK_SCHEMES)


def _check_automatic(value: PdfObject | None, display: str) -> None:
    """What runs without a click (an /OpenAction, one trigger of an /AA): a bare destination, or
    a chain of /GoTo actions (/Next included)."""
    if isinstance(value, IndirectObject):
        value = value.get_object()
    if isinstance(value, ArrayObject | NameObject | TextStringObject | ByteStringObject | NullObject):
        return  # a destination: [page /Fit], [page /XYZ x y zoom], or the name of one
    pending: list[PdfObject | None] = [value]
    steps = 0
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            item = item.get_object()
        steps += 1
        if steps > _MAX_CHAIN:
            raise _action(display)
        if not isinstance(item, DictionaryObject):
            raise _action(display)
        action = _pdf_name(item, "/S")
        if action not in AUTOMATIC_ACTIONS:
            raise _refusal_for(action, display)
        following = item.get("/Next")
        if isinstance(following, ArrayObject):
            pending.extend(list.__iter__(following))
        elif following is not None and not isinstance(following, NullObject):
            pending.append(following)


def _scan_raw_names(data: mmap.mmap, display: str) -> None:
    """Refuse, from the bytes alone, an action type that is never accepted (`/S /Launch`,
    `/#53 /#4Aava#53cript`), wherever it is written, even in an object that pypdf does not reach.
    Names are decoded first; compressed objects are left to the parse. Only the `/S /Type` pair is
    searched: a lone short name such as `/JS` turns up by chance in compressed data, this pair not."""
    for match in _RAW_ACTION.finditer(data):
        raw = match.group(1)
        if b"#" in raw:
            raw = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
        if raw in _NEVER_ACCEPTED_RAW:
            raise _refusal_for("/" + raw.decode("ascii"), display)


def _refusal_for(action: str | None, display: str) -> UploadRejected:
    """The refusal that says what the action does, for those a candidate may recognise."""
    if action == "/JavaScript":
        return _script(display)
    if action == "/Launch":
        return _launch(display)
    if action == "/GoToE":
        return _embedded(display)
    return _action(display)


def _script(display: str) -> UploadRejected:
    return UploadRejected(
        "pdf_javascript",
        f"Le PDF « {display} » contient des scripts (JavaScript ou actions automatiques), qu'on ne "
        "peut pas accepter. C'est souvent le cas d'un formulaire à remplir : une fois rempli, "
        "enregistrez-le avec « Imprimer », puis « Enregistrer au format PDF », et déposez cette version.",
    )


def _launch(display: str) -> UploadRejected:
    return UploadRejected(
        "pdf_launch",
        f"Le PDF « {display} » contient une commande qui lance un programme, ce qu'on ne peut pas "
        "accepter : enregistrez-le de nouveau (« Imprimer », puis « Enregistrer au format PDF ») "
        "et déposez cette version.",
    )


def _embedded(display: str) -> UploadRejected:
    return UploadRejected(
        "pdf_embedded_file",
        f"Le PDF « {display} » contient des fichiers joints, qu'on ne peut pas accepter : déposez "
        "chaque pièce séparément, en PDF, JPEG ou PNG.",
    )


def _action(display: str) -> UploadRejected:
    return UploadRejected(
        "pdf_action",
        f"Le PDF « {display} » contient des actions automatiques (ouverture d'un lien, envoi de "
        "données…) qui ne sont pas acceptées. Imprimez-le en PDF (« Microsoft Print to PDF », "
        "« Enregistrer au format PDF ») ou numérisez-le, puis déposez le nouveau fichier.",
    )
