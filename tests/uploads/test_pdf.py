"""PDFs: kept as sent when clean, refused when malformed, encrypted, active or carrying something."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from pypdf import PdfReader
from pypdf.actions import JavaScript, PageTrigger

from formservice.uploads import UploadLimits

from .corpus import one_page, pdf_bytes, raw_pdf, zip_bytes
from .helpers import accept, refuse


def test_valid_pdf_is_stored_as_sent(put, dest):
    """A clean PDF is kept byte for byte (re-writing it would break signatures)."""
    original = pdf_bytes(pages=3)
    stored, data = accept(put, dest, original, "Relevé de notes.pdf")
    assert data == original
    assert stored.media_type == "application/pdf"
    assert stored.display_name == "Relevé de notes.pdf"
    assert len(PdfReader(io.BytesIO(data)).pages) == 3


def test_hand_written_pdf_with_object_stream_is_accepted(put, dest):
    """The hand-made builder (corpus.raw_pdf) writes valid PDFs, so the refusals that use it are about
    content."""
    data = raw_pdf(one_page(), compressed=frozenset({2, 3}))
    accept(put, dest, data, "ok.pdf")


def test_links_and_an_open_view_are_not_refused(put, dest):
    """Ordinary interactivity (a web link, 'open at page 1, fit') is not a script."""
    link = (
        b"/Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://ac.fr) >> >>]"
    )
    accept(put, dest, raw_pdf(one_page(b"/OpenAction [3 0 R /Fit]", link)), "liens.pdf")


JS_ACTION = b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"

ACTIVE_PDFS = {
    "names-tree-javascript": (
        lambda: pdf_bytes(build=lambda w: w.add_open_action(JavaScript("x"))),
        "pdf_javascript",
    ),
    "open-action-javascript": (
        lambda: raw_pdf(one_page(b"/OpenAction 4 0 R", more={4: JS_ACTION})),
        "pdf_javascript",
    ),
    "page-additional-action": (
        lambda: pdf_bytes(build=lambda w: w.pages[0].add_action(PageTrigger.OPEN, JavaScript("x"))),
        "pdf_javascript",
    ),
    "javascript-in-object-stream": (
        lambda: raw_pdf(one_page(b"/OpenAction 4 0 R", more={4: JS_ACTION}), compressed=frozenset({4})),
        "pdf_javascript",
    ),
    "javascript-with-escaped-names": (
        lambda: raw_pdf(one_page(b"/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>")),
        "pdf_javascript",
    ),
    "xfa-form": (
        lambda: raw_pdf(one_page(b"/AcroForm << /Fields [] /XFA 4 0 R >>", more={4: b"[]"})),
        "pdf_javascript",
    ),
    "launch-action": (
        lambda: raw_pdf(one_page(b"/OpenAction << /S /Launch /F (calc.exe) >>")),
        "pdf_launch",
    ),
    "embedded-files": (
        lambda: pdf_bytes(build=lambda w: w.add_attachment("a.exe", b"MZ")),
        "pdf_embedded_file",
    ),
    "file-attachment-annotation": (
        lambda: raw_pdf(
            one_page(
                page_extra=b"/Annots [<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] "
                b"/FS << /Type /Filespec /F (a.exe) >> >>]"
            )
        ),
        "pdf_embedded_file",
    ),
}


@pytest.mark.parametrize(("make", "reason"), list(ACTIVE_PDFS.values()), ids=list(ACTIVE_PDFS))
def test_active_pdfs_are_refused(put, dest, make, reason):
    """JavaScript wherever it hides (name tree, OpenAction, page /AA, compressed object, #-escaped
    names, XFA), launch actions and embedded files are refused."""
    rejected = refuse(put, dest, make(), "document.pdf")
    assert rejected.reason == reason
    assert "« document.pdf »" in rejected.message


def test_hidden_javascript_cases_are_invisible_to_a_byte_search():
    """The compressed and #-escaped cases above, refused, would pass a search in the raw bytes."""
    hidden = ACTIVE_PDFS["javascript-in-object-stream"][0]()
    escaped = ACTIVE_PDFS["javascript-with-escaped-names"][0]()
    for data in (hidden, escaped):
        assert b"/JavaScript" not in data and b"/JS" not in data


def test_pdf_encrypted_with_an_empty_user_password_is_refused(put, dest):
    """'Protected' PDFs that open without a password (permissions only) are still encrypted."""
    data = pdf_bytes(build=lambda w: w.encrypt(user_password="", owner_password="owner", algorithm="RC4-128"))
    assert refuse(put, dest, data, "releve.pdf").reason == "pdf_encrypted"


def test_zip_hidden_in_a_fake_pdf_ending_is_refused(put, dest):
    """A ZIP whose comment ends with '%%EOF' passes the 'nothing after %%EOF' test; the ZIP
    directory near the end gives it away."""
    archive = bytearray(zip_bytes())
    comment = b"\n%%EOF\n"
    archive[-2:] = struct.pack("<H", len(comment))
    data = pdf_bytes() + bytes(archive) + comment
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["payload.php"]
    assert refuse(put, dest, data, "diplome.pdf").reason == "pdf_trailing_data"


def test_trailing_whitespace_after_eof_is_accepted(put, dest):
    """Some generators end with blank lines or NUL padding: that is not appended data."""
    accept(put, dest, pdf_bytes() + b"\r\n\n  \x00\x00", "scan.pdf")


@pytest.mark.parametrize(
    "make",
    [
        lambda: pdf_bytes()[:-40],  # cut before %%EOF
        lambda: pdf_bytes().replace(b"startxref\n", b"startxref\n9"),  # points nowhere
        lambda: b"%PDF-1.7\n" + b"garbage " * 50 + b"\n%%EOF\n",
        lambda: raw_pdf(
            {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [] /Count 0 >>"}
        ),
    ],
    ids=["truncated", "bad-startxref", "garbage", "no-pages"],
)
def test_malformed_pdfs_are_refused(put, dest, make):
    """A PDF that pypdf cannot parse strictly, or without pages, is refused as damaged."""
    rejected = refuse(put, dest, make(), "scan.pdf")
    assert rejected.reason == "pdf_invalid"
    assert "endommagé ou mal formé" in rejected.message


def test_too_many_pages_is_refused(put, dest):
    """The page bound protects the inspection's time; the message gives both numbers."""
    rejected = refuse(put, dest, pdf_bytes(pages=4), "livre.pdf", UploadLimits(max_pdf_pages=3))
    assert rejected.reason == "pdf_too_many_pages"
    assert "compte 4 pages ; le maximum est 3" in rejected.message
